import XCTest
@testable import RampartCrypto

func hex(_ s: String) -> [UInt8] {
    // Test helper: vectors are literals, so a decode failure is a typo in the test.
    (try? Hex.decode(s.replacingOccurrences(of: " ", with: ""))) ?? []
}

final class PrimitivesTests: XCTestCase {
    func testSHA256KnownAnswers() {
        let cases: [(String, String)] = [
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ]
        for (input, expected) in cases {
            XCTAssertEqual(Hex.encode(SHA256.hash(input)), expected, "SHA-256(\(input))")
            XCTAssertEqual(SHA256.hash(Array(input.utf8)), SHA256.hash(input))
        }
    }

    /// One hasher's context reused across inputs of every length (a loop hashing one key after another):
    /// the FIPS vectors again and again in turns, and 200 random inputs against the one-shot path.
    func testReusedSHA256HasherGivesTheOneShotDigests() {
        let hasher = SHA256Hasher()
        func digest(_ bytes: [UInt8]) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: SHA256.byteCount)
            let input = bytes.isEmpty ? [0] : bytes
            input.withUnsafeBytes { i in out.withUnsafeMutableBufferPointer { o in
                if let base = i.baseAddress, let dst = o.baseAddress { hasher.hash(base, bytes.count, into: dst) }
            } }
            return out
        }
        for _ in 0..<3 {
            XCTAssertEqual(Hex.encode(digest(Array("abc".utf8))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
            XCTAssertEqual(Hex.encode(digest([])), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let input = (0..<Int.random(in: 0...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            XCTAssertEqual(digest(input), SHA256.hash(input))
        }
        let computed = digest(Array("abc".utf8))
        computed.withUnsafeBytes { c in
            XCTAssertTrue(ConstantTime.equals(SHA256.hash("abc"), c))
            XCTAssertFalse(ConstantTime.equals(SHA256.hash("abd"), c))
            XCTAssertFalse(ConstantTime.equals(Array(SHA256.hash("abc").prefix(31)), c))
        }
    }

    func testHMACSHA256RFC4231() {
        let cases: [(key: [UInt8], data: [UInt8], mac: String)] = [
            ([UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8),
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            ([UInt8](repeating: 0xaa, count: 20), [UInt8](repeating: 0xdd, count: 50),
             "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
            (Array(1...25), [UInt8](repeating: 0xcd, count: 50),
             "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        ]
        for (i, c) in cases.enumerated() {
            XCTAssertEqual(Hex.encode(HMAC.sha256(key: c.key, message: c.data)), c.mac, "RFC 4231 case \(i + 1)")
        }
        // Empty key and message are valid inputs (RFC 2104 pads the key with zeros).
        XCTAssertEqual(Hex.encode(HMAC.sha256(key: [], message: [])),
                       "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
        XCTAssertEqual(HMAC.sha256(key: [1, 2], message: "x"), HMAC.sha256(key: [1, 2], message: [UInt8(ascii: "x")]))
    }

    func testHex() throws {
        XCTAssertEqual(Hex.encode([0x00, 0x0f, 0xab, 0xff]), "000fabff")
        XCTAssertEqual(try Hex.decode("000FabFF"), [0x00, 0x0f, 0xab, 0xff])
        XCTAssertEqual(try Hex.decode(""), [])
        for bad in ["0", "0g", "zz", "0x00", " 00", "00 "] {
            XCTAssertThrowsError(try Hex.decode(bad), "hex \(bad)") { error in
                XCTAssertEqual((error as? CryptoError)?.kind, .malformed)
            }
        }
    }

    func testBase64() {
        let cases: [([UInt8], String, String)] = [
            ([], "", ""), (Array("f".utf8), "Zg==", "Zg"), (Array("fo".utf8), "Zm8=", "Zm8"),
            (Array("foo".utf8), "Zm9v", "Zm9v"), ([0xfb, 0xff], "+/8=", "+/8"),
        ]
        for (bytes, padded, unpadded) in cases {
            XCTAssertEqual(Base64.encode(bytes), padded)
            XCTAssertEqual(Base64.encode(bytes, padding: false), unpadded)
            XCTAssertEqual(Base64.decode(padded), bytes)
            XCTAssertEqual(Base64.decode(unpadded, padding: false), bytes)
        }
        // Wrong padding mode, URL alphabet, whitespace, non-canonical trailing bits, bad lengths.
        for bad in ["Zg", "Zm8", "-_8=", "Zm9v\n", " Zm9v", "Zh==", "Z===", "Zm9vY"] {
            XCTAssertNil(Base64.decode(bad), "padded decode of \(bad)")
        }
        for bad in ["Zg==", "Zm8=", "-_8", "Zh", "Z", "Zm9vY"] {
            XCTAssertNil(Base64.decode(bad, padding: false), "unpadded decode of \(bad)")
        }
    }

    func testConstantTimeEquals() {
        XCTAssertTrue(ConstantTime.equals([], []))
        XCTAssertTrue(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        XCTAssertFalse(ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        XCTAssertFalse(ConstantTime.equals([1, 2, 3], [1, 2]))
        XCTAssertFalse(ConstantTime.equals([], [0]))
    }

    func testRandom() {
        XCTAssertEqual(Random.bytes(0), [])
        XCTAssertEqual(Random.bytes(-5), [])
        let a = Random.bytes(32), b = Random.bytes(32)
        XCTAssertEqual(a.count, 32)
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(Random.bytes(100_000).count, 100_000)
    }

    func testOpenSSLVersionIs3() {
        XCTAssertTrue(CryptoInfo.openSSLVersion.hasPrefix("OpenSSL 3"), CryptoInfo.openSSLVersion)
    }
}
