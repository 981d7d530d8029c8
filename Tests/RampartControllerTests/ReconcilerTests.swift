import Foundation
import RampartCrypto
import RampartModel
import Synchronization
import TestSupport
import XCTest
@testable import RampartController

/// The reconcile loop against real files and a real state dir; the data plane is replaced by a recorder of applied states.
final class ReconcilerTests: XCTestCase {
    final class Recorder: Sendable {
        let states = Mutex<[DesiredState]>([])
        var count: Int { states.withLock { $0.count } }
        var last: DesiredState? { states.withLock { $0.last } }
    }

    var dir = ""
    var stateDir = ""

    override func setUpWithError() throws {
        let base = try TempDir.make("reconcile")
        dir = base + "/manifests"
        stateDir = base + "/state"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func make(allowEmpty: Bool = false) throws -> (Reconciler, Recorder) {
        let rec = Recorder()
        let sd = try StateDir(stateDir)
        let r = Reconciler(config: ControllerConfig(paths: [dir], allowEmpty: allowEmpty, dev: true), log: Log(level: .error),
                           stateDir: sd, audit: try AuditLog(dir: sd), metrics: ControlMetrics()) { state in
            rec.states.withLock { $0.append(state) }
            return [:]
        }
        return (r, rec)
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
    }

    let upstream = "apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: web}\nspec: {nodes: [{host: 127.0.0.1, port: 9001}]}\n"
    func route(_ path: String) -> String {
        "apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: hello}\nspec: {paths: [\"\(path)\"], upstreamRef: {name: web}}\n"
    }

    func testAppliesOnceAndOnlyOnChange() throws {
        try write("up.yaml", upstream)
        try write("route.yaml", route("/a"))
        let (r, rec) = try make()
        r.reconcileNow("test")
        XCTAssertEqual(rec.count, 1)
        XCTAssertEqual(rec.last?.generation, 1)
        XCTAssertEqual(rec.last?.resources.count, 2)
        r.reconcileNow("again")
        XCTAssertEqual(rec.count, 1, "nothing changed, nothing applied")
        try write("route.yaml", route("/b"))
        r.reconcileNow("changed")
        XCTAssertEqual(rec.last?.generation, 2)
        XCTAssertEqual(rec.last?.resources[ResourceKey(.route, "default", "hello")]?.route?.paths, ["/b"])
        let audit = AuditLog.verify([UInt8](try Data(contentsOf: URL(fileURLWithPath: stateDir + "/audit.log"))))
        XCTAssertNil(audit.firstBad)
        XCTAssertEqual(audit.entries, 3, "two added, then one changed")
    }

    /// What the data plane could not serve is the resource's status; a resolved value that changes is a new
    /// generation of unchanged manifests, audited as a change of that field by its keyed digest.
    func testNotServedStatusAndNewGenerationOnResolvedValueChange() throws {
        try write("up.yaml", upstream + "---\napiVersion: rampart.io/v1alpha1\nkind: SecretRef\nmetadata: {name: k}\nspec: {provider: env, env: {name: K}}\n")
        try write("route.yaml", "apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: hello}\n"
                  + "spec: {paths: [\"/a\"], upstreamRef: {name: web}, plugins: {key-auth: {keys: [{secretRef: {name: k}}]}}}\n")
        let rec = Recorder()
        let refused = Mutex<[ResourceKey: String]>([ResourceKey(.route, "default", "hello"): "plugin key-auth: SecretRef default/k: not resolved"])
        let sd = try StateDir(stateDir)
        let field = "spec.plugins.key-auth.keys[0]"
        let resolved = Mutex<[ResourceKey: [String: ResolvedValue]]>([:])
        let r = Reconciler(config: ControllerConfig(paths: [dir], dev: true), log: Log(level: .error), stateDir: sd,
                           audit: try AuditLog(dir: sd), metrics: ControlMetrics(),
                           resolveValues: { _ in resolved.withLock { $0 } }) { state in
            rec.states.withLock { $0.append(state) }
            return refused.withLock { $0 }
        }
        func ready() -> Condition? {
            r.view.statuses.first { $0.key == ResourceKey(.route, "default", "hello") }?.conditions.first { $0.type == "Ready" }
        }
        r.reconcileNow("start")
        XCTAssertEqual(ready()?.status, false)
        XCTAssertEqual(ready()?.reason, "NotServed")
        XCTAssertEqual(ready()?.message, "plugin key-auth: SecretRef default/k: not resolved")
        XCTAssertEqual(r.view.statuses.first { $0.key.kind == .upstream }?.conditions.last?.status, true)

        refused.withLock { $0 = [:] }
        r.trigger("file change")
        r.reconcileNow("sync")
        XCTAssertEqual(rec.count, 1, "unchanged manifests without a secret change: nothing applied")
        let hello = ResourceKey(.route, "default", "hello")
        resolved.withLock { $0 = [hello: [field: ResolvedValue(digest: "hmac-sha256:aa", version: nil)]] }
        r.trigger("secret default/k changed")
        XCTAssertTrue(Poll.until { rec.count == 2 })
        r.reconcileNow("sync")
        XCTAssertEqual(rec.last?.generation, 2)
        XCTAssertEqual(ready()?.status, true)
        XCTAssertEqual(ready()?.reason, "Serving")

        resolved.withLock { $0 = [hello: [field: ResolvedValue(digest: "hmac-sha256:bb", version: "7")]] }
        r.trigger("secret default/k changed")
        XCTAssertTrue(Poll.until { rec.count == 3 })
        r.reconcileNow("sync")
        XCTAssertEqual(rec.count, 3, "the same resolved value again: nothing applied")
        let log = try String(contentsOfFile: stateDir + "/audit.log", encoding: .utf8)
        let last = try XCTUnwrap(log.split(separator: "\n").last.map(String.init))
        XCTAssertTrue(last.contains("\"generationFrom\":2,\"generationTo\":3"), last)
        XCTAssertTrue(last.contains("resolved: hmac-sha256:aa") && last.contains("resolved: hmac-sha256:bb"), last)
        XCTAssertTrue(last.contains("version:"), last)
        let state = try String(contentsOfFile: stateDir + "/state.json", encoding: .utf8)
        XCTAssertTrue(state.contains("\"digest\":\"hmac-sha256:bb\",\"version\":\"7\""), state)
    }

    /// A new Route invalid only in what it does is held closed by its match keys; one with a serving version is not.
    func testInvalidNewRouteIsHeldClosedUnlessAVersionServes() throws {
        try write("up.yaml", upstream)
        try write("route.yaml", route("/a"))
        let typo = "plugins: {key-auth: {keys: [{value: k}], heder: x}}"
        func routeDoc(_ name: String, _ path: String, _ extra: String) -> String {
            "apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: \(name)}\nspec: {paths: [\"\(path)\"], upstreamRef: {name: web}, \(extra)}\n"
        }
        try write("admin.yaml", routeDoc("admin", "/admin/*", typo) + "---\n" + routeDoc("same", "/a", typo)
                  + "---\n" + routeDoc("dangling", "/d", "plugins: {key-auth: {keys: [{secretRef: {name: none}}]}}"))
        let (r, rec) = try make()
        r.reconcileNow("start")
        let held = try XCTUnwrap(rec.last?.heldClosed)
        XCTAssertEqual(held[ResourceKey(.route, "default", "admin")]?.paths, ["/admin/*"])
        XCTAssertNil(held[ResourceKey(.route, "default", "same")], "would only take a serving Route's traffic")
        XCTAssertEqual(held[ResourceKey(.route, "default", "dangling")]?.paths, ["/d"], "a dangling SecretRef is in what it does")
        XCTAssertNil(rec.last?.resources[ResourceKey(.route, "default", "admin")], "held closed is not accepted")
        let ready = r.view.statuses.first { $0.key.name == "admin" }?.conditions.first { $0.type == "Ready" }
        XCTAssertEqual(ready?.reason, "NotServed")
        XCTAssertTrue(ready?.message.contains("503") ?? false)

        // The serving Route gets the same typo: its last good version serves, nothing is held for it.
        try write("route.yaml", routeDoc("hello", "/a", typo))
        r.reconcileNow("typo in a serving route")
        XCTAssertNil(rec.last?.heldClosed[ResourceKey(.route, "default", "hello")])
        XCTAssertEqual(r.view.serving.resources[ResourceKey(.route, "default", "hello")]?.route?.paths, ["/a"])
        // Fixed: accepted and no longer held.
        try write("admin.yaml", routeDoc("admin", "/admin/*", "plugins: {key-auth: {keys: [{value: k}]}}"))
        r.reconcileNow("fixed")
        XCTAssertEqual(rec.last?.heldClosed.isEmpty, true)
        XCTAssertNotNil(rec.last?.resources[ResourceKey(.route, "default", "admin")])
    }

    func testBrokenFileKeepsItsLastGoodResources() throws {
        try write("up.yaml", upstream)
        try write("route.yaml", route("/a"))
        let (r, rec) = try make()
        r.reconcileNow("test")
        try write("route.yaml", "apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: hello\n")
        r.reconcileNow("broken")
        XCTAssertEqual(rec.count, 1, "the broken file changed nothing that serves")
        XCTAssertEqual(r.view.serving.resources.count, 2)
        XCTAssertTrue(r.view.errors.contains { $0.description.contains("route.yaml:") }, "\(r.view.errors)")
        try write("route.yaml", route("/fixed"))
        r.reconcileNow("fixed")
        XCTAssertEqual(rec.last?.resources[ResourceKey(.route, "default", "hello")]?.route?.paths, ["/fixed"])
        XCTAssertTrue(r.view.errors.isEmpty)
    }

    func testInvalidResourceKeepsLastGoodWhileTheRestApplies() throws {
        try write("up.yaml", upstream)
        try write("route.yaml", route("/a"))
        let (r, rec) = try make()
        r.reconcileNow("test")
        try write("up.yaml", upstream.replacingOccurrences(of: "9001", with: "99999"))
        try write("route2.yaml", route("/c").replacingOccurrences(of: "hello", with: "second"))
        r.reconcileNow("mixed")
        XCTAssertEqual(rec.last?.generation, 2)
        XCTAssertEqual(rec.last?.resources[ResourceKey(.upstream, "default", "web")]?.upstream?.nodes.first?.port, 9001, "last good upstream kept")
        XCTAssertNotNil(rec.last?.resources[ResourceKey(.route, "default", "second")], "the valid rest applied")
        let status = r.view.statuses.first { $0.key == ResourceKey(.upstream, "default", "web") }
        XCTAssertEqual(status?.conditions.first { $0.type == "Accepted" }?.status, false)
        XCTAssertEqual(status?.conditions.first { $0.type == "Ready" }?.reason, "ServingLastGood")
    }

    func testDeletedFileDeletesAndEmptyDirectoryIsKeptUnlessAllowed() throws {
        try write("up.yaml", upstream)
        try write("route.yaml", route("/a"))
        let (r, rec) = try make()
        r.reconcileNow("test")
        try FileManager.default.removeItem(atPath: dir + "/route.yaml")
        r.reconcileNow("deleted")
        XCTAssertEqual(rec.last?.resources.keys.map(\.kind), [.upstream])
        try FileManager.default.removeItem(atPath: dir + "/up.yaml")
        r.reconcileNow("emptied")
        XCTAssertEqual(rec.last?.resources.count, 1, "an emptied source is a probable mistake")
        XCTAssertTrue(r.view.errors.contains { $0.message.contains("--allow-empty") })
        let (r2, rec2) = try make(allowEmpty: true)
        r2.restoreFromStateFile()
        XCTAssertEqual(rec2.last?.resources.count, 1)
        r2.reconcileNow("allowed")
        XCTAssertEqual(rec2.last?.resources.count, 0)
    }

    func testRestartServesStateFileBeforeSources() throws {
        try write("up.yaml", upstream)
        try write("route.yaml", route("/a"))
        let (r, _) = try make()
        r.reconcileNow("test")
        try FileManager.default.removeItem(atPath: dir)
        let (r2, rec2) = try make()
        r2.restoreFromStateFile()
        XCTAssertEqual(rec2.last?.generation, 1)
        XCTAssertEqual(rec2.last?.resources.count, 2)
        XCTAssertEqual(rec2.last?.hash, r.view.serving.hash)
        r2.reconcileNow("source gone")
        XCTAssertEqual(rec2.count, 1, "a missing source keeps the restored state")
        var st = stat()
        stat(stateDir + "/state.json", &st)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        stat(stateDir, &st)
        XCTAssertEqual(st.st_mode & 0o777, 0o700)
    }

    func testInlineSecretsNeverReachStateOrAudit() throws {
        let secret = "pt-\(UUID().uuidString)"
        try write("cp.yaml", "apiVersion: rampart.io/v1alpha1\nkind: ContactPoint\nmetadata: {name: ops}\nspec: {type: webhook, url: https://hooks.example/a, hmacSecret: {value: \(secret)}}\n")
        let (r, _) = try make()
        r.reconcileNow("test")
        for f in try FileManager.default.contentsOfDirectory(atPath: stateDir) {
            let bytes = try String(contentsOfFile: stateDir + "/" + f, encoding: .isoLatin1)
            XCTAssertFalse(bytes.contains(secret), f)
        }
        XCTAssertFalse(r.view.serving.configJSON().contains(secret))
        XCTAssertTrue(r.view.serving.configJSON().contains("\"hmacSecret\":\"***\""))
        let audit = try String(contentsOfFile: stateDir + "/audit.log", encoding: .utf8)
        XCTAssertTrue(audit.contains("hmac-sha256:"), audit)
    }
    /// Past `parallelAuditThreshold` changed resources the audit diffs are made on several threads in
    /// chunks: every resource still gets exactly its own entry, in sorted key order, chained, masked.
    func testALargeChangeGetsOneEntryPerResourceInKeyOrder() throws {
        let count = Reconciler.parallelAuditThreshold + 189
        let secret = "pt-\(UUID().uuidString)"
        func routes(_ names: [Int]) -> String {
            names.map { "---\napiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: r\($0)}\nspec: {paths: [\"/r\($0)/x\"], upstreamRef: {name: web}}\n" }
                .joined()
        }
        try write("up.yaml", upstream)
        try write("cp.yaml", "apiVersion: rampart.io/v1alpha1\nkind: ContactPoint\nmetadata: {name: ops}\nspec: {type: webhook, url: https://hooks.example/a, hmacSecret: {value: \(secret)}}\n")
        try write("routes.yaml", routes(Array(0..<count)))
        let (r, rec) = try make()
        r.reconcileNow("create")
        XCTAssertEqual(rec.last?.resources.count, count + 2)
        // Half of them go away in one change, and one is edited.
        try write("routes.yaml", routes(Array(stride(from: 0, to: count, by: 2))).replacingOccurrences(of: "/r0/x", with: "/r0/y"))
        r.reconcileNow("shrink")
        XCTAssertEqual(rec.last?.resources.count, (count + 1) / 2 + 2)

        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: stateDir + "/audit.log")))
        XCTAssertNil(AuditLog.verify(bytes).firstBad)
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertFalse(text.contains(secret))
        struct Line: Decodable { let kind: String; let namespace: String; let name: String; let action: String; let generationTo: Int; let diff: String }
        let entries = try text.split(separator: "\n").map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
        for generation in [1, 2] {
            let these = entries.filter { $0.generationTo == generation }
            let keys = these.map { ResourceKey(Kind(rawValue: $0.kind) ?? .route, $0.namespace, $0.name) }
            XCTAssertEqual(keys, keys.sorted(), "generation \(generation): entries in key order")
            XCTAssertEqual(Set(keys).count, keys.count, "generation \(generation): one entry per resource")
            for e in these where e.kind == Kind.route.rawValue && e.name != "r0" {
                // Created or deleted: the whole text of its own resource and no other, so a chunk never
                // mixes up whose text is whose (r0's edit shows only the lines around its path).
                XCTAssertTrue(e.diff.contains("name: \(e.name)\n"), e.name)
                XCTAssertEqual(e.diff.components(separatedBy: "name: r").count, 2, e.name)
            }
        }
        let created = entries.filter { $0.generationTo == 1 && $0.kind == Kind.route.rawValue }
        XCTAssertEqual(Set(created.map(\.name)), Set((0..<count).map { "r\($0)" }))
        let second = entries.filter { $0.generationTo == 2 }
        XCTAssertEqual(Set(second.map(\.name)), Set(stride(from: 1, to: count, by: 2).map { "r\($0)" } + ["r0"]))
        XCTAssertTrue(second.first { $0.name == "r0" }?.diff.contains("/r0/y") ?? false)
    }
}

/// The Keyring: encrypted state, the master key for the Keyring's own material, and safe rotation.
final class KeyringStateTests: XCTestCase {
    var dir = "", stateDir = ""
    let k1 = Data((0..<32).map { UInt8($0) }).base64EncodedString()
    let k2 = Data((0..<32).map { UInt8(255 - $0) }).base64EncodedString()

    override func setUpWithError() throws {
        let base = try TempDir.make("keyring")
        dir = base + "/m"
        stateDir = base + "/state"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func make(master: String? = nil) throws -> (Reconciler, ReconcilerTests.Recorder) {
        var masterRing: Keyring?
        if let master { masterRing = try Keyring(materials: [(id: SensitiveValues.masterKeyID, material: master)]) }
        let rec = ReconcilerTests.Recorder()
        let sd = try StateDir(stateDir)
        let r = Reconciler(config: ControllerConfig(paths: [dir], dev: true), log: Log(level: .error), stateDir: sd,
                           audit: try AuditLog(dir: sd), metrics: ControlMetrics(), values: SensitiveValues(master: masterRing, lookup: nil)) { s in
            rec.states.withLock { $0.append(s) }
            return [:]
        }
        return (r, rec)
    }

    func keyring(_ keys: [(String, String)]) -> String {
        "apiVersion: rampart.io/v1alpha1\nkind: Keyring\nmetadata: {name: default}\nspec:\n  keys:\n"
            + keys.map { "    - {id: \($0.0), material: {value: \"\($0.1)\"}}\n" }.joined()
    }

    func contactPoint(_ secret: String) -> String {
        "apiVersion: rampart.io/v1alpha1\nkind: ContactPoint\nmetadata: {name: ops}\nspec: {type: webhook, url: https://hooks.example/x, hmacSecret: \(secret)}\n"
    }

    func testInlineSecretsAreStoredEncryptedAndDecryptAfterRestart() throws {
        let secret = "pt-\(UUID().uuidString)"
        try keyring([("k1", k1)]).write(toFile: dir + "/keyring.yaml", atomically: true, encoding: .utf8)
        try contactPoint("{value: \(secret)}").write(toFile: dir + "/cp.yaml", atomically: true, encoding: .utf8)
        let (r, _) = try make(master: "a master passphrase")
        r.reconcileNow("test")
        let state = try String(contentsOfFile: stateDir + "/state.json", encoding: .utf8)
        XCTAssertFalse(state.contains(secret))
        XCTAssertFalse(state.contains(k1), "the Keyring's material is never stored in plaintext")
        XCTAssertTrue(state.contains("$enc:v2:k1:"), state)
        XCTAssertTrue(state.contains("$enc:v2:master:"), state)

        try FileManager.default.removeItem(atPath: dir)
        let (again, rec) = try make(master: "a master passphrase")
        again.restoreFromStateFile()
        let restored = try XCTUnwrap(rec.last)
        let cp = try XCTUnwrap(restored.resources[ResourceKey(.contactPoint, "default", "ops")]?.contactPoint?.hmacSecret)
        let plain = try again.values.resolver(for: restored)(cp, ResourceKey(.contactPoint, "default", "ops"), "spec.hmacSecret")
        XCTAssertEqual(String(decoding: plain, as: UTF8.self), secret)
    }

    func testWithoutMasterKeyTheKeyringIsNotStored() throws {
        try keyring([("k1", k1)]).write(toFile: dir + "/keyring.yaml", atomically: true, encoding: .utf8)
        let (r, _) = try make()
        r.reconcileNow("test")
        let state = try String(contentsOfFile: stateDir + "/state.json", encoding: .utf8)
        XCTAssertFalse(state.contains("\"Keyring\""), state)
        XCTAssertFalse(state.contains(k1))
    }

    func testRemovingAKeyThatStillProtectsValuesIsRefused() throws {
        let ring = try Keyring(materials: [(id: "k1", material: k1)])
        let enc = try ring.encrypt(plaintext: Array("hook-secret".utf8), binding: SensitiveValues.binding(ResourceKey(.contactPoint, "default", "ops"), "spec.hmacSecret"))
        try keyring([("k1", k1)]).write(toFile: dir + "/keyring.yaml", atomically: true, encoding: .utf8)
        try contactPoint("{encrypted: \"\(enc)\"}").write(toFile: dir + "/cp.yaml", atomically: true, encoding: .utf8)
        let (r, rec) = try make()
        r.reconcileNow("test")
        XCTAssertEqual(rec.last?.resources.count, 2)

        try keyring([("k2", k2)]).write(toFile: dir + "/keyring.yaml", atomically: true, encoding: .utf8)
        r.reconcileNow("drop k1")
        let error = r.view.errors.map(\.description).joined(separator: "\n")
        XCTAssertTrue(error.contains("key \"k1\" still protects 1 stored value"), error)
        XCTAssertEqual(rec.last?.resources[ResourceKey(.keyring, "default", "default")]?.keyring?.keys.map(\.id), ["k1"], "the old Keyring keeps serving")

        try keyring([("k2", k2), ("k1", k1)]).write(toFile: dir + "/keyring.yaml", atomically: true, encoding: .utf8)
        r.reconcileNow("rotate")
        XCTAssertEqual(rec.last?.resources[ResourceKey(.keyring, "default", "default")]?.keyring?.keys.map(\.id), ["k2", "k1"])
        XCTAssertTrue(r.view.errors.isEmpty)
        let state = try XCTUnwrap(rec.last)
        let cp = try XCTUnwrap(state.resources[ResourceKey(.contactPoint, "default", "ops")]?.contactPoint?.hmacSecret)
        XCTAssertEqual(try r.values.resolver(for: state)(cp, ResourceKey(.contactPoint, "default", "ops"), "spec.hmacSecret"), Array("hook-secret".utf8))
    }
}

/// API issue 6's rotation story, end to end through the reconciler and the state dir.
extension KeyringStateTests {
    func testRotationStory() throws {
        let secret = "story-\(UUID().uuidString)"
        let cp = contactPoint("{value: \(secret)}")
        try cp.write(toFile: dir + "/cp.yaml", atomically: true, encoding: .utf8)
        func ring(_ keys: [(String, String)]) throws { try keyring(keys).write(toFile: dir + "/keyring.yaml", atomically: true, encoding: .utf8) }
        func state() throws -> String { try String(contentsOfFile: stateDir + "/state.json", encoding: .utf8) }
        let opsKey = ResourceKey(.contactPoint, "default", "ops")

        // 1. State encrypted with k1.
        try ring([("k1", k1)])
        let (r, rec) = try make(master: "master passphrase")
        r.reconcileNow("k1")
        XCTAssertTrue(try state().contains("$enc:v2:k1:"))
        // 2. k2 added first: everything still decrypts, stored values stay under k1 until reencrypt.
        try ring([("k2", k2), ("k1", k1)])
        r.reconcileNow("k2 first")
        XCTAssertEqual(rec.last?.resources[ResourceKey(.keyring, "default", "default")]?.keyring?.keys.map(\.id), ["k2", "k1"])
        XCTAssertTrue(try state().contains("$enc:v2:k1:"), "stored values are not silently moved")
        // 3. Removing k1 is refused, naming the key and the count; the old Keyring keeps serving.
        try ring([("k2", k2)])
        r.reconcileNow("drop k1")
        XCTAssertTrue(r.view.errors.contains { $0.message.contains("key \"k1\" still protects 1 stored value") }, "\(r.view.errors)")
        XCTAssertEqual(rec.last?.resources[ResourceKey(.keyring, "default", "default")]?.keyring?.keys.map(\.id), ["k2", "k1"])
        // 4. reencrypt moves the stored values to k2 (audit-logged).
        let counts = try r.reencryptState(actor: "test")
        XCTAssertEqual(counts.before["k1"], 1)
        XCTAssertEqual(counts.after["k2"], 1)
        XCTAssertNil(counts.after["k1"])
        XCTAssertTrue(try String(contentsOfFile: stateDir + "/audit.log", encoding: .utf8).contains("\"action\":\"reencrypt\""))
        // 5. Now removing k1 is accepted.
        r.reconcileNow("drop k1 again")
        XCTAssertEqual(rec.last?.resources[ResourceKey(.keyring, "default", "default")]?.keyring?.keys.map(\.id), ["k2"])
        XCTAssertFalse(try state().contains("$enc:v2:k1:"))
        // 6. Restart from state.json alone: everything decrypts.
        try FileManager.default.removeItem(atPath: dir)
        let (again, rec2) = try make(master: "master passphrase")
        again.restoreFromStateFile()
        let restored = try XCTUnwrap(rec2.last)
        let value = try XCTUnwrap(restored.resources[opsKey]?.contactPoint?.hmacSecret)
        XCTAssertEqual(String(decoding: try again.values.resolver(for: restored)(value, opsKey, "spec.hmacSecret"), as: UTF8.self), secret)
        XCTAssertFalse(try state().contains(secret))
    }

    func testBadCiphertextIsAClearErrorNamingTheField() throws {
        let ring = try Keyring(materials: [(id: "k1", material: k1)])
        let good = try ring.encrypt(plaintext: Array("x".utf8), binding: SensitiveValues.binding(ResourceKey(.contactPoint, "default", "ops"), "spec.hmacSecret"))
        let values = SensitiveValues(master: nil, lookup: nil)
        let key = ResourceKey(.contactPoint, "default", "ops")
        let cases: [(String, String)] = [
            (String(good.dropLast(6)) + "AAAA==", "cannot decrypt"),                    // corrupted
            ("$enc:v2:k1:", "cannot decrypt"),                                          // truncated
            ("$enc:v2:k9:" + (good.split(separator: ":").last.map(String.init) ?? ""), "cannot decrypt with key \"k9\""),  // unknown key
        ]
        for (enc, want) in cases {
            XCTAssertThrowsError(try values.plaintext(Sensitive(.encrypted(enc)), key: key, path: "spec.hmacSecret", keyring: ring)) {
                XCTAssertTrue("\($0)".contains("ContactPoint default/ops spec.hmacSecret") && "\($0)".contains(want), "\($0)")
            }
        }
        // Moved to another field: the additional data no longer matches.
        XCTAssertThrowsError(try values.plaintext(Sensitive(.encrypted(good)), key: key, path: "spec.headers.Authorization", keyring: ring)) {
            XCTAssertTrue("\($0)".contains("spec.headers.Authorization"), "\($0)")
        }
        // A wrong master key fails to decrypt the Keyring's material, clearly.
        let master = try Keyring(materials: [(id: SensitiveValues.masterKeyID, material: "right")])
        let sealed = try master.encrypt(plaintext: Array(k1.utf8), binding: SensitiveValues.binding(ResourceKey(.keyring, "default", "default"), "spec.keys[0].material"))
        let wrong = SensitiveValues(master: try Keyring(materials: [(id: SensitiveValues.masterKeyID, material: "wrong")]), lookup: nil)
        XCTAssertThrowsError(try wrong.plaintext(Sensitive(.encrypted(sealed)), key: ResourceKey(.keyring, "default", "default"), path: "spec.keys[0].material", keyring: nil))
    }
}

/// A state file is input too: a number in it must not be able to trap the next reconcile.
final class StateFileBoundsTests: XCTestCase {
    func testGenerationNearIntMaxIsRefused() {
        let doc = { (gen: String) in Array("{\"generation\":\(gen),\"hash\":\"\",\"origin\":\"dir\",\"resources\":[]}\n".utf8) }
        XCTAssertEqual(StateFile.decode(doc("7"), path: "state.json")?.generation, 7)
        XCTAssertNil(StateFile.decode(doc("9223372036854775807"), path: "state.json"))
        XCTAssertNil(StateFile.decode(doc("-1"), path: "state.json"))
    }
}
