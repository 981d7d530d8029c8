import Foundation
import XCTest
@testable import RampartCrypto

final class EncryptedValueTests: XCTestCase {
    func testParseGood() throws {
        let payload = Array(0..<40).map(UInt8.init)
        let text = "$enc:v1:k2026-11.a_B:" + Base64.encode(payload)
        let v = try EncryptedValue.parse(text)
        XCTAssertEqual(v.keyID, "k2026-11.a_B")
        XCTAssertEqual(v.sealed, payload)
        XCTAssertEqual(v.description, text)
        XCTAssertEqual(EncryptedValue(text), v)
        let longID = String(repeating: "a", count: 64)
        XCTAssertEqual(try EncryptedValue.parse("$enc:v1:\(longID):" + Base64.encode(Array(repeating: 0, count: 28))).keyID, longID)
    }

    func testParseMalformed() {
        let b = Base64.encode(Array(repeating: 7, count: 40))
        let cases: [(String, String)] = [
            ("", "must start"),
            ("enc:v1:k1:\(b)", "must start"),
            ("$enc:v2:k1:\(b)", "unsupported version"),
            ("$enc:v1:", "expected KEYID"),
            ("$enc:v1:k1", "expected KEYID"),
            ("$enc:v1::\(b)", "key id"),
            ("$enc:v1:k 1:\(b)", "key id"),
            ("$enc:v1:k/1:\(b)", "key id"),
            ("$enc:v1:ké:\(b)", "key id"),
            ("$enc:v1:\(String(repeating: "a", count: 65)):\(b)", "key id"),
            ("$enc:v1:k1:", "empty"),
            ("$enc:v1:k1:\(b.dropLast())", "base64"),
            ("$enc:v1:k1:\(b):extra", "base64"),
            ("$enc:v1:k1: \(b)", "base64"),
            ("$enc:v1:k1:" + Base64.encode(Array(repeating: 7, count: 27)), "shorter than nonce"),
        ]
        for (text, why) in cases {
            XCTAssertThrowsError(try EncryptedValue.parse(text), text) { error in
                guard let e = error as? CryptoError else { return XCTFail("not a CryptoError") }
                XCTAssertEqual(e.kind, .malformed, text)
                XCTAssertTrue(e.message.contains(why), "\(text): \(e.message)")
            }
            XCTAssertNil(EncryptedValue(text))
        }
    }

    func testAdditionalDataSeparator() {
        XCTAssertEqual(EncryptedValue.additionalData(keyID: "k1", fieldPath: "a.b"), Array("k1".utf8) + [0] + Array("a.b".utf8))
        XCTAssertNotEqual(EncryptedValue.additionalData(keyID: "k1", fieldPath: ".x"),
                          EncryptedValue.additionalData(keyID: "k1.", fieldPath: "x"))
    }
}

final class KeyringTests: XCTestCase {
    static let path = "SSL/default/api.spec.privateKey"

    func testEncryptDecryptRoundTrip() throws {
        let ring = try Keyring(keys: [Keyring.Key.random(id: "k1")])
        let enc = try ring.encrypt(plaintext: Array("hunter2".utf8), fieldPath: Self.path)
        XCTAssertTrue(enc.hasPrefix("$enc:v1:k1:"))
        XCTAssertFalse(enc.contains("hunter2"))
        XCTAssertEqual(try ring.keyID(of: enc), "k1")
        XCTAssertEqual(try ring.decrypt(enc, fieldPath: Self.path), Array("hunter2".utf8))
        XCTAssertEqual(try ring.decryptString(try ring.encrypt("", fieldPath: "p"), fieldPath: "p"), "")
        XCTAssertNotEqual(try ring.encrypt("same", fieldPath: "p"), try ring.encrypt("same", fieldPath: "p"))
    }

    func testRotation() throws {
        let k1 = try Keyring.Key.random(id: "k1")
        let old = try Keyring(keys: [k1])
        let oldValue = try old.encrypt("v-old", fieldPath: Self.path)

        let rotated = try old.rotated(to: Keyring.Key.random(id: "k2"))
        XCTAssertEqual(rotated.keyIDs, ["k2", "k1"])
        XCTAssertEqual(rotated.primaryKeyID, "k2")
        let newValue = try rotated.encrypt("v-new", fieldPath: Self.path)
        XCTAssertEqual(try rotated.keyID(of: newValue), "k2")
        XCTAssertEqual(try rotated.decryptString(oldValue, fieldPath: Self.path), "v-old")
        XCTAssertEqual(try rotated.decryptString(newValue, fieldPath: Self.path), "v-new")

        // The old keyring does not know k2: the error names the key, not the data.
        XCTAssertThrowsError(try old.decrypt(newValue, fieldPath: Self.path)) { error in
            guard let e = error as? CryptoError else { return XCTFail() }
            XCTAssertEqual(e.kind, .unknownKey)
            XCTAssertEqual(e.keyID, "k2")
            XCTAssertTrue(e.message.contains("k2"))
            XCTAssertFalse(e.message.contains("v-new"))
        }

        let moved = try rotated.reencrypt(oldValue, fieldPath: Self.path)
        XCTAssertEqual(try rotated.keyID(of: moved), "k2")
        XCTAssertEqual(try rotated.decryptString(moved, fieldPath: Self.path), "v-old")
        XCTAssertEqual(try rotated.reencrypt(newValue, fieldPath: Self.path), newValue)

        XCTAssertThrowsError(try rotated.rotated(to: k1)) { XCTAssertEqual(($0 as? CryptoError)?.keyID, "k1") }
        XCTAssertThrowsError(try Keyring(keys: []))
    }

    func testValueMovedToAnotherFieldFails() throws {
        let ring = try Keyring(keys: [Keyring.Key.random(id: "k1")])
        let enc = try ring.encrypt("secret-token", fieldPath: "SecretRef/a.spec.token")
        XCTAssertThrowsError(try ring.decrypt(enc, fieldPath: "SecretRef/b.spec.token")) { error in
            guard let e = error as? CryptoError else { return XCTFail() }
            XCTAssertEqual(e.kind, .authenticationFailed)
            XCTAssertEqual(e.keyID, "k1")
            XCTAssertFalse(e.message.contains("secret-token"))
        }
    }

    func testKeyIDIsAuthenticated() throws {
        // Two ids with the same bytes: relabelling a ciphertext's key id must still fail.
        let bytes = Random.bytes(32)
        let ring = try Keyring(keys: [Keyring.Key(id: "k1", rawKey: bytes), Keyring.Key(id: "k2", rawKey: bytes)])
        let enc = try ring.encrypt("x", fieldPath: "p")
        let relabelled = enc.replacingOccurrences(of: "$enc:v1:k1:", with: "$enc:v1:k2:")
        XCTAssertThrowsError(try ring.decrypt(relabelled, fieldPath: "p")) {
            XCTAssertEqual(($0 as? CryptoError)?.kind, .authenticationFailed)
        }
    }

    func testTamperedCiphertextFails() throws {
        let ring = try Keyring(keys: [Keyring.Key.random(id: "k1")])
        let v = try EncryptedValue.parse(try ring.encrypt("payload", fieldPath: "p"))
        for index in [0, 12, v.sealed.count - 1] {
            var s = v.sealed
            s[index] ^= 0x04
            let t = try EncryptedValue(keyID: "k1", sealed: s).description
            XCTAssertThrowsError(try ring.decrypt(t, fieldPath: "p"), "byte \(index)")
        }
    }

    func testMaterialBase64VersusPassphrase() throws {
        let raw = Random.bytes(32)
        // 32 bytes of base64: used as the key itself.
        let fromMaterial = try Keyring(materials: [(id: "k1", material: Base64.encode(raw))])
        let fromRaw = try Keyring(keys: [Keyring.Key(id: "k1", rawKey: raw)])
        XCTAssertEqual(try fromRaw.decryptString(try fromMaterial.encrypt("a", fieldPath: "p"), fieldPath: "p"), "a")

        // Anything else: a passphrase, PBKDF2-HMAC-SHA256, 600000 iterations, salt = id.
        let derived = try PBKDF2.sha256(password: Array("correct horse battery".utf8), salt: Array("k-pass".utf8),
                                        iterations: 600_000, length: 32)
        let pass = try Keyring(materials: [(id: "k-pass", material: "correct horse battery")])
        let viaDerived = try Keyring(keys: [Keyring.Key(id: "k-pass", rawKey: derived)])
        XCTAssertEqual(try viaDerived.decryptString(try pass.encrypt("b", fieldPath: "p"), fieldPath: "p"), "b")

        // Base64 of 16 bytes is not a key: it is a passphrase (the text itself).
        let short = Base64.encode(Array(raw.prefix(16)))
        let shortRing = try Keyring(materials: [(id: "k3", material: short)])
        let derivedShort = try PBKDF2.sha256(password: Array(short.utf8), salt: Array("k3".utf8), iterations: 600_000, length: 32)
        let viaShort = try Keyring(keys: [Keyring.Key(id: "k3", rawKey: derivedShort)])
        XCTAssertEqual(try viaShort.decryptString(try shortRing.encrypt("c", fieldPath: "p"), fieldPath: "p"), "c")
    }

    func testConcurrentUse() throws {
        let ring = try Keyring(keys: [Keyring.Key.random(id: "k1")])
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            let path = "p\(i)"
            let plain = Array("value-\(i)".utf8)
            let enc = try? ring.encrypt(plaintext: plain, fieldPath: path)
            XCTAssertEqual(enc.flatMap { try? ring.decrypt($0, fieldPath: path) }, plain)
        }
    }

    func testBadKeys() {
        XCTAssertThrowsError(try Keyring.Key(id: "k1", material: "")) { XCTAssertEqual(($0 as? CryptoError)?.kind, .invalidArgument) }
        XCTAssertThrowsError(try Keyring.Key(id: "bad id", rawKey: Random.bytes(32)))
        XCTAssertThrowsError(try Keyring.Key(id: "", rawKey: Random.bytes(32)))
        XCTAssertThrowsError(try Keyring.Key(id: "k1", rawKey: Random.bytes(16))) {
            XCTAssertEqual(($0 as? CryptoError)?.kind, .invalidArgument)
        }
    }

    func testKeyMaterialNeverPrinted() throws {
        let raw = Random.bytes(32)
        let b64 = Base64.encode(raw)
        let ring = try Keyring(keys: [Keyring.Key(id: "k1", rawKey: raw), Keyring.Key.random(id: "k0")])
        var dumped = ""
        dump(ring, to: &dumped)
        var dumpedKey = ""
        dump(ring.keys[0], to: &dumpedKey)
        let renderings = [
            String(describing: ring), String(reflecting: ring), "\(ring)", dumped,
            String(describing: ring.keys[0]), String(reflecting: ring.keys[0]), dumpedKey,
            String(describing: Mirror(reflecting: ring).children.map { "\($0.label ?? ""): \($0.value)" }),
        ]
        let rawAsDecimals = raw.map(String.init).joined(separator: ", ")
        for r in renderings {
            XCTAssertTrue(r.contains("k1"), r)
            XCTAssertTrue(r.contains("***"), r)
            XCTAssertFalse(r.contains(b64), r)
            XCTAssertFalse(r.contains(Hex.encode(raw)), r)
            XCTAssertFalse(r.contains(rawAsDecimals), r)
        }
    }
}
