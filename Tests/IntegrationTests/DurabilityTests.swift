import Foundation
import TestSupport
import XCTest

/// The control plane under the failures of real deployments: a swapped source symlink, a second
/// instance on the same state dir, a crash mid-write of the audit log, an audit log that cannot be written.
final class DurabilityTests: XCTestCase {
    let upstreamAndRoute = { (port: Int, path: String) in
        Manifests.upstream("web", port: port) + "---\n" + Manifests.route("web", paths: [path], upstream: "web")
    }

    func reloads(_ r: RampartInstance, _ result: String = "success") -> Int? {
        guard let body = Curl.get(r.adminURL + "/metrics")?.body else { return nil }
        let prefix = "rampart_config_reloads_total{result=\"\(result)\"} "
        return body.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) }
    }

    func verify(_ stateDir: String) throws -> CommandResult { try Command.rampart(["audit", "verify", "--state-dir", stateDir]) }

    /// git-sync's `--link` layout: the path given to `rampart run` is a symlink replaced with `mv -T`.
    func testSymlinkedSourceSwapIsFollowedWithOneReloadPerSwap() throws {
        let up = try TestUpstream(name: "up")
        let base = try TempDir.make("link")
        let fm = FileManager.default
        for (rev, path) in [("rev1", "/one"), ("rev2", "/two"), ("rev3", "/three")] {
            try fm.createDirectory(atPath: base + "/" + rev, withIntermediateDirectories: true)
            try upstreamAndRoute(up.port, path).write(toFile: base + "/\(rev)/all.yaml", atomically: false, encoding: .utf8)
        }
        XCTAssertEqual(symlink("rev1", base + "/current"), 0)
        let r = try RampartInstance()
        try r.start(paths: [base + "/current"])
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/one")?.status == 200 }, r.log)
        func swap(to rev: String) {
            XCTAssertEqual(symlink(rev, base + "/current.tmp"), 0)
            XCTAssertEqual(rename(base + "/current.tmp", base + "/current"), 0, "mv -T: an atomic replace of the link")
        }
        let start = try XCTUnwrap(reloads(r))

        swap(to: "rev2")
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/two")?.status == 200 }, r.log)
        XCTAssertEqual(Curl.get(r.url + "/one")?.status, 404)
        XCTAssertTrue(Poll.until { reloads(r) == start + 1 }, "one swap, one reload: \(reloads(r) ?? -1)")

        // The new target is watched: an edit inside it is served without a swap.
        try upstreamAndRoute(up.port, "/two-edited").write(toFile: base + "/rev2/all.yaml.tmp", atomically: false, encoding: .utf8)
        XCTAssertEqual(rename(base + "/rev2/all.yaml.tmp", base + "/rev2/all.yaml"), 0)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/two-edited")?.status == 200 }, r.log)
        XCTAssertTrue(Poll.until { reloads(r) == start + 2 }, "\(reloads(r) ?? -1)")

        swap(to: "rev3")
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/three")?.status == 200 }, r.log)
        XCTAssertTrue(Poll.until { reloads(r) == start + 3 }, "the second swap, one more reload: \(reloads(r) ?? -1)")
        let audit = try String(contentsOfFile: r.stateDir + "/audit.log", encoding: .utf8)
        XCTAssertEqual(audit.components(separatedBy: "\"generationTo\":4,").count - 1, 1, "generation 4 (the second swap) is one changed Route")
        XCTAssertEqual(r.stop(), 0)
        XCTAssertEqual(try verify(r.stateDir).code, 0)
    }

    func testOneInstancePerStateDirAndOfflineReencryptIsRefusedWhileRunning() throws {
        let up = try TestUpstream(name: "up")
        let r = try RampartInstance(extraArgs: ["--dev"])
        let key = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        try r.write("a.yaml", upstreamAndRoute(up.port, "/*"))
        try r.write("keyring.yaml", "apiVersion: rampart.io/v1alpha1\nkind: Keyring\nmetadata: {name: default}\nspec:\n  keys:\n    - {id: k1, material: {value: \"\(key)\"}}\n")
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/x")?.status == 200 }, r.log)

        let second = try Command.rampart(["run", r.manifests, "--listen", "127.0.0.1:\(Ports.free())", "--admin", "127.0.0.1:\(Ports.free())",
                                          "--admin-tls", "off", "--state-dir", r.stateDir, "--dev"])
        XCTAssertEqual(second.code, 2, second.stderr)
        XCTAssertTrue(second.stderr.contains("is in use by another rampart process (pid \(r.process?.pid ?? -1))"), second.stderr)

        let offline = try Command.rampart(["reencrypt", r.manifests, "--state-dir", r.stateDir])
        XCTAssertEqual(offline.code, 2, offline.stderr)
        XCTAssertTrue(offline.stderr.contains("POST /api/v1/keyring/reencrypt"), offline.stderr)
        XCTAssertEqual(try verify(r.stateDir).code, 0, "the refused processes wrote nothing")
        XCTAssertEqual(Curl.get(r.url + "/x")?.status, 200, "the running instance is untouched")

        // The kernel drops the lock with its holder, even on kill -9: no stale lock to clean up by hand.
        r.process?.kill9()
        let afterCrash = try Command.rampart(["reencrypt", r.manifests, "--state-dir", r.stateDir])
        XCTAssertEqual(afterCrash.code, 0, afterCrash.stderr)
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertEqual(r.stop(), 0)
    }

    func testTornAuditLineIsRepairedAtStartAndTheChainContinues() throws {
        let up = try TestUpstream(name: "up")
        let r = try RampartInstance()
        try r.write("a.yaml", upstreamAndRoute(up.port, "/a"))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/a")?.status == 200 }, r.log)
        XCTAssertEqual(r.stop(), 0)
        let path = r.stateDir + "/audit.log"
        let whole = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(whole.split(separator: "\n").count, 2)
        // What a crash between write(2)'s first and last byte leaves: half of entry 3.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("{\"seq\":3,\"time\":\"2026-12-01T10:00:00.000Z\",\"actor\":\"dir\",\"action\":\"chan".utf8))
        try handle.close()
        let torn = try verify(r.stateDir)
        XCTAssertEqual(torn.code, 1)
        XCTAssertTrue(torn.stdout.contains("torn by an interrupted write"), torn.stdout)

        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(r.log.contains("audit log repaired at start"), r.log)
        try r.write("a.yaml", upstreamAndRoute(up.port, "/b"))
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/b")?.status == 200 }, r.log)
        XCTAssertEqual(r.stop(), 0)

        let repaired = try verify(r.stateDir)
        XCTAssertEqual(repaired.code, 0, repaired.stdout)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(repaired.stdout.contains("4 entries"), repaired.stdout + text)
        let lines = text.split(separator: "\n")
        XCTAssertTrue(lines.count == 4 && lines[2].hasPrefix("{\"seq\":3,") && lines[2].contains("\"action\":\"repair\""), "\(lines)")
        XCTAssertTrue(lines[2].contains("removed a torn last line"), String(lines[2]))
        XCTAssertFalse(lines.contains { $0.contains("\"action\":\"chan\"") || $0.hasSuffix("chan") }, "the torn bytes are gone")
    }

    /// Disk full: writes to the audit log fail with ENOSPC (/dev/full; root ignores a read-only mode).
    func testChangeIsNotAppliedWhenItsAuditEntryCannotBeWritten() throws {
        let up = try TestUpstream(name: "up")
        let r = try RampartInstance()
        try r.write("a.yaml", upstreamAndRoute(up.port, "/a"))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/a")?.status == 200 }, r.log)
        let audit = r.stateDir + "/audit.log"
        XCTAssertEqual(link(audit, audit + ".kept"), 0)
        XCTAssertEqual(symlink("/dev/full", audit + ".full"), 0)
        XCTAssertEqual(rename(audit + ".full", audit), 0)

        try r.write("a.yaml", upstreamAndRoute(up.port, "/b"))
        XCTAssertTrue(Poll.until { r.api("/api/v1/status")?.body.contains("cannot write the audit log") ?? false }, r.log)
        XCTAssertTrue(r.api("/api/v1/status")?.body.contains("the change is not applied and generation 1 keeps serving") ?? false)
        XCTAssertEqual(Curl.get(r.url + "/b")?.status, 404, "the unrecorded change is not served")
        XCTAssertEqual(Curl.get(r.url + "/a")?.status, 200, "the recorded generation keeps serving")
        XCTAssertEqual(reloads(r, "audit_failed"), 1)
        XCTAssertTrue(r.api("/api/v1/config")?.body.contains("\"generation\":1") ?? false)

        // Space again: the next trigger applies the change, and the chain has no gap.
        XCTAssertEqual(rename(audit + ".kept", audit), 0)
        kill(try XCTUnwrap(r.process?.pid), SIGHUP)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/b")?.status == 200 }, r.log)
        XCTAssertEqual(r.stop(), 0)
        let verified = try verify(r.stateDir)
        XCTAssertEqual(verified.code, 0, verified.stdout)
        XCTAssertTrue(verified.stdout.contains("3 entries"), verified.stdout)
    }

    func testDeletingTheKeyringThatProtectsStoredValuesIsRefused() throws {
        let r = try RampartInstance(extraArgs: ["--dev"])
        let key = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        let ring = "apiVersion: rampart.io/v1alpha1\nkind: Keyring\nmetadata: {name: default}\nspec:\n  keys:\n    - {id: k1, material: {value: \"\(key)\"}}\n"
        try r.write("keyring.yaml", ring)
        try r.write("cp.yaml", "apiVersion: rampart.io/v1alpha1\nkind: ContactPoint\nmetadata: {name: ops}\nspec: {type: webhook, url: https://hooks.example/x, hmacSecret: {value: hook-secret-\(UUID().uuidString)}}\n")
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { (try? String(contentsOfFile: r.stateDir + "/state.json", encoding: .utf8))?.contains("$enc:v2:k1:") ?? false }, r.log)

        try FileManager.default.removeItem(atPath: r.manifests + "/keyring.yaml")
        let refusal = "deleting Keyring default/default: removing key \\\"k1\\\" still protects 1 stored value"
        XCTAssertTrue(Poll.until { r.api("/api/v1/status")?.body.contains(refusal) ?? false }, r.api("/api/v1/status")?.body ?? "")
        XCTAssertTrue((try String(contentsOfFile: r.stateDir + "/state.json", encoding: .utf8)).contains("$enc:v2:k1:"), "the stored value stays readable")

        try r.write("keyring.yaml", ring.replacingOccurrences(of: "  keys:\n    - {id: k1, material: {value: \"\(key)\"}}\n", with: "  keys: []\n"))
        XCTAssertTrue(Poll.until { r.api("/api/v1/status")?.body.contains("emptying the Keyring's keys: removing key \\\"k1\\\" still protects 1 stored value") ?? false },
                      r.api("/api/v1/status")?.body ?? "")
        XCTAssertEqual(r.stop(), 0)
    }
}
