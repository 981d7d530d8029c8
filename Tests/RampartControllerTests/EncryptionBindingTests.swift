import Foundation
import RampartCrypto
import RampartModel
import TestSupport
import XCTest
@testable import RampartController

/// `$enc:` values are bound to their resource (kind, namespace, name) and field; an older `state.json`
/// whose values were bound to the field only is re-bound at start.
final class EncryptionBindingTests: XCTestCase {
    let k1 = Data((0..<32).map { UInt8($0 &* 5 &+ 3) }).base64EncodedString()
    let masterMaterial = Data((0..<32).map { UInt8(200 &- $0) }).base64EncodedString()
    var dir = "", stateDir = ""

    override func setUpWithError() throws {
        let base = try TempDir.make("binding")
        dir = base + "/m"
        stateDir = base + "/state"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    /// The attack: SecretRef prod/vault's token pasted into a resource of the author's that sends it
    /// where they choose. Every such move fails, and the error names the field, never the value.
    func testCiphertextForOneResourceDoesNotDecryptInAnother() throws {
        let ring = try Keyring(materials: [(id: "k1", material: k1)])
        let values = SensitiveValues(master: nil, lookup: nil)
        let victim = ResourceKey(.secretRef, "prod", "vault")
        let token = "hvs.victim-\(UUID().uuidString)"
        let enc = try ring.encrypt(token, binding: SensitiveValues.binding(victim, "spec.vault.auth.token"))
        let value = Sensitive(.encrypted(enc))
        XCTAssertEqual(try values.plaintext(value, key: victim, path: "spec.vault.auth.token", keyring: ring), Array(token.utf8))
        let attackers: [(ResourceKey, String)] = [
            (ResourceKey(.secretRef, "prod", "evil"), "spec.vault.auth.token"),            // same kind, other name
            (ResourceKey(.secretRef, "team", "vault"), "spec.vault.auth.token"),           // other namespace, same name
            (ResourceKey(.contactPoint, "prod", "vault"), "spec.vault.auth.token"),        // other kind, same field path
            (ResourceKey(.contactPoint, "prod", "vault"), "spec.headers.Authorization"),   // a header sent to the author's URL
            (ResourceKey(.secretRef, "prod", "vault"), "spec.vault.auth.appRole.secretId"), // same resource, other field
        ]
        for (key, path) in attackers {
            XCTAssertThrowsError(try values.plaintext(value, key: key, path: path, keyring: ring), "\(key) \(path)") { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("\(key) \(path): cannot decrypt"), text)
                XCTAssertFalse(text.contains(token), text)
            }
        }
        // A list position is not part of the binding: reordering a list keeps values decrypting.
        let route = ResourceKey(.route, "shop", "orders")
        let listed = try ring.encrypt("k", binding: SensitiveValues.binding(route, "spec.plugins.key-auth.keys[0]"))
        XCTAssertEqual(try values.plaintext(Sensitive(.encrypted(listed)), key: route, path: "spec.plugins.key-auth.keys[3]", keyring: ring), Array("k".utf8))
    }

    /// A legacy value reaching the resolver (a state.json that could not be re-bound) is refused, not opened.
    func testLegacyValueIsNeverOpenedByTheResolver() throws {
        let ring = try Keyring(materials: [(id: "k1", material: k1)])
        let key = ResourceKey(.contactPoint, "default", "ops")
        let legacy = try legacyValue("x", keyID: "k1", material: k1, path: "spec.hmacSecret")
        let values = SensitiveValues(master: nil, lookup: nil)
        XCTAssertThrowsError(try values.plaintext(Sensitive(.encrypted(legacy)), key: key, path: "spec.hmacSecret", keyring: ring)) {
            XCTAssertTrue("\($0)".contains("ContactPoint default/ops spec.hmacSecret") && "\($0)".contains("legacy"), "\($0)")
        }
    }

    /// What the previous release wrote: `$enc:v1:`, additional data = key id, NUL, field path.
    func legacyValue(_ plaintext: String, keyID: String, material: String, path: String) throws -> String {
        let raw = try XCTUnwrap(Base64.decode(material, padding: true))
        let sealed = try AEAD.seal(Array(plaintext.utf8), key: raw,
                                   additionalData: EncryptedValue.legacyAdditionalData(keyID: keyID, fieldPath: SensitiveValues.boundPath(path)))
        return try EncryptedValue(keyID: keyID, sealed: sealed, version: .v1).description
    }

    func make(master: String?) throws -> (Reconciler, ReconcilerTests.Recorder) {
        let masterRing = try master.map { try Keyring(materials: [(id: SensitiveValues.masterKeyID, material: $0)]) }
        let rec = ReconcilerTests.Recorder()
        let sd = try StateDir(stateDir)
        let r = Reconciler(config: ControllerConfig(paths: [dir], dev: true), log: Log(level: .error), stateDir: sd,
                           audit: try AuditLog(dir: sd), metrics: ControlMetrics(), values: SensitiveValues(master: masterRing, lookup: nil)) { s in
            rec.states.withLock { $0.append(s) }
            return [:]
        }
        return (r, rec)
    }

    func testLegacyStateFileIsReboundAtStartWithoutPlaintextOnDisk() throws {
        let hook = "hook-\(UUID().uuidString)", auth = "Bearer auth-\(UUID().uuidString)", other = "other-\(UUID().uuidString)"
        let material = try legacyValue(k1, keyID: SensitiveValues.masterKeyID, material: masterMaterial, path: "spec.keys[0].material")
        let hookEnc = try legacyValue(hook, keyID: "k1", material: k1, path: "spec.hmacSecret")
        let authEnc = try legacyValue(auth, keyID: "k1", material: k1, path: "spec.headers.Authorization")
        let otherEnc = try legacyValue(other, keyID: "k1", material: k1, path: "spec.hmacSecret")
        func cp(_ name: String, _ extra: String) -> String {
            "{\"apiVersion\":\"rampart.io/v1alpha1\",\"kind\":\"ContactPoint\",\"metadata\":{\"name\":\"\(name)\",\"namespace\":\"default\"},"
                + "\"spec\":{\"type\":\"webhook\",\"url\":\"https://hooks.example/\(name)\",\(extra)}}"
        }
        let legacy = """
        {"generation":7,"hash":"x","origin":"dir","resources":[
        {"apiVersion":"rampart.io/v1alpha1","kind":"Keyring","metadata":{"name":"default","namespace":"default"},"spec":{"keys":[{"id":"k1","material":{"encrypted":"\(material)"}}]}},
        \(cp("ops", "\"hmacSecret\":{\"encrypted\":\"\(hookEnc)\"},\"headers\":{\"Authorization\":{\"encrypted\":\"\(authEnc)\"}}")),
        \(cp("dev", "\"hmacSecret\":{\"encrypted\":\"\(otherEnc)\"}"))
        ]}

        """
        try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
        try legacy.write(toFile: stateDir + "/state.json", atomically: true, encoding: .utf8)

        let (r, rec) = try make(master: masterMaterial)
        r.restoreFromStateFile()
        let state = try String(contentsOfFile: stateDir + "/state.json", encoding: .utf8)
        XCTAssertFalse(state.contains("$enc:v1:"), state)
        XCTAssertEqual(state.components(separatedBy: "$enc:v2:k1:").count - 1, 3, state)
        XCTAssertEqual(state.components(separatedBy: "$enc:v2:master:").count - 1, 1, state)

        // The serving state decrypts each value where it is, and only there.
        let served = try XCTUnwrap(rec.last)
        XCTAssertEqual(served.generation, 7)
        let resolve = r.values.resolver(for: served)
        let ops = ResourceKey(.contactPoint, "default", "ops"), dev = ResourceKey(.contactPoint, "default", "dev")
        let opsHook = try XCTUnwrap(served.resources[ops]?.contactPoint?.hmacSecret)
        XCTAssertEqual(String(decoding: try resolve(opsHook, ops, "spec.hmacSecret"), as: UTF8.self), hook)
        let opsAuth = try XCTUnwrap(served.resources[ops]?.contactPoint?.headers["Authorization"])
        XCTAssertEqual(String(decoding: try resolve(opsAuth, ops, "spec.headers.Authorization"), as: UTF8.self), auth)
        let devHook = try XCTUnwrap(served.resources[dev]?.contactPoint?.hmacSecret)
        XCTAssertEqual(String(decoding: try resolve(devHook, dev, "spec.hmacSecret"), as: UTF8.self), other)
        XCTAssertThrowsError(try resolve(opsHook, dev, "spec.hmacSecret"), "re-bound to ops, so it does not decrypt in dev")

        // Audit: one rebind entry per resource, the chain intact, no value in it.
        let audit = try String(contentsOfFile: stateDir + "/audit.log", encoding: .utf8)
        XCTAssertEqual(audit.components(separatedBy: "\"action\":\"rebind\"").count - 1, 3, audit)
        XCTAssertTrue(audit.contains("spec.headers.Authorization: $enc:v1: -> $enc:v2:"), audit)
        XCTAssertNil(AuditLog.verify(Array(audit.utf8)).firstBad.map { "\($0)" })

        for f in try FileManager.default.contentsOfDirectory(atPath: stateDir) {
            let bytes = try String(contentsOfFile: stateDir + "/" + f, encoding: .isoLatin1)
            for secret in [hook, auth, other, k1, masterMaterial] { XCTAssertFalse(bytes.contains(secret), "\(f) holds a plaintext") }
        }

        // A second start finds nothing legacy: no new audit entries, the same values still serve.
        let (again, rec2) = try make(master: masterMaterial)
        again.restoreFromStateFile()
        XCTAssertEqual(try String(contentsOfFile: stateDir + "/audit.log", encoding: .utf8), audit)
        let restored = try XCTUnwrap(rec2.last)
        let v = try XCTUnwrap(restored.resources[ops]?.contactPoint?.hmacSecret)
        XCTAssertEqual(String(decoding: try again.values.resolver(for: restored)(v, ops, "spec.hmacSecret"), as: UTF8.self), hook)
    }

    /// Without the master key nothing can be opened: the legacy file is left as it is, never half-rewritten.
    func testLegacyStateFileWithoutTheKeyIsLeftAlone() throws {
        let material = try legacyValue(k1, keyID: SensitiveValues.masterKeyID, material: masterMaterial, path: "spec.keys[0].material")
        let legacy = """
        {"generation":3,"hash":"x","origin":"dir","resources":[
        {"apiVersion":"rampart.io/v1alpha1","kind":"Keyring","metadata":{"name":"default","namespace":"default"},"spec":{"keys":[{"id":"k1","material":{"encrypted":"\(material)"}}]}}
        ]}

        """
        try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
        try legacy.write(toFile: stateDir + "/state.json", atomically: true, encoding: .utf8)
        let (r, rec) = try make(master: nil)
        r.restoreFromStateFile()
        XCTAssertEqual(rec.last?.resources.count, 1, "the state still serves what it can")
        XCTAssertEqual(try String(contentsOfFile: stateDir + "/state.json", encoding: .utf8), legacy)
    }

    /// `rampart reencrypt` / `POST /api/v1/keyring/reencrypt` on a legacy state: re-bound and moved to the primary.
    func testReencryptRebindsLegacyValuesToThePrimaryKey() throws {
        let k2 = Data((0..<32).map { UInt8(($0 * 13 + 1) % 256) }).base64EncodedString()
        let hook = "hook-\(UUID().uuidString)"
        let hookEnc = try legacyValue(hook, keyID: "k1", material: k1, path: "spec.hmacSecret")
        let text = """
        {"generation":2,"hash":"x","origin":"dir","resources":[
        {"apiVersion":"rampart.io/v1alpha1","kind":"ContactPoint","metadata":{"name":"ops","namespace":"default"},"spec":{"type":"webhook","url":"https://hooks.example/a","hmacSecret":{"encrypted":"\(hookEnc)"}}}
        ]}
        """
        let state = try XCTUnwrap(StateFile.decode(Array(text.utf8), path: "state.json"))
        let ring = try Keyring(materials: [(id: "k2", material: k2), (id: "k1", material: k1)])
        let values = SensitiveValues(master: nil, lookup: nil)
        let out = String(decoding: try StateFile.reencrypted(state, values: values, keyring: ring), as: UTF8.self)
        XCTAssertFalse(out.contains("$enc:v1:"), out)
        XCTAssertFalse(out.contains(hook))
        let moved = try XCTUnwrap(StateFile.decode(Array(out.utf8), path: "state.json"))
        let ops = ResourceKey(.contactPoint, "default", "ops")
        let value = try XCTUnwrap(moved.resources[ops]?.contactPoint?.hmacSecret)
        guard case .encrypted(let enc) = value.source else { return XCTFail("not encrypted") }
        XCTAssertTrue(enc.hasPrefix("$enc:v2:k2:"), enc)
        XCTAssertEqual(try values.plaintext(value, key: ops, path: "spec.hmacSecret", keyring: ring), Array(hook.utf8))
    }

    /// The admin API's TLS key, encrypted with the master key by an older release, is re-bound in place.
    func testLegacyAdminTLSKeyIsReboundInPlace() throws {
        let sd = try StateDir(stateDir)
        let pem = "-----BEGIN PRIVATE KEY-----\nnot-a-real-key-\(UUID().uuidString)\n-----END PRIVATE KEY-----\n"
        let raw = try XCTUnwrap(Base64.decode(masterMaterial, padding: true))
        let sealed = try AEAD.seal(Array(pem.utf8), key: raw,
                                   additionalData: EncryptedValue.legacyAdditionalData(keyID: SensitiveValues.masterKeyID, fieldPath: AdminTLS.keyField))
        let legacy = try EncryptedValue(keyID: SensitiveValues.masterKeyID, sealed: sealed, version: .v1).description
        try sd.writeAtomically(AdminTLS.encryptedKeyFile, Array((legacy + "\n").utf8))
        let master = try Keyring(materials: [(id: SensitiveValues.masterKeyID, material: masterMaterial)])
        XCTAssertEqual(try AdminTLS.storedKey(stateDir: sd, master: master), Array(pem.utf8))
        let stored = String(decoding: sd.read(AdminTLS.encryptedKeyFile) ?? [], as: UTF8.self)
        XCTAssertTrue(stored.hasPrefix("$enc:v2:master:"), stored)
        XCTAssertFalse(stored.contains("PRIVATE KEY"))
        XCTAssertEqual(try AdminTLS.storedKey(stateDir: sd, master: master), Array(pem.utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: stateDir).sorted(), [AdminTLS.encryptedKeyFile], "no temp or plaintext file left")
    }
}
