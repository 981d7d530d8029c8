import Foundation
import RampartCrypto
import RampartModel
import TestSupport
import XCTest
@testable import RampartController

/// A change the audit log cannot record is not applied.
extension ReconcilerTests {
    func testChangeWhoseAuditEntryCannotBeWrittenIsNotApplied() throws {
        try write("up.yaml", upstream)
        try write("route.yaml", route("/a"))
        let rec = Recorder()
        let sd = try StateDir(stateDir)
        let metrics = ControlMetrics()
        let r = Reconciler(config: ControllerConfig(paths: [dir], dev: true), log: Log(level: .error), stateDir: sd,
                           audit: try AuditLog(dir: sd), metrics: metrics) { state in
            rec.states.withLock { $0.append(state) }
            return [:]
        }
        r.reconcileNow("start")
        XCTAssertEqual(rec.count, 1)
        let audit = sd.file(AuditLog.fileName)
        XCTAssertEqual(link(audit, audit + ".kept"), 0)
        XCTAssertEqual(symlink("/dev/full", audit + ".full"), 0)
        XCTAssertEqual(rename(audit + ".full", audit), 0, "every write now fails with ENOSPC, as on a full disk")
        let stateBefore = try XCTUnwrap(sd.read(StateFile.name))

        try write("route.yaml", route("/b"))
        r.reconcileNow("changed")
        XCTAssertEqual(rec.count, 1, "not applied")
        XCTAssertEqual(r.view.serving.generation, 1)
        XCTAssertTrue(r.view.errors.contains { $0.message.contains("cannot write the audit log") && $0.message.contains("No space left on device") }, "\(r.view.errors)")
        XCTAssertTrue(metrics.text().contains("rampart_config_reloads_total{result=\"audit_failed\"} 1"), metrics.text())
        XCTAssertEqual(sd.read(StateFile.name), stateBefore, "state.json still holds the serving generation")

        XCTAssertEqual(rename(audit + ".kept", audit), 0)
        r.reconcileNow("space again")
        XCTAssertEqual(rec.last?.generation, 2)
        XCTAssertEqual(rec.last?.resources[ResourceKey(.route, "default", "hello")]?.route?.paths, ["/b"])
        XCTAssertTrue(r.view.errors.isEmpty, "\(r.view.errors)")
        let v = AuditLog.verify(try XCTUnwrap(sd.read(AuditLog.fileName)))
        XCTAssertNil(v.firstBad)
        XCTAssertEqual(v.entries, 3, "two added, one changed: nothing lost, nothing doubled")
    }
}

/// Deleting the Keyring or emptying its keys drops every key: refused while a stored value needs one.
extension KeyringStateTests {
    func testDeletingOrEmptyingTheKeyringIsRefusedWhileValuesNeedIt() throws {
        let ring = try Keyring(materials: [(id: "k1", material: k1)])
        let enc = try ring.encrypt(plaintext: Array("hook-secret".utf8), binding: SensitiveValues.binding(ResourceKey(.contactPoint, "default", "ops"), "spec.hmacSecret"))
        try keyring([("k1", k1)]).write(toFile: dir + "/keyring.yaml", atomically: true, encoding: .utf8)
        try contactPoint("{encrypted: \"\(enc)\"}").write(toFile: dir + "/cp.yaml", atomically: true, encoding: .utf8)
        let (r, rec) = try make()
        r.reconcileNow("test")
        let ringKey = ResourceKey(.keyring, "default", "default")
        XCTAssertEqual(rec.last?.resources[ringKey]?.keyring?.keys.map(\.id), ["k1"])
        let applied = rec.count

        try FileManager.default.removeItem(atPath: dir + "/keyring.yaml")
        r.reconcileNow("delete")
        var errors = r.view.errors.map(\.description).joined(separator: "\n")
        XCTAssertTrue(errors.contains("deleting Keyring default/default: removing key \"k1\" still protects 1 stored value"), errors)
        XCTAssertEqual(rec.count, applied, "nothing changed: the previous Keyring keeps serving")
        XCTAssertEqual(r.view.serving.resources[ringKey]?.keyring?.keys.map(\.id), ["k1"])

        for emptied in ["  keys: []\n", "  keys:\n"] {
            try (keyring([]).replacingOccurrences(of: "  keys:\n", with: "") + emptied).write(toFile: dir + "/keyring.yaml", atomically: true, encoding: .utf8)
            r.reconcileNow("empty")
            errors = r.view.errors.map(\.description).joined(separator: "\n")
            XCTAssertTrue(errors.contains("emptying the Keyring's keys: removing key \"k1\" still protects 1 stored value"), errors)
            XCTAssertEqual(r.view.serving.resources[ringKey]?.keyring?.keys.map(\.id), ["k1"])
        }

        // A Keyring broken elsewhere than its key list is kept by validation but is not called an emptying.
        try keyring([("k1", k1), ("bad id!", k2)]).write(toFile: dir + "/keyring.yaml", atomically: true, encoding: .utf8)
        r.reconcileNow("typo")
        errors = r.view.errors.map(\.description).joined(separator: "\n")
        XCTAssertFalse(errors.contains("still protects"), errors)

        // With no stored value under it, deleting the Keyring is an ordinary change.
        try FileManager.default.removeItem(atPath: dir + "/cp.yaml")
        try keyring([("k1", k1)]).write(toFile: dir + "/keyring.yaml", atomically: true, encoding: .utf8)
        r.reconcileNow("cp gone")
        try FileManager.default.removeItem(atPath: dir + "/keyring.yaml")
        try upstream().write(toFile: dir + "/up.yaml", atomically: true, encoding: .utf8)
        r.reconcileNow("delete again")
        XCTAssertNil(r.view.serving.resources[ringKey], "\(r.view.errors)")
        XCTAssertTrue(r.view.errors.isEmpty, "\(r.view.errors)")
    }

    /// An emptied source is the empty-source rule's case: the refusal does not resurrect the Keyring
    /// alone (which would turn "keep everything" into "delete everything but the Keyring").
    func testEmptySourceIsNotAKeyringDeletion() throws {
        let ring = try Keyring(materials: [(id: "k1", material: k1)])
        let enc = try ring.encrypt(plaintext: Array("hook-secret".utf8), binding: SensitiveValues.binding(ResourceKey(.contactPoint, "default", "ops"), "spec.hmacSecret"))
        try keyring([("k1", k1)]).write(toFile: dir + "/keyring.yaml", atomically: true, encoding: .utf8)
        try contactPoint("{encrypted: \"\(enc)\"}").write(toFile: dir + "/cp.yaml", atomically: true, encoding: .utf8)
        let (r, rec) = try make()
        r.reconcileNow("test")
        let applied = rec.count
        for file in ["keyring.yaml", "cp.yaml"] { try FileManager.default.removeItem(atPath: dir + "/" + file) }
        r.reconcileNow("emptied")
        let errors = r.view.errors.map(\.description).joined(separator: "\n")
        XCTAssertTrue(errors.contains("the source holds no resources"), errors)
        XCTAssertFalse(errors.contains("still protects"), errors)
        XCTAssertEqual(rec.count, applied)
        XCTAssertEqual(r.view.serving.resources.count, 2, "everything keeps serving")
    }

    func upstream() -> String {
        "apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: web}\nspec: {nodes: [{host: 127.0.0.1, port: 9001}]}\n"
    }
}
