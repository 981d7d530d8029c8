import Foundation
import TestSupport
import XCTest

/// Fail closed through the real `rampart run`: a Route that cannot be served answers 503 with a
/// reason code and never lets its traffic fall through to a less specific Route (an open `/*`).
final class FailClosedRunTests: XCTestCase {
    /// The Ready (or other) condition of one resource in `GET /api/v1/status`.
    func condition(_ r: RampartInstance, _ kind: String, _ name: String, _ type: String = "Ready") -> [String: Any]? {
        guard let body = r.api("/api/v1/status")?.body, let root = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
              let resources = root["resources"] as? [[String: Any]],
              let res = resources.first(where: { $0["kind"] as? String == kind && $0["name"] as? String == name }),
              let conds = res["conditions"] as? [[String: Any]] else { return nil }
        return conds.first { $0["type"] as? String == type }
    }

    func notServedBody(_ reason: String) -> String { "{\"error\":\"route not served\",\"reason\":\"\(reason)\"}\n" }

    /// Requests the open upstream saw for paths under `prefix`.
    func seen(_ up: TestUpstream, _ prefix: String) -> [String] { up.log.filter { $0.hasPrefix("REQ") && $0.contains(" " + prefix) } }

    func testRouteWithAnUnresolvedKeyAnswers503UntilTheKeyExists() throws {
        let open = try TestUpstream(name: "open")
        defer { open.stop() }
        let admin = try TestUpstream(name: "admin")
        defer { admin.stop() }
        let dir = try TempDir.make("failclosed")
        let keyFile = dir + "/admin.key"
        let key = "adminkey-\(UUID().uuidString)"
        let r = try RampartInstance(extraArgs: ["--dev"])
        try r.write("all.yaml", Manifests.upstream("open", port: open.port) + """
        ---
        \(Manifests.upstream("admin", port: admin.port))
        ---
        \(Manifests.route("open", paths: ["/*"], upstream: "open"))
        ---
        apiVersion: rampart.io/v1alpha1
        kind: SecretRef
        metadata: {name: admin-key}
        spec: {provider: file, file: {path: \(keyFile)}}
        ---
        \(Manifests.route("admin", paths: ["/admin/*"], upstream: "admin", extra: """
          plugins:
            key-auth: {keys: [{secretRef: {name: admin-key}}]}
        """))

        """)
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/other")?.status == 200 }, r.log)

        // The attack: the admin Route's key is missing, so without fail-closed /admin/* would reach the open "/*".
        for (path, headers) in [("/admin/x", []), ("/admin/x", ["apikey: guess"]), ("/admin/x?apikey=guess", []),
                                ("/admin//x", []), ("/admin/%78", [])] as [(String, [String])] {
            let resp = try XCTUnwrap(Curl.get(r.url + path, headers: headers))
            XCTAssertEqual(resp.status, 503, path)
            XCTAssertEqual(resp.body, notServedBody("SecretUnavailable"), path)
            XCTAssertFalse(resp.body.contains(dir), "the reason code never names a file or host")
        }
        XCTAssertEqual(seen(open, "/admin"), [], "the open upstream saw none of the admin requests")
        XCTAssertEqual(admin.requestCount, 0)
        XCTAssertEqual(Curl.get(r.url + "/other")?.status, 200, "other routes keep serving")
        let ready = try XCTUnwrap(condition(r, "Route", "admin"))
        XCTAssertEqual(ready["status"] as? String, "False")
        XCTAssertEqual(ready["reason"] as? String, "NotServed")
        XCTAssertTrue((ready["message"] as? String)?.contains("spec.plugins.key-auth.keys[0]") ?? false, "\(ready)")
        let metrics = Curl.get(r.adminURL + "/metrics")?.body ?? ""
        XCTAssertTrue(metrics.contains("rampart_http_requests_total{route=\"default/admin\",code=\"503\"} 5"), metrics)

        // The key appears: the SecretRef's retry picks it up and the Route serves, with its policy.
        try key.write(toFile: keyFile, atomically: true, encoding: .utf8)
        XCTAssertTrue(Poll.until(timeout: 60) { Curl.get(r.url + "/admin/x", headers: ["apikey: \(key)"])?.status == 200 }, r.log)
        XCTAssertEqual(Curl.get(r.url + "/admin/x", headers: ["apikey: wrong"])?.status, 401)
        XCTAssertEqual(Curl.get(r.url + "/admin/x")?.status, 401)
        XCTAssertEqual(seen(open, "/admin"), [])
        XCTAssertEqual(admin.requestCount, 1)
        XCTAssertTrue(Poll.until { self.condition(r, "Route", "admin")?["status"] as? String == "True" }, "\(condition(r, "Route", "admin") ?? [:])")
        XCTAssertTrue(r.log.contains("Route default/admin is served again"), r.log)
        r.stop()
        XCTAssertEqual(SecretScan.find([key], inDirectories: [r.stateDir], texts: ["log": r.log]), [])
    }

    func testPluginTheGatewayRefusesIsNotServedAndReported() throws {
        let open = try TestUpstream(name: "open")
        defer { open.stop() }
        let r = try RampartInstance(extraArgs: ["--dev"])
        // A rewrite host with a space passes validation (a plain string) but the gateway refuses to send it.
        // (A lookbehind regexUri used to be the example: one engine now decides, and validation refuses it.)
        try r.write("all.yaml", Manifests.upstream("open", port: open.port) + """
        ---
        \(Manifests.route("open", paths: ["/*"], upstream: "open"))
        ---
        \(Manifests.route("rewrite", paths: ["/api/*"], upstream: "open", extra: """
          plugins:
            proxy-rewrite: {host: "api internal"}
        """))
        ---
        apiVersion: rampart.io/v1alpha1
        kind: Route
        metadata: {name: host-open}
        spec: {hosts: [a.test], paths: ["/*"], upstreamRef: {name: open}}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: Route
        metadata: {name: host-secure}
        spec:
          hosts: [a.test]
          paths: ["/secure/*"]
          upstreamRef: {name: open}
          plugins:
            ip-restriction: {allow: [127.0.0.1/32]}
            proxy-rewrite: {host: "secure internal"}

        """)
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/other")?.status == 200 }, r.log)
        let api = try XCTUnwrap(Curl.get(r.url + "/api/users"))
        XCTAssertEqual(api.status, 503)
        XCTAssertEqual(api.body, notServedBody("PluginInvalid"))
        XCTAssertFalse(api.body.contains("host"), "the gateway's message stays in status and the log")
        // More specific, same host, not served: never falls to the host's "/*" nor to the any-host "/*".
        let secure = try XCTUnwrap(Curl.get(r.url + "/secure/x", headers: ["Host: a.test"]))
        XCTAssertEqual(secure.status, 503)
        XCTAssertEqual(secure.body, notServedBody("PluginInvalid"))
        XCTAssertEqual(Curl.get(r.url + "/x", headers: ["Host: a.test"])?.status, 200)
        XCTAssertEqual(Curl.get(r.url + "/secure/x", headers: ["Host: b.test"])?.status, 200, "another host's /secure is the open route's")
        XCTAssertEqual(seen(open, "/api"), [])
        XCTAssertEqual(open.log.filter { $0.hasPrefix("REQ") && $0.contains("/secure/x") }.count, 1, "only b.test's request: \(open.log)")

        let ready = try XCTUnwrap(condition(r, "Route", "rewrite"))
        XCTAssertEqual(ready["status"] as? String, "False")
        XCTAssertEqual(ready["reason"] as? String, "NotServed")
        XCTAssertTrue((ready["message"] as? String)?.contains("proxy-rewrite: invalid host") ?? false, "\(ready)")
        XCTAssertEqual(condition(r, "Route", "host-secure")?["reason"] as? String, "NotServed")
        XCTAssertEqual(condition(r, "Route", "open")?["status"] as? String, "True")

        // Another generation: the unchanged problem is not logged again.
        try r.write("more.yaml", Manifests.route("more", paths: ["/more"], upstream: "open"))
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/more")?.status == 200 }, r.log)
        XCTAssertTrue(Poll.until { self.occurrences(r.log, "applied generation") >= 2 }, r.log)
        XCTAssertEqual(occurrences(r.log, "Route default/rewrite is not served"), 1, r.log)
    }

    /// One regex engine decides: ICU-only syntax (lookbehind, `(?w)`, `\p{InBasicLatin}`) is refused at
    /// validation, so the Route is Invalid (503, never falls through), and what validates is served.
    func testRegexUriTheGatewayCannotCompileIsRefusedAtValidation() throws {
        let open = try TestUpstream(name: "open")
        defer { open.stop() }
        let r = try RampartInstance(extraArgs: ["--dev"])
        var manifests = Manifests.upstream("open", port: open.port) + "---\n" + Manifests.route("open", paths: ["/*"], upstream: "open")
        let refused = ["behind": "(?<=/behind)/(.*)", "word": "(?w)/word/(.*)", "latin": "/latin/(\\p{InBasicLatin}+)"]
        for (name, pattern) in refused.sorted(by: { $0.key < $1.key }) {
            manifests += "\n---\n" + Manifests.route(name, paths: ["/\(name)/*"], upstream: "open", extra: """
              plugins:
                proxy-rewrite: {regexUri: ['\(pattern)', "/v2/$1"]}
            """)
        }
        manifests += "\n---\n" + Manifests.route("served", paths: ["/served/*"], upstream: "open", extra: """
          plugins:
            proxy-rewrite: {regexUri: ["^/served/(.*)", "/v2/$1"]}
        """)
        try r.write("all.yaml", manifests + "\n")
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/served/x")?.status == 200 }, r.log)
        XCTAssertEqual(open.log.filter { $0.hasPrefix("REQ") && $0.contains("/v2/x") }.count, 1, "\(open.log)")
        for name in refused.keys.sorted() {
            let resp = try XCTUnwrap(Curl.get(r.url + "/\(name)/x"))
            XCTAssertEqual(resp.status, 503, name)
            XCTAssertEqual(resp.body, notServedBody("Invalid"), name)
            let accepted = try XCTUnwrap(condition(r, "Route", name, "Accepted"), name)
            XCTAssertEqual(accepted["reason"] as? String, "Invalid", name)
            XCTAssertTrue((accepted["message"] as? String)?.contains("regexUri") ?? false, "\(accepted)")
        }
        XCTAssertEqual(open.log.filter { $0.hasPrefix("REQ") && !$0.contains("/v2/x") }, [], "nothing fell through to the open route")
    }

    func testNewRouteWithATypoInItsPluginsAnswers503InsteadOfFallingThrough() throws {
        let open = try TestUpstream(name: "open")
        defer { open.stop() }
        let key = "k-\(UUID().uuidString)"
        let r = try RampartInstance(extraArgs: ["--dev"])
        try r.write("open.yaml", Manifests.upstream("open", port: open.port) + "---\n" + Manifests.route("open", paths: ["/*"], upstream: "open"))
        // Typos in what the Routes do, none in what they match.
        try r.write("admin.yaml", Manifests.route("admin", paths: ["/admin/*"], upstream: "open", extra: """
          plugins:
            key-auth: {keys: [{value: \(key)}], heder: x-key}
        """) + "\n---\n" + Manifests.route("ops", paths: ["/ops/*"], upstream: "open", extra: """
          plugins:
            key-auht: {keys: [{value: \(key)}]}
        """) + "\n---\n" + Manifests.route("billing", paths: ["/billing"], upstream: "open", extra: """
          plugins:
            key-auth: {keys: [{secretRef: {name: no-such-ref}}]}
        """))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/other")?.status == 200 }, r.log)
        for path in ["/admin/x", "/ops/x", "/billing"] {
            let resp = try XCTUnwrap(Curl.get(r.url + path, headers: ["apikey: \(key)"]))
            XCTAssertEqual(resp.status, 503, path)
            XCTAssertEqual(resp.body, notServedBody("Invalid"), path)
        }
        XCTAssertEqual(open.log.filter { $0.hasPrefix("REQ") && !$0.contains("/other") }, [], "nothing fell through to the open route")
        XCTAssertEqual(condition(r, "Route", "admin", "Accepted")?["reason"] as? String, "Invalid")
        let ready = try XCTUnwrap(condition(r, "Route", "admin"))
        XCTAssertEqual(ready["reason"] as? String, "NotServed")
        XCTAssertTrue((ready["message"] as? String)?.contains("503") ?? false, "\(ready)")
        XCTAssertEqual(condition(r, "Route", "billing")?["reason"] as? String, "NotServed")

        // Fixed: the Route serves, with its policy.
        try r.write("admin.yaml", Manifests.route("admin", paths: ["/admin/*"], upstream: "open", extra: """
          plugins:
            key-auth: {keys: [{value: \(key)}], header: x-key}
        """))
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/admin/x", headers: ["x-key: \(key)"])?.status == 200 }, r.log)
        XCTAssertEqual(Curl.get(r.url + "/admin/x")?.status, 401)
        XCTAssertEqual(Curl.get(r.url + "/ops/x")?.status, 200, "removed from the source: no longer held")

        // A typo in a Route that serves keeps its last good version serving (with its policy), not a 503.
        try r.write("admin.yaml", Manifests.route("admin", paths: ["/admin/*"], upstream: "open", extra: """
          plugins:
            key-auth: {keys: [{value: \(key)}], header: x-key, typo: 1}
        """))
        XCTAssertTrue(Poll.until { self.condition(r, "Route", "admin", "Accepted")?["status"] as? String == "False" }, r.log)
        XCTAssertEqual(Curl.get(r.url + "/admin/x", headers: ["x-key: \(key)"])?.status, 200)
        XCTAssertEqual(Curl.get(r.url + "/admin/x")?.status, 401)
    }

    func occurrences(_ text: String, _ needle: String) -> Int { text.components(separatedBy: needle).count - 1 }
}
