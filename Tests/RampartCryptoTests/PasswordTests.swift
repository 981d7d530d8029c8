import XCTest
@testable import RampartCrypto

final class PasswordTests: XCTestCase {
    func testPBKDF2RFC7914() throws {
        let cases: [(p: String, s: String, c: Int, dk: String)] = [
            ("passwd", "salt", 1,
             "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                + "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"),
            ("Password", "NaCl", 80000,
             "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
                + "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"),
        ]
        for c in cases {
            let dk = try PBKDF2.sha256(password: Array(c.p.utf8), salt: Array(c.s.utf8), iterations: c.c, length: 64)
            XCTAssertEqual(Hex.encode(dk), c.dk, "PBKDF2(\(c.p), \(c.s), \(c.c))")
        }
    }

    func testPBKDF2RejectsBadArguments() {
        let bad: [(Int, Int)] = [(0, 32), (-1, 32), (1, 0), (1, PBKDF2.maxLength + 1)]
        for (iterations, length) in bad {
            XCTAssertThrowsError(try PBKDF2.sha256(password: [1], salt: [2], iterations: iterations, length: length)) {
                XCTAssertEqual(($0 as? CryptoError)?.kind, .invalidArgument)
            }
        }
        XCTAssertNoThrow(try PBKDF2.sha256(password: [], salt: [], iterations: 1, length: 32))
    }

    func testMakeAndVerify() throws {
        let h = try PasswordHash.make(password: "correct horse", iterations: 1000)
        XCTAssertTrue(h.hasPrefix("$pbkdf2-sha256$i=1000$"), h)
        let parsed = try PasswordHash.parse(h)
        XCTAssertEqual(parsed.iterations, 1000)
        XCTAssertEqual(parsed.salt.count, 16)
        XCTAssertEqual(parsed.hash.count, 32)
        XCTAssertEqual(parsed.description, h)
        XCTAssertFalse(h.dropFirst("$pbkdf2-sha256$i=1000$".count).contains("="), "PHC base64 is unpadded")
        XCTAssertTrue(PasswordHash.verify(password: "correct horse", against: h))
        XCTAssertFalse(PasswordHash.verify(password: "correct horse ", against: h))
        XCTAssertFalse(PasswordHash.verify(password: "", against: h))
        XCTAssertNotEqual(try PasswordHash.make(password: "correct horse", iterations: 1000), h, "salt is random")
    }

    func testDefaultIterations() throws {
        let h = try PasswordHash.make(password: "tok")
        XCTAssertTrue(h.hasPrefix("$pbkdf2-sha256$i=600000$"))
        XCTAssertTrue(PasswordHash.verify(password: "tok", against: h))
    }

    func testVerifyKnownHash() throws {
        // Independent computation: PBKDF2-HMAC-SHA256("passwd", "salt", 1) from RFC 7914, first 32 bytes.
        let salt = Base64.encode(Array("saltsalt".utf8), padding: false)
        let dk = try PBKDF2.sha256(password: Array("passwd".utf8), salt: Array("saltsalt".utf8), iterations: 2, length: 32)
        let h = "$pbkdf2-sha256$i=2$\(salt)$\(Base64.encode(dk, padding: false))"
        XCTAssertTrue(PasswordHash.verify(password: "passwd", against: h))
        XCTAssertFalse(PasswordHash.verify(password: "passwe", against: h))
    }

    func testMalformedHashes() {
        let salt = Base64.encode([UInt8](repeating: 1, count: 16), padding: false)
        let hash = Base64.encode([UInt8](repeating: 2, count: 32), padding: false)
        let bad: [(String, String)] = [
            ("", "must start"),
            ("$pbkdf2-sha512$i=1$\(salt)$\(hash)", "must start"),
            ("$pbkdf2-sha256$i=1$\(salt)", "expected"),
            ("$pbkdf2-sha256$i=1$\(salt)$\(hash)$x", "expected"),
            ("$pbkdf2-sha256$1000$\(salt)$\(hash)", "i=N"),
            ("$pbkdf2-sha256$i=$\(salt)$\(hash)", "decimal"),
            ("$pbkdf2-sha256$i=-5$\(salt)$\(hash)", "decimal"),
            ("$pbkdf2-sha256$i=0x10$\(salt)$\(hash)", "decimal"),
            ("$pbkdf2-sha256$i=0100$\(salt)$\(hash)", "decimal"),
            ("$pbkdf2-sha256$i=0$\(salt)$\(hash)", "out of range"),
            ("$pbkdf2-sha256$i=10000001$\(salt)$\(hash)", "out of range"),
            ("$pbkdf2-sha256$i=99999999999999999999$\(salt)$\(hash)", "decimal"),
            ("$pbkdf2-sha256$i=1000$\(salt)==$\(hash)", "salt"),
            ("$pbkdf2-sha256$i=1000$!!!!$\(hash)", "salt"),
            ("$pbkdf2-sha256$i=1000$AAAA$\(hash)", "salt must be"),
            ("$pbkdf2-sha256$i=1000$\(salt)$AAAA", "hash must be"),
            ("$pbkdf2-sha256$i=1000$\(salt)$\(hash)=", "hash is not"),
            ("$pbkdf2-sha256$i=1000$\(salt)$" + String(repeating: "A", count: 600), "longer"),
        ]
        for (text, why) in bad {
            XCTAssertThrowsError(try PasswordHash.parse(text), text) { error in
                guard let e = error as? CryptoError else { return XCTFail("not a CryptoError") }
                XCTAssertEqual(e.kind, .malformed, text)
                XCTAssertTrue(e.message.contains(why), "\(text): \(e.message)")
            }
            XCTAssertFalse(PasswordHash.verify(password: "x", against: text))
        }
        XCTAssertThrowsError(try PasswordHash.make(password: "x", iterations: 0))
        XCTAssertThrowsError(try PasswordHash.make(password: "x", iterations: PasswordHash.maxIterations + 1))
    }
}
