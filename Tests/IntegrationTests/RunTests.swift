import Foundation
import TestSupport
import XCTest

/// `rampart run` end to end: real binary, real upstreams, real curl, on 127.0.0.1.
final class RunTests: XCTestCase {
    func served(_ r: RampartInstance, _ path: String, contains text: String, timeout: Double = 20) -> Bool {
        Poll.until(timeout: timeout) { Curl.get(r.url + path)?.body.contains(text) ?? false }
    }

    func testServesHotReloadsAndSurvivesBadInput() throws {
        let one = try TestUpstream(name: "one"), two = try TestUpstream(name: "two")
        let r = try RampartInstance()
        try r.write("upstreams.yaml", Manifests.upstream("one", port: one.port) + "---\n" + Manifests.upstream("two", port: two.port))
        try r.write("routes/hello.yaml", Manifests.route("hello", paths: ["/hello", "/hello/*"], upstream: "one"))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(served(r, "/hello/x", contains: "\"server\": \"one\""), r.log)
        XCTAssertEqual(Curl.get(r.url + "/nothing")?.status, 404)
        XCTAssertEqual(Curl.get(r.url + "/nothing")?.body.trimmingCharacters(in: .whitespacesAndNewlines), "{\"error\":\"no route\"}")

        // A change is served.
        try r.write("routes/hello.yaml", Manifests.route("hello", paths: ["/hello", "/hello/*"], upstream: "two"))
        XCTAssertTrue(served(r, "/hello/x", contains: "\"server\": \"two\""), r.log)

        // Broken YAML: the last good routes keep serving; the error names file:line:column in the status.
        try r.write("routes/hello.yaml", "apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: hello\n")
        XCTAssertTrue(Poll.until { r.api("/api/v1/status")?.body.contains("routes/hello.yaml:4:1") ?? false }, r.api("/api/v1/status")?.body ?? "")
        XCTAssertTrue(Curl.get(r.url + "/hello/x")?.body.contains("\"server\": \"two\"") ?? false)
        XCTAssertTrue(r.log.contains("routes/hello.yaml:4:1: error:"), r.log)

        // An invalid resource is rejected alone; its last good version serves; a new valid route applies.
        try r.write("routes/hello.yaml", Manifests.route("hello", paths: ["/hello", "/hello/*"], upstream: "two", extra: "  priority: lots\n"))
        try r.write("routes/other.yaml", Manifests.route("other", paths: ["/other"], upstream: "one"))
        XCTAssertTrue(served(r, "/other", contains: "\"server\": \"one\""), r.log)
        XCTAssertTrue(Curl.get(r.url + "/hello/x")?.body.contains("\"server\": \"two\"") ?? false)
        let status = r.api("/api/v1/status")?.body ?? ""
        XCTAssertTrue(status.contains("ServingLastGood"), status)
        XCTAssertTrue(status.contains("spec.priority: expected an integer"), status)

        // A deleted file deletes its resources.
        try FileManager.default.removeItem(atPath: r.manifests + "/routes/other.yaml")
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/other")?.status == 404 })

        // All files gone: kept (a probable mistake) without --allow-empty.
        try FileManager.default.removeItem(atPath: r.manifests + "/routes")
        try FileManager.default.removeItem(atPath: r.manifests + "/upstreams.yaml")
        XCTAssertTrue(Poll.until { r.log.contains("--allow-empty") }, r.log)
        XCTAssertTrue(Curl.get(r.url + "/hello/x")?.body.contains("\"server\": \"two\"") ?? false)

        XCTAssertEqual(r.stop(), 0, "SIGTERM drains and exits 0")
    }

    func testAdminAPIAuthConfigAndMetrics() throws {
        let up = try TestUpstream(name: "up")
        let r = try RampartInstance(extraArgs: ["--dev"])
        let secret = "s3cret-\(UUID().uuidString)"
        try r.write("a.yaml", Manifests.upstream("web", port: up.port) + "---\n" + Manifests.route("web", paths: ["/*"], upstream: "web")
            + "---\napiVersion: rampart.io/v1alpha1\nkind: ContactPoint\nmetadata: {name: ops}\nspec: {type: webhook, url: https://hooks.example/x, hmacSecret: {value: \(secret)}}\n")
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertEqual(Curl.get(r.adminURL + "/healthz")?.status, 200)
        XCTAssertEqual(Curl.get(r.adminURL + "/api/v1/config")?.status, 401)
        XCTAssertEqual(Curl.get(r.adminURL + "/api/v1/config", headers: ["Authorization: Bearer wrong"])?.status, 401)
        var st = stat()
        stat(r.stateDir + "/admin-token", &st)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        let config = try XCTUnwrap(r.api("/api/v1/config"))
        XCTAssertEqual(config.status, 200)
        XCTAssertTrue(config.body.contains("\"hmacSecret\":\"***\""), config.body)
        XCTAssertTrue(served(r, "/x", contains: "\"server\": \"up\""))
        let metrics = try XCTUnwrap(Curl.get(r.adminURL + "/metrics")?.body)
        for name in ["rampart_config_reloads_total{result=\"success\"}", "rampart_config_generation 1", "rampart_http_requests_total",
                     "rampart_reconcile_duration_seconds_bucket", "process_resident_memory_bytes", "rampart_connections_active"] {
            XCTAssertTrue(metrics.contains(name), name)
        }
        let diff = r.api("/api/v1/diff", method: "POST", data: Manifests.upstream("web", port: up.port + 1))
        XCTAssertEqual(diff?.status, 200)
        XCTAssertTrue(diff?.body.contains("+    port: \(up.port + 1)") ?? false, diff?.body ?? "")
        r.stop()
        XCTAssertEqual(SecretScan.find([secret], inDirectories: [r.stateDir], texts: ["log": r.log, "config": config.body]), [])
    }

    /// A SIGTERM that comes as soon as the gateway listens (a rollout stopping a pod that just
    /// started) drains and exits 0: the handlers are installed before anything starts. They were
    /// installed after the first reconcile, and such a SIGTERM killed the process (exit by signal 15,
    /// seen once in CI through a restart test).
    func testSIGTERMAsSoonAsTheGatewayListensExitsCleanly() throws {
        let up = try TestUpstream(name: "up")
        for _ in 0..<3 {
            let r = try RampartInstance()
            // Enough routes that the first reconcile takes a while after the listener is open.
            let routes = (0..<2000).map { Manifests.route("r\($0)", paths: ["/r\($0)"], upstream: "web") }.joined(separator: "---\n")
            try r.write("a.yaml", Manifests.upstream("web", port: up.port) + "---\n" + routes)
            try r.start()
            XCTAssertTrue(Poll.until(interval: 0.002) { Curl.get(r.url + "/x", timeout: 1) != nil }, r.log)
            XCTAssertEqual(r.process?.stop(), 0, r.log)
            XCTAssertEqual(r.process?.process.terminationReason, .exit, "left by exit, not by the signal's default action")
        }
    }

    func testRestartServesStateWithSourceGoneAndAuditVerifies() throws {
        let up = try TestUpstream(name: "up")
        let r = try RampartInstance()
        try r.write("a.yaml", Manifests.upstream("web", port: up.port) + "---\n" + Manifests.route("web", paths: ["/*"], upstream: "web"))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(served(r, "/x", contains: "\"server\": \"up\""))
        try r.write("a.yaml", Manifests.upstream("web", port: up.port, extra: "  retries: 2\n") + "---\n" + Manifests.route("web", paths: ["/*"], upstream: "web"))
        XCTAssertTrue(Poll.until { r.api("/api/v1/config")?.body.contains("\"generation\":2") ?? false })
        XCTAssertEqual(r.stop(), 0)

        let audit = try Command.rampart(["audit", "verify", "--state-dir", r.stateDir])
        XCTAssertEqual(audit.code, 0, audit.stdout)
        XCTAssertTrue(audit.stdout.contains("3 entries"), audit.stdout)

        try FileManager.default.removeItem(atPath: r.manifests)
        let again = try RampartInstance(manifests: r.manifests, stateDir: r.stateDir)
        try again.start()
        XCTAssertTrue(again.waitReady(), again.log)
        XCTAssertTrue(served(again, "/x", contains: "\"server\": \"up\""), again.log)
        XCTAssertTrue(again.api("/api/v1/status")?.body.contains("\"origin\":\"state.json\"") ?? false)
        again.stop()

        // Tampering is caught and named.
        var lines = try String(contentsOfFile: r.stateDir + "/audit.log", encoding: .utf8).split(separator: "\n").map(String.init)
        lines[1] = lines[1].replacingOccurrences(of: "retries", with: "retriez")
        try (lines.joined(separator: "\n") + "\n").write(toFile: r.stateDir + "/audit.log", atomically: true, encoding: .utf8)
        let broken = try Command.rampart(["audit", "verify", "--state-dir", r.stateDir])
        XCTAssertEqual(broken.code, 1)
        XCTAssertTrue(broken.stdout.contains("broken at seq"), broken.stdout)
    }

    func testConfigMapSymlinkSwapIsOneReload() throws {
        let one = try TestUpstream(name: "one"), two = try TestUpstream(name: "two")
        let r = try RampartInstance()
        let fm = FileManager.default
        let m = r.manifests
        try fm.createDirectory(atPath: m + "/..2026_11_29_00_00_01.1", withIntermediateDirectories: true)
        try (Manifests.upstream("web", port: one.port) + "---\n" + Manifests.route("web", paths: ["/*"], upstream: "web"))
            .write(toFile: m + "/..2026_11_29_00_00_01.1/all.yaml", atomically: false, encoding: .utf8)
        symlink("..2026_11_29_00_00_01.1", m + "/..data")
        symlink("..data/all.yaml", m + "/all.yaml")
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(served(r, "/x", contains: "\"server\": \"one\""), r.log)
        try fm.createDirectory(atPath: m + "/..2026_11_29_00_00_02.2", withIntermediateDirectories: true)
        try (Manifests.upstream("web", port: two.port) + "---\n" + Manifests.route("web", paths: ["/*"], upstream: "web"))
            .write(toFile: m + "/..2026_11_29_00_00_02.2/all.yaml", atomically: false, encoding: .utf8)
        symlink("..2026_11_29_00_00_02.2", m + "/..data_tmp")
        rename(m + "/..data_tmp", m + "/..data")
        try fm.removeItem(atPath: m + "/..2026_11_29_00_00_01.1")
        XCTAssertTrue(served(r, "/x", contains: "\"server\": \"two\""), r.log)
        XCTAssertTrue(r.api("/api/v1/config")?.body.contains("\"generation\":2") ?? false, "one swap, one generation")
    }

    func testDiffAgainstRunningInstance() throws {
        let up = try TestUpstream(name: "up")
        let r = try RampartInstance()
        let docs = Manifests.upstream("web", port: up.port) + "---\n" + Manifests.route("web", paths: ["/*"], upstream: "web")
        try r.write("a.yaml", docs)
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        let same = try Command.rampart(["diff", r.manifests, "--against", r.adminURL, "--state-dir", r.stateDir])
        XCTAssertEqual(same.code, 0, same.stdout + same.stderr)
        let other = try TempDir.make("proposed")
        try docs.replacingOccurrences(of: "paths: [\"/*\"]", with: "paths: [\"/v2/*\"]").write(toFile: other + "/a.yaml", atomically: true, encoding: .utf8)
        let changed = try Command.rampart(["diff", other, "--against", r.adminURL, "--state-dir", r.stateDir])
        XCTAssertEqual(changed.code, 1, changed.stderr)
        XCTAssertTrue(changed.stdout.contains("--- Route default/web (serving, generation 1)"), changed.stdout)
        XCTAssertTrue(changed.stdout.contains("+  - /v2/*"), changed.stdout)
    }

    func testKill9DuringReconcileLeavesStateAndAuditValid() throws {
        let up = try TestUpstream(name: "up")
        let r = try RampartInstance()
        var routes = Manifests.upstream("web", port: up.port)
        for i in 0..<2000 { routes += "---\n" + Manifests.route("r\(i)", paths: ["/r\(i)"], upstream: "web") }
        try r.write("routes.yaml", routes)
        for round in 1...4 {
            try r.start()
            XCTAssertTrue(r.waitReady(timeout: 60), r.log)
            XCTAssertTrue(Poll.until(timeout: 60) { Curl.get(r.url + "/r1")?.status == 200 }, r.log)
            let applied = r.log.components(separatedBy: "applied generation").count
            try r.write("routes.yaml", routes.replacingOccurrences(of: "/r1\"", with: "/r1-\(round)\""))
            // Odd rounds kill while the change is read and reconciled; even rounds the moment the new
            // generation is announced, which is just before state.json and the audit log are written.
            if round % 2 == 0 { XCTAssertTrue(Poll.until(timeout: 60, interval: 0.001) { r.log.components(separatedBy: "applied generation").count > applied }) }
            r.process?.kill9()
            let state = try Data(contentsOf: URL(fileURLWithPath: r.stateDir + "/state.json"))
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: state), "state.json is whole after kill -9 (round \(round))")
            let verify = try Command.rampart(["audit", "verify", "--state-dir", r.stateDir])
            XCTAssertEqual(verify.code, 0, verify.stdout)
        }
    }
}

/// `rampart run --source git` against a local bare repository, SIGHUP and JSON logs.
final class RunSourcesTests: XCTestCase {
    func git(_ args: [String], _ cwd: String) throws {
        let r = try Command.run("/usr/bin/git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid"] + args, cwd: cwd)
        XCTAssertEqual(r.code, 0, r.stderr)
    }

    func testGitSourceServesEachCommitAndNamesItInTheAudit() throws {
        let one = try TestUpstream(name: "one"), two = try TestUpstream(name: "two")
        let base = try TempDir.make("gitrun")
        let work = base + "/work"
        try FileManager.default.createDirectory(atPath: work + "/deploy", withIntermediateDirectories: true)
        try git(["init", "-q", "-b", "main"], work)
        try (Manifests.upstream("web", port: one.port) + "---\n" + Manifests.route("web", paths: ["/*"], upstream: "web"))
            .write(toFile: work + "/deploy/all.yaml", atomically: false, encoding: .utf8)
        try "not a manifest dir\n".write(toFile: work + "/README", atomically: false, encoding: .utf8)
        try git(["add", "."], work)
        try git(["commit", "-q", "-m", "one"], work)
        try git(["clone", "-q", "--bare", work, base + "/origin.git"], base)

        let r = try RampartInstance(extraArgs: ["--source", "git", "--git-url", "file://\(base)/origin.git", "--git-ref", "main",
                                                "--git-path", "deploy", "--git-interval", "200ms"])
        try r.start(paths: [])
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/x")?.body.contains("\"server\": \"one\"") ?? false }, r.log)

        try (Manifests.upstream("web", port: two.port) + "---\n" + Manifests.route("web", paths: ["/*"], upstream: "web"))
            .write(toFile: work + "/deploy/all.yaml", atomically: false, encoding: .utf8)
        try git(["commit", "-q", "-am", "two"], work)
        try git(["push", "-q", base + "/origin.git", "main"], work)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/x")?.body.contains("\"server\": \"two\"") ?? false }, r.log)
        let sha = try Command.run("/usr/bin/git", ["rev-parse", "HEAD"], cwd: work).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(Poll.until { r.api("/api/v1/status")?.body.contains("\"origin\":\"git:\(sha)\"") ?? false })
        let audit = try String(contentsOfFile: r.stateDir + "/audit.log", encoding: .utf8)
        XCTAssertTrue(audit.contains("\"actor\":\"git:\(sha)\""), audit)

        // The remote disappears: the last commit keeps serving.
        try FileManager.default.removeItem(atPath: base + "/origin.git")
        XCTAssertTrue(Poll.until { r.log.contains("git fetch failed; keeping commit \(sha)") }, r.log)
        XCTAssertTrue(Curl.get(r.url + "/x")?.body.contains("\"server\": \"two\"") ?? false)
        XCTAssertEqual(r.stop(), 0)
    }

    func testSIGHUPRereadsAndJSONLogs() throws {
        let up = try TestUpstream(name: "up")
        let r = try RampartInstance(extraArgs: ["--log-format", "json", "--debounce", "1h"])
        try r.write("a.yaml", Manifests.upstream("web", port: up.port) + "---\n" + Manifests.route("web", paths: ["/a"], upstream: "web"))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        // With an hour of debounce only SIGHUP makes the change visible now.
        try r.write("a.yaml", Manifests.upstream("web", port: up.port) + "---\n" + Manifests.route("web", paths: ["/b"], upstream: "web"))
        XCTAssertEqual(Curl.get(r.url + "/b")?.status, 404)
        kill(r.process?.pid ?? 0, SIGHUP)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/b")?.status == 200 }, r.log)
        r.stop()
        for line in r.log.split(separator: "\n") {
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(line.utf8)), String(line))
        }
        XCTAssertTrue(r.log.contains("\"msg\":\"SIGHUP: re-reading sources and secrets\""), r.log)
    }
}

/// `rampart diff --against` an HTTPS admin API, trusting the instance's own certificate from the state dir.
final class DiffHTTPSTests: XCTestCase {
    func testDiffAgainstHTTPSAdminWithStateDirCertificate() throws {
        let up = try TestUpstream(name: "up")
        let r = try RampartInstance(extraArgs: ["--admin-tls", "auto"])
        let docs = Manifests.upstream("web", port: up.port) + "---\n" + Manifests.route("web", paths: ["/*"], upstream: "web")
        try r.write("a.yaml", docs)
        try r.start()
        let url = "https://localhost:\(r.adminPort)"
        XCTAssertTrue(Poll.until {
            (try? Command.run("/usr/bin/curl", ["-fs", "--cacert", r.stateDir + "/admin-tls.crt", url + "/readyz"]).code) == 0
        }, r.log)
        let same = try Command.rampart(["diff", r.manifests, "--against", url, "--state-dir", r.stateDir])
        XCTAssertEqual(same.code, 0, same.stdout + same.stderr)
        XCTAssertNil(Curl.get(url + "/readyz"), "curl without the instance's CA refuses the self-signed certificate")
        let proposed = try TempDir.make("proposed")
        try (docs.replacingOccurrences(of: "paths: [\"/*\"]", with: "paths: [\"/v3/*\"]")).write(toFile: proposed + "/a.yaml", atomically: true, encoding: .utf8)
        let changed = try Command.rampart(["diff", proposed, "--against", url, "--state-dir", r.stateDir])
        XCTAssertEqual(changed.code, 1, changed.stderr)
        XCTAssertTrue(changed.stdout.contains("+  - /v3/*"), changed.stdout)
        let other = try TempDir.make("wrongca")
        let wrong = try Command.rampart(["diff", r.manifests, "--against", url, "--state-dir", other])
        XCTAssertEqual(wrong.code, 2, "an unknown certificate is refused: " + wrong.stderr)
    }
}
