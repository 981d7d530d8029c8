import Foundation
import Synchronization
import TestSupport
import XCTest

/// Alerts end to end: the real binary, conditions made true for real, a real Alertmanager and
/// Prometheus, webhook receivers that verify the signature (and one that hangs, one that fails).
final class AlertsRunTests: XCTestCase {
    static let header = "apiVersion: rampart.io/v1alpha1\n"

    static func contactPoint(_ name: String, type: String = "webhook", url: String, secret: String? = nil, extra: String = "") -> String {
        var y = header + "kind: ContactPoint\nmetadata: {name: \(name)}\nspec:\n  type: \(type)\n  url: \"\(url)\"\n"
        if let secret { y += "  hmacSecret: {value: \(secret)}\n" }
        return y + extra
    }

    static func rule(_ name: String, _ condition: String, contactPoints: [String], extra: String = "") -> String {
        header + "kind: AlertRule\nmetadata: {name: \(name)}\nspec:\n  condition: \(condition)\n  interval: 1s\n  for: 0s\n"
            + "  contactPoints: [\(contactPoints.map { "{name: \($0)}" }.joined(separator: ", "))]\n" + extra
    }

    /// The rule's entry in `/api/v1/status`.
    static func ruleStatus(_ r: RampartInstance, _ rule: String) -> [String: Any]? {
        guard let body = r.api("/api/v1/status")?.body, let o = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return nil }
        return (o["alerts"] as? [[String: Any]])?.first { $0["rule"] as? String == rule }
    }

    static func activeAlerts(_ r: RampartInstance) -> [[String: Any]] {
        guard let body = r.api("/api/v1/alerts")?.body, let o = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return [] }
        return o["alerts"] as? [[String: Any]] ?? []
    }

    func secret(_ label: String) -> String { "\(label)-\(UUID().uuidString.prefix(12))" }

    /// An upstream process killed and restarted: Alertmanager gets the node's alert with the right labels and
    /// then its resolution; the webhook gets both, signed.
    func testUpstreamKilledAndRestartedReachesAlertmanagerAndWebhook() throws {
        let am = try AlertmanagerServer()
        let hmac = secret("hmac"), bearer = secret("bearer")
        let hook = try WebhookReceiver(secret: hmac)
        let up = try AlertUpstream()
        let r = try RampartInstance(extraArgs: ["--dev"])
        try r.write("a.yaml", Self.header + "kind: Upstream\nmetadata: {name: up}\nspec:\n  nodes: [{host: 127.0.0.1, port: \(up.port)}]\n"
            + "  healthCheck: {active: {interval: 200ms, timeout: 500ms, unhealthyAfter: 1, healthyAfter: 1}}\n---\n"
            + Manifests.route("r", paths: ["/*"], upstream: "up") + "---\n"
            + Self.rule("node-down", "{type: upstreamUnhealthy}", contactPoints: ["am", "hook"],
                        extra: "  labels: {team: payments}\n  message: \"node {{node}} of {{upstream}} is {{value}}\"\n") + "---\n"
            + Self.contactPoint("am", type: "alertmanager", url: am.url) + "---\n"
            + Self.contactPoint("hook", url: hook.url, secret: hmac, extra: "  headers: {Authorization: {value: \"Bearer \(bearer)\"}}\n"))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        // Checked while healthy: nothing fires.
        XCTAssertTrue(Poll.until { Self.ruleStatus(r, "default/node-down")?["lastEvaluation"] != nil }, r.log)
        XCTAssertEqual(Self.ruleStatus(r, "default/node-down")?["state"] as? String, "inactive")
        XCTAssertTrue(am.alerts().isEmpty)

        up.kill()
        var alert: [String: Any]?
        XCTAssertTrue(Poll.until(timeout: 30) {
            alert = am.alerts().first { ($0["labels"] as? [String: String])?["alertname"] == "node-down" }
            return alert != nil
        }, r.log)
        let node = "127.0.0.1:\(up.port)"
        XCTAssertEqual(alert?["labels"] as? [String: String], ["alertname": "node-down", "rule": "default/node-down", "severity": "warning",
                                                               "team": "payments", "upstream": "default/up", "node": node])
        XCTAssertEqual((alert?["status"] as? [String: Any])?["state"] as? String, "active")
        XCTAssertEqual((alert?["annotations"] as? [String: String])?["summary"], "node \(node) of default/up is unhealthy")
        XCTAssertTrue((alert?["generatorURL"] as? String)?.hasPrefix(r.adminURL + "/api/v1/alerts") ?? false)
        // Rampart's id of the alert is Alertmanager's.
        let active = Self.activeAlerts(r)
        XCTAssertEqual(active.count, 1)
        XCTAssertTrue(r.api("/api/v1/alerts?rule=default%2Fnode-down")?.body.contains("\"rule\":\"default/node-down\"") ?? false)
        XCTAssertEqual(r.api("/api/v1/alerts?rule=default%2Fother")?.body, "{\"alerts\":[]}")
        XCTAssertEqual(Curl.get(r.adminURL + "/api/v1/alerts")?.status, 401, "alerts need the token")
        XCTAssertEqual(active.first?["fingerprint"] as? String, alert?["fingerprint"] as? String)
        XCTAssertEqual(active.first?["state"] as? String, "firing")
        XCTAssertEqual((active.first?["facts"] as? [String: String])?["node"], node)
        XCTAssertTrue(r.api("/metrics")?.body.contains("rampart_alerts{rule=\"default/node-down\",state=\"firing\"} 1\n") ?? false)

        let firing = hook.wait { $0.status == "firing" }
        XCTAssertEqual(firing?.verified, true, "signature checked by the receiver")
        XCTAssertEqual(firing?.headers["Authorization"], "Bearer \(bearer)")
        XCTAssertEqual(firing?.subject, ["upstream": "default/up", "node": node])

        try up.start()
        XCTAssertTrue(Poll.until(timeout: 30) { am.alerts().isEmpty }, "resolved in Alertmanager: \(am.alerts())")
        let resolved = hook.wait { $0.status == "resolved" }
        XCTAssertEqual(resolved?.verified, true)
        XCTAssertEqual(resolved?.json["fingerprint"] as? String, alert?["fingerprint"] as? String)
        XCTAssertTrue(Self.activeAlerts(r).isEmpty)

        let texts = ["log": r.log, "alerts": r.api("/api/v1/alerts")?.body ?? "", "status": r.api("/api/v1/status")?.body ?? "", "metrics": r.api("/metrics")?.body ?? ""]
        XCTAssertEqual(SecretScan.find([hmac, bearer], inDirectories: [r.stateDir], texts: texts), [], "a header value or HMAC key was written somewhere")
    }

    /// A certificate that expires in 3 days (openssl); its notification reaches the good receiver while another
    /// contact point hangs and a third answers 500 (retried, then counted failed). The receiver's signature check
    /// refuses forged and re-timestamped requests; `rampart alerts test` sends a marked test notification.
    func testExpiringCertificateAndContactPointsThatHangOrFail() throws {
        let dir = try TempDir.make("soon")
        let gen = try Command.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "3",
                                                       "-subj", "/CN=soon.example.com", "-addext", "subjectAltName=DNS:soon.example.com",
                                                       "-keyout", dir + "/soon.key", "-out", dir + "/soon.crt"])
        XCTAssertEqual(gen.code, 0, gen.stderr)
        func block(_ file: String) throws -> String {
            "|\n" + (try String(contentsOfFile: dir + "/" + file, encoding: .utf8)).split(separator: "\n").map { "      " + $0 }.joined(separator: "\n")
        }
        let hmac = secret("hmac")
        let ok = try WebhookReceiver(mode: "ok", secret: hmac)
        let hang = try WebhookReceiver(mode: "hang", secret: hmac)
        let fail = try WebhookReceiver(mode: "fail", secret: hmac)
        let tlsPort = Ports.free()
        let r = try RampartInstance(extraArgs: ["--dev", "--listen-tls", "127.0.0.1:\(tlsPort)"])
        let contactPoints = Self.contactPoint("ok", url: ok.url, secret: hmac) + "---\n"
            + Self.contactPoint("hang", url: hang.url, secret: hmac, extra: "  timeout: 1m\n") + "---\n"
            + Self.contactPoint("fail", url: fail.url, secret: hmac)
        try r.write("a.yaml", Self.header + "kind: SSL\nmetadata: {name: soon}\nspec:\n  snis: [soon.example.com]\n"
            + "  certificate:\n    value: \(try block("soon.crt"))\n  privateKey:\n    value: \(try block("soon.key"))\n---\n"
            + Self.rule("cert-expiry", "{type: certificateExpiry, threshold: 14d, selector: {snis: [\"*.example.com\"]}}", contactPoints: ["hang", "fail", "ok"],
                        extra: "  severity: critical\n  message: \"certificate {{sni}} expires in {{remaining}}\"\n") + "---\n" + contactPoints)
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        let firing = ok.wait(timeout: 20) { $0.status == "firing" }
        XCTAssertEqual(firing?.verified, true, r.log)
        XCTAssertEqual(firing?.subject, ["sni": "soon.example.com"])
        XCTAssertTrue((firing?.json["message"] as? String)?.hasPrefix("certificate soon.example.com expires in 2d 23h") ?? false, "\(firing?.body ?? "")")
        XCTAssertEqual(firing?.json["severity"] as? String, "critical")
        // The hanging contact point was given the same notification and is still holding it (its timeout is a minute).
        XCTAssertTrue(Poll.until(timeout: 10) { !hang.received.isEmpty })
        // The failing one is retried, then counted as failed.
        XCTAssertTrue(Poll.until(timeout: 30) { fail.received.count >= 2 })
        XCTAssertTrue(Poll.until(timeout: 30) {
            r.api("/metrics")?.body.contains("rampart_alert_notifications_total{contact_point=\"default/fail\",result=\"failed\"} 1\n") ?? false
        }, r.api("/metrics")?.body ?? "")

        // An attacker without the key: a forged body, and a real body and signature with a fresh timestamp.
        let now = String(Int(Date().timeIntervalSince1970))
        let forged = try Command.run("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", ok.url, "-H", "Content-Type: application/json",
                                                       "-H", "X-Rampart-Timestamp: \(now)", "-H", "X-Rampart-Signature: sha256=" + String(repeating: "0", count: 64),
                                                       "--data-binary", "{\"status\":\"resolved\"}"])
        XCTAssertEqual(forged.stdout, "401")
        let replay = try Command.run("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", ok.url, "-H", "Content-Type: application/json",
                                                       "-H", "X-Rampart-Timestamp: \(Int(now).map { $0 + 1 } ?? 0)",
                                                       "-H", "X-Rampart-Signature: \(firing?.headers["X-Rampart-Signature"] ?? "")", "--data-binary", firing?.body ?? ""])
        XCTAssertEqual(replay.stdout, "401", "the timestamp is signed: a replay cannot refresh it")

        // `rampart alerts test`, from a manifests dir of its own (a rule per receiver).
        let cli = try TempDir.make("alerts-test")
        try (Self.rule("to-ok", "{type: reloadFailed}", contactPoints: ["ok"]) + "---\n" + Self.rule("to-fail", "{type: reloadFailed}", contactPoints: ["fail"])
             + "---\n" + contactPoints).write(toFile: cli + "/a.yaml", atomically: true, encoding: .utf8)
        let sent = try Command.rampart(["alerts", "test", "to-ok", cli, "--dev"])
        XCTAssertEqual(sent.code, 0, sent.stdout + sent.stderr)
        XCTAssertTrue(sent.stdout.contains("default/ok: delivered"), sent.stdout)
        let test = ok.wait { $0.json["test"] as? Bool == true }
        XCTAssertEqual(test?.verified, true)
        XCTAssertEqual(test?.rule, "default/to-ok")
        let failed = try Command.rampart(["alerts", "test", "default/to-fail", cli, "--dev"])
        XCTAssertEqual(failed.code, 1, failed.stdout + failed.stderr)
        XCTAssertTrue(failed.stdout.contains("default/fail: failed: HTTP 500"), failed.stdout)
        XCTAssertEqual(try Command.rampart(["alerts", "test", "nope", cli, "--dev"]).code, 2)
        // A header value from a secret that holds a line break would add headers of its own: refused, unseen.
        let evil = try TempDir.make("alerts-evil")
        try (Self.rule("to-evil", "{type: reloadFailed}", contactPoints: ["evil"]) + "---\n"
             + Self.contactPoint("evil", url: ok.url, secret: hmac, extra: "  headers: {Authorization: {value: \"Bearer \(hmac)\\r\\nX-Evil: 1\"}}\n"))
            .write(toFile: evil + "/a.yaml", atomically: true, encoding: .utf8)
        let before = ok.received.count
        let refused = try Command.rampart(["alerts", "test", "to-evil", evil, "--dev"])
        XCTAssertEqual(refused.code, 1, refused.stdout + refused.stderr)
        XCTAssertTrue(refused.stdout.contains("default/evil: failed: ContactPoint default/evil spec.headers.Authorization: the value holds a line break"), refused.stdout)
        XCTAssertFalse((refused.stdout + refused.stderr).contains(hmac))
        XCTAssertEqual(ok.received.count, before, "nothing was sent")
        XCTAssertEqual(SecretScan.find([hmac], inDirectories: [r.stateDir], texts: ["log": r.log, "cli": sent.stdout + sent.stderr + failed.stdout + failed.stderr]), [])
    }

    /// An upstream that answers 500 and one that is slow: errorRate and latency fire from the real
    /// traffic's counters and histogram, and resolve once the traffic stops.
    func testErrorRateAndLatencyFromRealTraffic() throws {
        let hmac = secret("hmac")
        let hook = try WebhookReceiver(secret: hmac)
        let up = try AlertUpstream()
        let r = try RampartInstance(extraArgs: ["--dev"])
        try r.write("a.yaml", Manifests.upstream("up", port: up.port) + "---\n"
            + Manifests.route("errors", paths: ["/status/*"], upstream: "up") + "---\n"
            + Manifests.route("slow", paths: ["/slow"], upstream: "up") + "---\n"
            + Self.rule("error-rate", "{type: errorRate, threshold: 0.5, window: 3s, selector: {routes: [errors]}}", contactPoints: ["hook"],
                        extra: "  message: \"{{route}}: {{percent}}% of {{requests}} requests failed over {{window}}\"\n") + "---\n"
            + Self.rule("slow", "{type: latency, threshold: 100ms, window: 3s, selector: {routes: [slow]}}", contactPoints: ["hook"]) + "---\n"
            + Self.contactPoint("hook", url: hook.url, secret: hmac))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        let traffic = TrafficLoop([r.url + "/status/500", r.url + "/slow"])
        defer { traffic.stop() }
        let errors = hook.wait { $0.rule == "default/error-rate" && $0.status == "firing" }
        XCTAssertEqual(errors?.subject, ["route": "default/errors"], r.log)
        XCTAssertEqual((errors?.json["facts"] as? [String: String])?["ratio"], "1")
        XCTAssertTrue((errors?.json["message"] as? String)?.hasPrefix("default/errors: 100% of ") ?? false, errors?.body ?? "")
        let slow = hook.wait { $0.rule == "default/slow" && $0.status == "firing" }
        XCTAssertEqual(slow?.subject, ["route": "default/slow"])
        let p99 = (slow?.json["facts"] as? [String: String])?["p99"] ?? ""
        XCTAssertTrue(p99.hasSuffix("ms") && (Int(p99.dropLast(2)) ?? 0) > 100, p99)
        XCTAssertTrue(hook.received.allSatisfy { $0.subject["route"] != "default/slow" || $0.rule == "default/slow" }, "each rule only its selected route")
        traffic.stop()
        XCTAssertNotNil(hook.wait { $0.rule == "default/error-rate" && $0.status == "resolved" }, "no requests in the window: resolved")
        XCTAssertNotNil(hook.wait { $0.rule == "default/slow" && $0.status == "resolved" })
    }

    /// `scope: overall`: an upstream answering 500 on one route and 200 on another; one alert over both routes'
    /// requests together (no route label, a ratio of about a half, not the failing route's 1), and its resolve.
    func testOverallErrorRateOverEveryRoute() throws {
        let hmac = secret("hmac")
        let hook = try WebhookReceiver(secret: hmac)
        let up = try AlertUpstream()
        let r = try RampartInstance(extraArgs: ["--dev"])
        try r.write("a.yaml", Manifests.upstream("up", port: up.port) + "---\n"
            + Manifests.route("errors", paths: ["/status/*"], upstream: "up") + "---\n"
            + Manifests.route("fine", paths: ["/fine"], upstream: "up") + "---\n"
            + Self.rule("overall", "{type: errorRate, scope: overall, threshold: 0.25, window: 3s}", contactPoints: ["hook"],
                        extra: "  message: \"{{percent}}% of {{requests}} requests on {{route}} failed over {{window}}\"\n") + "---\n"
            + Self.contactPoint("hook", url: hook.url, secret: hmac))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        let traffic = TrafficLoop([r.url + "/status/500", r.url + "/fine"])
        defer { traffic.stop() }
        let firing = hook.wait { $0.rule == "default/overall" && $0.status == "firing" }
        XCTAssertEqual(firing?.verified, true, r.log)
        XCTAssertEqual(firing?.subject, [:], "one alert for all routes")
        XCTAssertNil((firing?.json["labels"] as? [String: String])?["route"])
        let facts = firing?.json["facts"] as? [String: String] ?? [:]
        XCTAssertEqual(facts["route"], "*")
        let requests = Int(facts["requests"] ?? "") ?? 0, errors = Int(facts["errors"] ?? "") ?? 0
        XCTAssertTrue(errors > 0 && errors < requests && abs(requests - 2 * errors) <= 2, "both routes' requests counted: \(facts)")
        XCTAssertTrue((firing?.json["message"] as? String)?.contains("requests on * failed over 3s") ?? false, firing?.body ?? "")
        let active = Self.activeAlerts(r).filter { $0["rule"] as? String == "default/overall" }
        XCTAssertEqual(active.count, 1)
        XCTAssertEqual(active.first?["subject"] as? [String: String], [:])
        XCTAssertEqual(active.first?["state"] as? String, "firing")
        traffic.stop()
        XCTAssertNotNil(hook.wait { $0.rule == "default/overall" && $0.status == "resolved" }, "no requests in the window: resolved")
        XCTAssertFalse(hook.received.contains { $0.subject["route"] != nil }, "no per-route alert: \(hook.received.map(\.body))")
    }

    /// A CA-only SSL (it verifies upstreams) and a server SSL's `clientAuth.ca` (it verifies clients, mTLS), both a CA
    /// made by openssl that expires in 3 days: certificateExpiry fires for each by its resource and field. The server
    /// certificate itself (20 days left) does not.
    func testExpiringCAOnlySSLAndClientAuthCA() throws {
        let pki = try TestPKI()
        let dir = try TempDir.make("ca-soon")
        let gen = try Command.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "3",
                                                       "-subj", "/CN=Soon Expiring CA", "-addext", "basicConstraints=critical,CA:TRUE",
                                                       "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", dir + "/ca.key", "-out", dir + "/ca.crt"])
        XCTAssertEqual(gen.code, 0, gen.stderr)
        try FileManager.default.copyItem(atPath: dir + "/ca.crt", toPath: pki.path("soon-ca.crt"))
        let hmac = secret("hmac")
        let hook = try WebhookReceiver(secret: hmac)
        let r = try RampartInstance(extraArgs: ["--dev", "--listen-tls", "127.0.0.1:\(Ports.free())"])
        try r.write("a.yaml", pki.sslManifest("edge-ca", cert: "soon-ca.crt", key: nil, snis: [], type: "client") + "---\n"
            + pki.sslManifest("mtls", cert: "wild.crt", key: "wild.key", snis: ["*.example.com"], clientAuth: (ca: "soon-ca.crt", mode: "require")) + "---\n"
            + Self.rule("ca-expiry", "{type: certificateExpiry, threshold: 14d}", contactPoints: ["hook"],
                        extra: "  message: \"{{certificate}} expires in {{remaining}}\"\n") + "---\n"
            + Self.contactPoint("hook", url: hook.url, secret: hmac))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        for name in ["SSL default/edge-ca (CA bundle)", "SSL default/mtls (clientAuth.ca)"] {
            let firing = hook.wait(timeout: 20) { $0.status == "firing" && $0.subject == ["certificate": name] }
            XCTAssertEqual(firing?.verified, true, "\(name): \(hook.received.map(\.body))\n\(r.log)")
            XCTAssertTrue((firing?.json["message"] as? String)?.hasPrefix("\(name) expires in 2d 23h") ?? false, firing?.body ?? "")
        }
        XCTAssertEqual(Set(Self.activeAlerts(r).compactMap { ($0["subject"] as? [String: String])?["certificate"] }),
                       ["SSL default/edge-ca (CA bundle)", "SSL default/mtls (clientAuth.ca)"])
        XCTAssertFalse(hook.received.contains { $0.subject["sni"] != nil }, "the served certificate has 20 days")
    }

    /// A fake cgroup v2 tree: CPU used at the whole quota and memory near its limit fire; they resolve when
    /// the usage drops; a tree without a memory limit never fires and says so once.
    func testCPUAndMemoryQuotasFromAFakeCgroupTree() throws {
        let tree = try TempDir.make("cgroup")
        @Sendable func put(_ file: String, _ text: String) { try? text.write(toFile: tree + "/" + file, atomically: true, encoding: .utf8) }
        put("cpu.max", "50000 100000\n")
        put("cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n")
        put("memory.current", "900\n")
        put("memory.max", "1000\n")
        let hmac = secret("hmac")
        let hook = try WebhookReceiver(secret: hmac)
        let r = try RampartInstance(extraArgs: ["--dev", "--cgroup-root", tree])
        try r.write("a.yaml", Self.rule("cpu", "{type: cpuQuota, threshold: 80, window: 2s}", contactPoints: ["hook"]) + "---\n"
            + Self.rule("mem", "{type: memoryQuota, threshold: 80}", contactPoints: ["hook"],
                        extra: "  message: \"memory at {{usage}} ({{current}} of {{max}})\"\n") + "---\n"
            + Self.contactPoint("hook", url: hook.url, secret: hmac))
        // The process "uses" half a CPU (its whole quota): usage_usec grows 50 ms per 100 ms.
        let busy = Atomic<Bool>(true)
        let cpu = Thread {
            let start = Date()
            while busy.load(ordering: .relaxed) {
                put("cpu.stat", "usage_usec \(Int(Date().timeIntervalSince(start) * 500_000))\n")
                usleep(100_000)
            }
        }
        cpu.start()
        defer { busy.store(false, ordering: .relaxed) }
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        let cpuFiring = hook.wait { $0.rule == "default/cpu" && $0.status == "firing" }
        XCTAssertNotNil(cpuFiring, r.log)
        XCTAssertEqual((cpuFiring?.json["facts"] as? [String: String])?["limit"], "0.50 CPU")
        let memFiring = hook.wait { $0.rule == "default/mem" && $0.status == "firing" }
        XCTAssertEqual(memFiring?.json["message"] as? String, "memory at 90% (900 of 1000)")
        busy.store(false, ordering: .relaxed)
        put("memory.current", "100\n")
        XCTAssertNotNil(hook.wait { $0.rule == "default/cpu" && $0.status == "resolved" })
        XCTAssertNotNil(hook.wait { $0.rule == "default/mem" && $0.status == "resolved" })

        put("memory.max", "max\n")
        XCTAssertTrue(Poll.until { r.log.contains("no memory limit") }, r.log)
        let seen = Self.ruleStatus(r, "default/mem")?["lastEvaluation"] as? String
        XCTAssertTrue(Poll.until { (Self.ruleStatus(r, "default/mem")?["lastEvaluation"] as? String) != seen })
        let later = Self.ruleStatus(r, "default/mem")?["lastEvaluation"] as? String
        XCTAssertTrue(Poll.until { (Self.ruleStatus(r, "default/mem")?["lastEvaluation"] as? String) != later })
        XCTAssertEqual(r.log.components(separatedBy: "no memory limit").count - 1, 1, "said once, not at every check")
        XCTAssertEqual(Self.ruleStatus(r, "default/mem")?["state"] as? String, "inactive")
    }

    /// Directory mode: a peer named by --peers is stopped; instanceOffline fires for it and resolves when it is back.
    func testInstanceOfflineWhenAPeerStops() throws {
        let hmac = secret("hmac")
        let hook = try WebhookReceiver(secret: hmac)
        let peer = try RampartInstance()
        try peer.start()
        XCTAssertTrue(peer.waitReady(), peer.log)
        let r = try RampartInstance(extraArgs: ["--dev", "--peers", peer.adminURL])
        try r.write("a.yaml", Self.rule("peer-down", "{type: instanceOffline, threshold: 2s}", contactPoints: ["hook"],
                                        extra: "  message: \"{{peer}} offline for {{offlineFor}}\"\n") + "---\n"
            + Self.contactPoint("hook", url: hook.url, secret: hmac))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        // Up for longer than the threshold, checked every second: no alert.
        let started = Date()
        XCTAssertTrue(Poll.until { Date().timeIntervalSince(started) > 4 && Self.ruleStatus(r, "default/peer-down")?["lastEvaluation"] != nil })
        XCTAssertEqual(Self.ruleStatus(r, "default/peer-down")?["state"] as? String, "inactive")
        XCTAssertTrue(hook.received.isEmpty)

        peer.stop()
        let firing = hook.wait { $0.status == "firing" }
        XCTAssertEqual(firing?.subject, ["peer": peer.adminURL], r.log)
        XCTAssertTrue((firing?.json["message"] as? String)?.hasPrefix(peer.adminURL + " offline for ") ?? false)
        try peer.start()
        XCTAssertNotNil(hook.wait { $0.status == "resolved" }, r.log)
    }

    /// A real Prometheus scrapes the admin API's /metrics over HTTPS (the state dir's CA) with the bearer token:
    /// the target is up and rampart_alerts is a series; promtool finds the exposition clean.
    func testPrometheusScrapesAdminMetricsOverHTTPS() throws {
        let base = try TempDir.make("prom-run")
        let manifests = base + "/manifests", state = base + "/state"
        try FileManager.default.createDirectory(atPath: manifests, withIntermediateDirectories: true)
        try (Self.rule("reload", "{type: reloadFailed}", contactPoints: ["hook"]) + "---\n"
             + Self.rule("admin-cert", "{type: certificateExpiry, threshold: 3650d}", contactPoints: ["hook"]) + "---\n"
             + Self.contactPoint("hook", url: "http://127.0.0.1:9/x", secret: "k"))
            .write(toFile: manifests + "/a.yaml", atomically: true, encoding: .utf8)
        let admin = Ports.free()
        let p = try Background(PackagePaths.rampart, ["run", manifests, "--listen", "127.0.0.1:\(Ports.free())", "--admin", "127.0.0.1:\(admin)",
                                                      "--state-dir", state, "--workers", "1", "--dev"])
        defer { p.stop() }
        let ca = state + "/admin-tls.crt"
        func scrape() -> String? {
            guard let r = try? Command.run("/usr/bin/curl", ["-sS", "--fail", "--cacert", ca, "https://127.0.0.1:\(admin)/metrics"]), r.code == 0 else { return nil }
            return r.stdout
        }
        XCTAssertTrue(Poll.until(timeout: 30) { scrape()?.contains("rampart_alerts{rule=\"default/reload\"") ?? false }, p.output)
        let prom = try PrometheusServer(scrapeConfig: """
          - job_name: rampart
            scheme: https
            tls_config: {ca_file: '\(ca)'}
            authorization: {type: Bearer, credentials_file: '\(state)/admin-token'}
            static_configs: [{targets: ['127.0.0.1:\(admin)']}]
        """)
        XCTAssertTrue(Poll.until(timeout: 60, interval: 0.2) { prom.query("up{job=\"rampart\"}").first?.value == "1" }, prom.process.output)
        XCTAssertTrue(Poll.until(timeout: 30, interval: 0.2) {
            prom.query("rampart_alerts{state=\"inactive\"}").contains { $0.labels["rule"] == "default/reload" }
        })

        // The admin API's own certificate is watched too (a self-signed one lasts far less than ten years).
        let token = try String(contentsOfFile: state + "/admin-token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(Poll.until(timeout: 20) {
            let r = try? Command.run("/usr/bin/curl", ["-sS", "--cacert", ca, "-H", "Authorization: Bearer \(token)", "https://127.0.0.1:\(admin)/api/v1/alerts"])
            return r?.stdout.contains("\"subject\":{\"certificate\":\"admin\"}") ?? false
        }, p.output)

        let text = try XCTUnwrap(scrape())
        let lint = try Command.run("/usr/bin/promtool", ["check", "metrics"], stdin: text)
        XCTAssertEqual(lint.code, 0, lint.stdout + lint.stderr)
        // What promtool does not check: every series appears once.
        let series = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: " ").dropLast().joined(separator: " ") }
        XCTAssertEqual(series.count, Set(series).count, "duplicate series")
    }

    /// The README's examples: one AlertRule (at least) per condition type, all valid without a warning.
    func testExamplesCoverEveryConditionAndValidate() throws {
        let dir = PackagePaths.root.appendingPathComponent("examples/alerts").path
        let r = try Command.rampart(["validate", dir])
        XCTAssertEqual(r.code, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains(": 0 errors, 0 warnings"), r.stderr)
        let text = try FileManager.default.contentsOfDirectory(atPath: dir).map { try String(contentsOfFile: dir + "/" + $0, encoding: .utf8) }.joined()
        for type in ["certificateExpiry", "upstreamUnhealthy", "instanceOffline", "errorRate", "latency", "cpuQuota", "memoryQuota", "reloadFailed",
                     "secretResolutionFailed"] {
            XCTAssertTrue(text.contains("type: \(type)"), type)
        }
    }

    func testFlagsAndHelp() throws {
        let help = try Command.rampart(["alerts", "--help"])
        XCTAssertEqual(help.code, 0)
        XCTAssertTrue(help.stdout.contains("Usage: rampart alerts test RULE [PATH...]"))
        XCTAssertTrue(try Command.rampart(["run", "--help"]).stdout.contains("--cgroup-root DIR"))
        let bad = try Command.rampart(["run", "--peers", "ftp://x", "--state-dir", try TempDir.make("peers") + "/s", "--admin-tls", "off"])
        XCTAssertEqual(bad.code, 2)
        XCTAssertTrue(bad.stderr.contains("--peers: \"ftp://x\" is not an http:// or https:// URL"), bad.stderr)
        XCTAssertEqual(try Command.rampart(["alerts"]).code, 2)
    }

    /// Kubernetes source: each replica renews its instance Lease; a replica killed (no clean-up) stops
    /// renewing, and the other's instanceOffline fires for it by its identity.
    func testInstanceOfflineFromInstanceLeasesInKubernetes() throws {
        let api = try KubernetesAPIStandIn()
        let hmac = secret("hmac")
        let hook = try WebhookReceiver(secret: hmac)
        let args = ["--source", "kubernetes", "--kubeconfig", api.kubeconfigPath, "--dev"]
        let a = try RampartInstance(extraArgs: args, env: ["POD_NAME": "rampart-a"])
        let b = try RampartInstance(extraArgs: args, env: ["POD_NAME": "rampart-b"])
        try a.start(paths: [])
        try b.start(paths: [])
        XCTAssertTrue(a.waitReady() && b.waitReady(), a.log + b.log)
        // Leases are renewed every 5 s: 12 s without one is offline.
        let applied = api.kubectl(["apply", "--validate=false", "-f", "-"], stdin: Self.rule("replica-down", "{type: instanceOffline, threshold: 12s}", contactPoints: ["hook"])
            + "---\n" + Self.contactPoint("hook", url: hook.url, secret: hmac))
        XCTAssertEqual(applied.code, 0, applied.stderr)
        XCTAssertTrue(Poll.until(timeout: 30) { Self.activeAlerts(a).isEmpty && Self.ruleStatus(a, "default/replica-down")?["lastEvaluation"] != nil }, a.log)
        // Both alive for longer than the threshold: b's renewals are seen (a subject checked and fine), nothing fires.
        let started = Date()
        XCTAssertTrue(Poll.until(timeout: 30, interval: 0.2) {
            Date().timeIntervalSince(started) > 15
                && (a.api("/metrics")?.body.contains("rampart_alerts{rule=\"default/replica-down\",state=\"inactive\"} 1\n") ?? false)
        }, a.api("/metrics")?.body ?? "")
        XCTAssertTrue(hook.received.isEmpty, "\(hook.received.map(\.body))")
        b.process?.kill9()
        let firing = hook.wait(timeout: 45) { $0.status == "firing" }
        XCTAssertEqual(firing?.subject, ["peer": "rampart-b"], a.log)
        XCTAssertFalse(hook.received.contains { $0.subject["peer"] == "rampart-a" }, "a replica never reports itself")
        XCTAssertEqual(a.stop(), 0)
    }

    /// Two replicas with `--leader-elect`: both see the upstream node down, only the leader notifies. The leader is
    /// stopped (by its PID); the new leader re-sends the firing alert at once, and when the node comes back, the
    /// resolve comes from it. An attacker who can kill the leader does not silence an alert that is firing.
    func testNewLeaderResendsFiringAlertAndSendsTheResolve() throws {
        let api = try KubernetesAPIStandIn()
        let hmac = secret("hmac")
        let hook = try WebhookReceiver(secret: hmac)
        let up = try AlertUpstream()
        let args = ["--source", "kubernetes", "--kubeconfig", api.kubeconfigPath, "--leader-elect", "--dev"]
        let a = try RampartInstance(extraArgs: args, env: ["POD_NAME": "rampart-a"])
        let b = try RampartInstance(extraArgs: args, env: ["POD_NAME": "rampart-b"])
        try a.start(paths: [])
        try b.start(paths: [])
        XCTAssertTrue(a.waitReady() && b.waitReady(), a.log + b.log)
        let applied = api.kubectl(["apply", "--validate=false", "-f", "-"], stdin: Manifests.upstream("up", port: up.port,
            extra: "  healthCheck: {active: {interval: 200ms, timeout: 500ms, unhealthyAfter: 1, healthyAfter: 1}}\n") + "---\n"
            + Manifests.route("r", paths: ["/*"], upstream: "up") + "---\n"
            + Self.rule("node-down", "{type: upstreamUnhealthy}", contactPoints: ["hook"]) + "---\n" + Self.contactPoint("hook", url: hook.url, secret: hmac))
        XCTAssertEqual(applied.code, 0, applied.stderr)
        func holder() -> String? {
            (api.requestJSON(path: "/apis/coordination.k8s.io/v1/namespaces/default/leases/rampart-leader").json?["spec"] as? [String: Any])?["holderIdentity"] as? String
        }
        XCTAssertTrue(Poll.until(timeout: 30) { holder() != nil })
        let leader = holder() == "rampart-a" ? a : b, follower = leader === a ? b : a
        func sent(_ r: RampartInstance) -> String? {
            let line = r.api("/metrics")?.body.split(separator: "\n").first { $0.hasPrefix("rampart_alert_notifications_total{contact_point=\"default/hook\",result=\"sent\"}") }
            return line?.split(separator: " ").last.map(String.init)
        }
        func firing(_ r: RampartInstance) -> Bool { Self.activeAlerts(r).contains { $0["rule"] as? String == "default/node-down" && $0["state"] as? String == "firing" } }
        XCTAssertTrue(Poll.until(timeout: 30) { Self.ruleStatus(follower, "default/node-down")?["lastEvaluation"] != nil }, follower.log)

        up.kill()
        XCTAssertNotNil(hook.wait { $0.status == "firing" }, leader.log)
        XCTAssertTrue(Poll.until(timeout: 30) { firing(leader) && firing(follower) && sent(leader) == "1" }, follower.log)
        XCTAssertEqual(sent(follower), "0", "the follower evaluates and keeps the alert, but does not notify")
        XCTAssertEqual(hook.received.filter { $0.status == "firing" }.count, 1)

        // The leader goes away (SIGTERM to its PID; it hands the Lease back). Anything received from now on is the follower's.
        XCTAssertEqual(leader.stop(), 0)
        XCTAssertTrue(Poll.until(timeout: 30) { sent(follower) == "1" }, follower.log)
        let resent = hook.received.filter { $0.status == "firing" }
        XCTAssertEqual(resent.count, 2, "\(hook.received.map(\.body))")
        XCTAssertEqual(resent.last?.verified, true)
        XCTAssertEqual(resent.last?.json["repeat"] as? Bool, true, "marked as a possible repeat of the old leader's")
        XCTAssertEqual(resent.last?.json["fingerprint"] as? String, resent.first?.json["fingerprint"] as? String, "the same alert")
        XCTAssertEqual(resent.last?.subject, ["upstream": "default/up", "node": "127.0.0.1:\(up.port)"])
        XCTAssertTrue(follower.log.contains("leading now; re-sending the firing alerts"), follower.log)

        try up.start()
        let resolved = hook.wait { $0.status == "resolved" }
        XCTAssertEqual(resolved?.verified, true, follower.log)
        XCTAssertEqual(resolved?.json["fingerprint"] as? String, resent.first?.json["fingerprint"] as? String)
        XCTAssertTrue(Poll.until(timeout: 10) { sent(follower) == "2" }, "the resolve came from the new leader")
        XCTAssertEqual(follower.stop(), 0)
    }
}

/// Requests `urls` in turn on a thread of its own until `stop()`.
final class TrafficLoop: Sendable {
    private let stopped = Atomic<Bool>(false)

    init(_ urls: [String]) {
        Thread { [self] in
            while !stopped.load(ordering: .relaxed) { for url in urls { _ = Curl.get(url) } }
        }.start()
    }

    func stop() { stopped.store(true, ordering: .relaxed) }
}
