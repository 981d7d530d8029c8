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
            ("enc:v2:k1:\(b)", "must start"),
            ("$enc:v3:k1:\(b)", "unsupported version"),
            ("$enc:v2:", "expected KEYID"),
            ("$enc:v2:k1", "expected KEYID"),
            ("$enc:v2::\(b)", "key id"),
            ("$enc:v2:k 1:\(b)", "key id"),
            ("$enc:v2:k/1:\(b)", "key id"),
            ("$enc:v2:ké:\(b)", "key id"),
            ("$enc:v2:\(String(repeating: "a", count: 65)):\(b)", "key id"),
            ("$enc:v2:k1:", "empty"),
            ("$enc:v2:k1:\(b.dropLast())", "base64"),
            ("$enc:v2:k1:\(b):extra", "base64"),
            ("$enc:v2:k1: \(b)", "base64"),
            ("$enc:v2:k1:" + Base64.encode(Array(repeating: 7, count: 27)), "shorter than nonce"),
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

    func testParseKnowsBothVersions() throws {
        let payload = Base64.encode(Array(repeating: 1, count: 30))
        let current = try EncryptedValue.parse("$enc:v2:k1:" + payload)
        XCTAssertEqual(current.version, .v2)
        XCTAssertEqual(current.description, "$enc:v2:k1:" + payload)
        let legacy = try EncryptedValue.parse("$enc:v1:k1:" + payload)
        XCTAssertEqual(legacy.version, .v1)
        XCTAssertEqual(legacy.description, "$enc:v1:k1:" + payload, "a legacy value prints as it was read")
    }

    func testLegacyAdditionalDataSeparator() {
        XCTAssertEqual(EncryptedValue.legacyAdditionalData(keyID: "k1", fieldPath: "a.b"), Array("k1".utf8) + [0] + Array("a.b".utf8))
        XCTAssertNotEqual(EncryptedValue.legacyAdditionalData(keyID: "k1", fieldPath: ".x"),
                          EncryptedValue.legacyAdditionalData(keyID: "k1.", fieldPath: "x"))
    }

    /// The v2 encoding is injective: every way of moving bytes between parts gives other bytes.
    func testAdditionalDataHasNoAmbiguity() {
        func ad(_ id: String, _ kind: String, _ ns: String, _ name: String, _ path: String) -> [UInt8] {
            EncryptedValue.additionalData(keyID: id, binding: EncryptionBinding(kind: kind, namespace: ns, name: name, fieldPath: path))
        }
        let tuples: [(String, String, String, String, String)] = [
            ("k1", "SecretRef", "prod", "vault", "spec.vault.auth.token"),
            ("k1", "SecretRef", "prod/vault", "", "spec.vault.auth.token"),     // namespace swallows the name
            ("k1", "SecretRef", "", "prod/vault", "spec.vault.auth.token"),     // name "prod/vault", empty namespace
            ("k1", "SecretRef", "a", "b/c", "spec.x"),
            ("k1", "SecretRef", "a/b", "c", "spec.x"),                          // name "a/b" vs namespace "a/b"
            ("k1", "SecretRefprod", "", "vault", "spec.vault.auth.token"),      // kind swallows the namespace
            ("k1", "SecretRef", "prod", "vaultspec.vault.auth.token", ""),      // name swallows the path
            ("k1", "SecretRef", "prod", "vault\u{0}", "spec.vault.auth.token"), // NUL inside a part
            ("k1", "SecretRef", "prod", "vault", "\u{0}spec.vault.auth.token"),
            ("k1S", "ecretRef", "prod", "vault", "spec.vault.auth.token"),     // key id swallows the kind
            ("k1", "Route", "prod", "vault", "spec.vault.auth.token"),
        ]
        let encoded = tuples.map { ad($0.0, $0.1, $0.2, $0.3, $0.4) }
        XCTAssertEqual(Set(encoded).count, tuples.count, "two tuples share an encoding")
        // Length-prefixed: label, then 8-byte big-endian length + bytes for each part.
        let one = ad("k", "K", "n", "m", "p")
        let label = Array("rampart/enc/v2".utf8)
        XCTAssertEqual(Array(one.prefix(8)), [0, 0, 0, 0, 0, 0, 0, UInt8(label.count)])
        XCTAssertEqual(one.count, 6 * 8 + label.count + 5)
        // And never the legacy bytes for the same key id and field.
        XCTAssertNotEqual(ad("k1", "", "", "", "p"), EncryptedValue.legacyAdditionalData(keyID: "k1", fieldPath: "p"))
    }
}

final class KeyringTests: XCTestCase {
    static let path = "spec.privateKey"

    func testEncryptDecryptRoundTrip() throws {
        let ring = try Keyring(keys: [Keyring.Key.random(id: "k1")])
        let enc = try ring.encrypt(plaintext: Array("hunter2".utf8), binding: at(Self.path))
        XCTAssertTrue(enc.hasPrefix("$enc:v2:k1:"))
        XCTAssertFalse(enc.contains("hunter2"))
        XCTAssertEqual(try ring.keyID(of: enc), "k1")
        XCTAssertEqual(try ring.decrypt(enc, binding: at(Self.path)), Array("hunter2".utf8))
        XCTAssertEqual(try ring.decryptString(try ring.encrypt("", binding: at("p")), binding: at("p")), "")
        XCTAssertNotEqual(try ring.encrypt("same", binding: at("p")), try ring.encrypt("same", binding: at("p")))
    }

    func testRotation() throws {
        let k1 = try Keyring.Key.random(id: "k1")
        let old = try Keyring(keys: [k1])
        let oldValue = try old.encrypt("v-old", binding: at(Self.path))

        let rotated = try old.rotated(to: Keyring.Key.random(id: "k2"))
        XCTAssertEqual(rotated.keyIDs, ["k2", "k1"])
        XCTAssertEqual(rotated.primaryKeyID, "k2")
        let newValue = try rotated.encrypt("v-new", binding: at(Self.path))
        XCTAssertEqual(try rotated.keyID(of: newValue), "k2")
        XCTAssertEqual(try rotated.decryptString(oldValue, binding: at(Self.path)), "v-old")
        XCTAssertEqual(try rotated.decryptString(newValue, binding: at(Self.path)), "v-new")

        // The old keyring does not know k2: the error names the key, not the data.
        XCTAssertThrowsError(try old.decrypt(newValue, binding: at(Self.path))) { error in
            guard let e = error as? CryptoError else { return XCTFail() }
            XCTAssertEqual(e.kind, .unknownKey)
            XCTAssertEqual(e.keyID, "k2")
            XCTAssertTrue(e.message.contains("k2"))
            XCTAssertFalse(e.message.contains("v-new"))
        }

        let moved = try rotated.reencrypt(oldValue, binding: at(Self.path))
        XCTAssertEqual(try rotated.keyID(of: moved), "k2")
        XCTAssertEqual(try rotated.decryptString(moved, binding: at(Self.path)), "v-old")
        XCTAssertEqual(try rotated.reencrypt(newValue, binding: at(Self.path)), newValue)

        XCTAssertThrowsError(try rotated.rotated(to: k1)) { XCTAssertEqual(($0 as? CryptoError)?.keyID, "k1") }
        XCTAssertThrowsError(try Keyring(keys: []))
    }

    func testValueMovedToAnotherFieldFails() throws {
        let ring = try Keyring(keys: [Keyring.Key.random(id: "k1")])
        let enc = try ring.encrypt("secret-token", binding: EncryptionBinding(kind: "SecretRef", namespace: "prod", name: "vault", fieldPath: "spec.a"))
        XCTAssertThrowsError(try ring.decrypt(enc, binding: EncryptionBinding(kind: "SecretRef", namespace: "prod", name: "vault", fieldPath: "spec.b"))) { error in
            guard let e = error as? CryptoError else { return XCTFail() }
            XCTAssertEqual(e.kind, .authenticationFailed)
            XCTAssertEqual(e.keyID, "k1")
            XCTAssertFalse(e.message.contains("secret-token"))
        }
    }

    /// The attack: a ciphertext made for resource A pasted into the same field of a resource B the
    /// author controls (which sends it to their host). Each way B can differ from A must fail.
    func testValueMovedToAnotherResourceFails() throws {
        let ring = try Keyring(keys: [Keyring.Key.random(id: "k1")])
        let victim = EncryptionBinding(kind: "SecretRef", namespace: "prod", name: "vault", fieldPath: "spec.vault.auth.token")
        let enc = try ring.encrypt("vault-root-token", binding: victim)
        XCTAssertEqual(try ring.decryptString(enc, binding: victim), "vault-root-token")
        let elsewhere = [
            EncryptionBinding(kind: "SecretRef", namespace: "prod", name: "evil", fieldPath: victim.fieldPath),     // same kind, other name
            EncryptionBinding(kind: "SecretRef", namespace: "team", name: "vault", fieldPath: victim.fieldPath),    // other namespace
            EncryptionBinding(kind: "ContactPoint", namespace: "prod", name: "vault", fieldPath: victim.fieldPath), // other kind, same path
            EncryptionBinding(kind: "SecretRef", namespace: "", name: "prod/vault", fieldPath: victim.fieldPath),   // the split moved
            EncryptionBinding(kind: "SecretRef", namespace: "prod/vault", name: "", fieldPath: victim.fieldPath),
        ]
        for b in elsewhere {
            XCTAssertThrowsError(try ring.decrypt(enc, binding: b), "\(b)") { error in
                guard let e = error as? CryptoError else { return XCTFail() }
                XCTAssertEqual(e.kind, .authenticationFailed, "\(b)")
                XCTAssertTrue(e.message.contains(b.description), e.message)
                XCTAssertFalse(e.message.contains("vault-root-token"))
            }
        }
    }

    /// A legacy value decrypts under the field alone, so `decrypt` refuses it; only `rebindLegacy`
    /// (state.json migration) opens it, and the result is bound to the resource given.
    func testLegacyValuesAreRefusedAndRebound() throws {
        let k1Bytes = Random.bytes(32)
        let key = try Keyring.Key(id: "k1", rawKey: k1Bytes)
        let ring = try Keyring(keys: [Keyring.Key.random(id: "k2"), key])
        let path = "spec.vault.auth.token"
        // Made the way v1 did: AD = key id, NUL, field path; under k1's bytes.
        let legacy = try EncryptedValue(keyID: "k1", sealed: try AEAD.seal(Array("old-token".utf8), key: k1Bytes,
                                                                         additionalData: EncryptedValue.legacyAdditionalData(keyID: "k1", fieldPath: path)),
                                        version: .v1).description
        XCTAssertTrue(legacy.hasPrefix("$enc:v1:k1:"))
        let a = EncryptionBinding(kind: "SecretRef", namespace: "prod", name: "vault", fieldPath: path)
        XCTAssertThrowsError(try ring.decrypt(legacy, binding: a)) { XCTAssertEqual(($0 as? CryptoError)?.kind, .legacyBinding) }
        XCTAssertThrowsError(try ring.reencrypt(legacy, binding: a)) { XCTAssertEqual(($0 as? CryptoError)?.kind, .legacyBinding) }

        let rebound = try ring.rebindLegacy(legacy, binding: a)
        XCTAssertTrue(rebound.hasPrefix("$enc:v2:k1:"), "stays under the key that made it: \(rebound)")
        XCTAssertEqual(try ring.decryptString(rebound, binding: a), "old-token")
        XCTAssertThrowsError(try ring.decrypt(rebound, binding: EncryptionBinding(kind: "SecretRef", namespace: "prod", name: "evil", fieldPath: path)))
        XCTAssertTrue(try ring.rebindLegacy(legacy, binding: a, toPrimary: true).hasPrefix("$enc:v2:k2:"))
        // The legacy AD still binds the field: re-binding under another field fails, and v2 values are not "legacy".
        XCTAssertThrowsError(try ring.rebindLegacy(legacy, binding: EncryptionBinding(kind: "SecretRef", namespace: "prod", name: "vault", fieldPath: "spec.x")))
        XCTAssertThrowsError(try ring.rebindLegacy(rebound, binding: a)) { XCTAssertEqual(($0 as? CryptoError)?.kind, .invalidArgument) }
    }

    func testKeyIDIsAuthenticated() throws {
        // Two ids with the same bytes: relabelling a ciphertext's key id must still fail.
        let bytes = Random.bytes(32)
        let ring = try Keyring(keys: [Keyring.Key(id: "k1", rawKey: bytes), Keyring.Key(id: "k2", rawKey: bytes)])
        let enc = try ring.encrypt("x", binding: at("p"))
        let relabelled = enc.replacingOccurrences(of: "$enc:v2:k1:", with: "$enc:v2:k2:")
        XCTAssertThrowsError(try ring.decrypt(relabelled, binding: at("p"))) {
            XCTAssertEqual(($0 as? CryptoError)?.kind, .authenticationFailed)
        }
    }

    func testTamperedCiphertextFails() throws {
        let ring = try Keyring(keys: [Keyring.Key.random(id: "k1")])
        let v = try EncryptedValue.parse(try ring.encrypt("payload", binding: at("p")))
        for index in [0, 12, v.sealed.count - 1] {
            var s = v.sealed
            s[index] ^= 0x04
            let t = try EncryptedValue(keyID: "k1", sealed: s).description
            XCTAssertThrowsError(try ring.decrypt(t, binding: at("p")), "byte \(index)")
        }
    }

    func testMaterialBase64VersusPassphrase() throws {
        let raw = Random.bytes(32)
        // 32 bytes of base64: used as the key itself.
        let fromMaterial = try Keyring(materials: [(id: "k1", material: Base64.encode(raw))])
        let fromRaw = try Keyring(keys: [Keyring.Key(id: "k1", rawKey: raw)])
        XCTAssertEqual(try fromRaw.decryptString(try fromMaterial.encrypt("a", binding: at("p")), binding: at("p")), "a")

        // Anything else: a passphrase, PBKDF2-HMAC-SHA256, 600000 iterations, salt = id.
        let derived = try PBKDF2.sha256(password: Array("correct horse battery".utf8), salt: Array("k-pass".utf8),
                                        iterations: 600_000, length: 32)
        let pass = try Keyring(materials: [(id: "k-pass", material: "correct horse battery")])
        let viaDerived = try Keyring(keys: [Keyring.Key(id: "k-pass", rawKey: derived)])
        XCTAssertEqual(try viaDerived.decryptString(try pass.encrypt("b", binding: at("p")), binding: at("p")), "b")

        // Base64 of 16 bytes is not a key: it is a passphrase (the text itself).
        let short = Base64.encode(Array(raw.prefix(16)))
        let shortRing = try Keyring(materials: [(id: "k3", material: short)])
        let derivedShort = try PBKDF2.sha256(password: Array(short.utf8), salt: Array("k3".utf8), iterations: 600_000, length: 32)
        let viaShort = try Keyring(keys: [Keyring.Key(id: "k3", rawKey: derivedShort)])
        XCTAssertEqual(try viaShort.decryptString(try shortRing.encrypt("c", binding: at("p")), binding: at("p")), "c")
    }

    func testConcurrentUse() throws {
        let ring = try Keyring(keys: [Keyring.Key.random(id: "k1")])
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            let path = "p\(i)"
            let plain = Array("value-\(i)".utf8)
            let enc = try? ring.encrypt(plaintext: plain, binding: at(path))
            XCTAssertEqual(enc.flatMap { try? ring.decrypt($0, binding: at(path)) }, plain)
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

/// A binding in one test resource, by field path.
private func at(_ fieldPath: String) -> EncryptionBinding {
    EncryptionBinding(kind: "SSL", namespace: "default", name: "api", fieldPath: fieldPath)
}
