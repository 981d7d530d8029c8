import Foundation
import XCTest
@testable import RampartGateway
import TestSupport

/// Fail closed: a route that cannot be served keeps its place in the router and answers 503 itself;
/// its traffic never reaches a less specific route.
final class NotServedTests: XCTestCase {
    var up: TestUpstream!
    override func setUpWithError() throws { up = try TestUpstream(name: "open") }
    override func tearDown() { up.stop() }

    let lookbehind = RegexRewrite(pattern: "(?<=/api)/(.*)", replacement: "/$1")

    func routes() -> [RouteConfig] {
        [
            route("default/open", paths: ["/*"]),
            .notServed(id: "default/admin", paths: ["/admin/*"], reason: .secretUnavailable),
            // The gateway refuses these plugins (a bad CIDR, a lookbehind Swift's Regex does not have).
            route("default/cidr", paths: ["/cidr/*"], plugins: [.ipRestriction(allow: ["10.0.0.0/99"], deny: [])]),
            route("default/regex", paths: ["/regex"], plugins: [.proxyRewrite(uri: nil, regexUri: lookbehind, host: nil,
                                                                                setHeaders: [], addHeaders: [], removeHeaders: [])]),
            route("default/host-open", hosts: ["a.test"], paths: ["/*"]),
            .notServed(id: "default/host-admin", hosts: ["a.test"], paths: ["/admin/*"], reason: .upstreamNotServed),
            .notServed(id: "default/post-only", paths: ["/form"], methods: ["POST"], reason: .invalid),
            .notServed(id: "default/canary", paths: ["/c"], headers: [HeaderPair(name: "x-canary", value: "1")], reason: .pluginInvalid),
            route("default/c", paths: ["/c"], priority: -1),
        ]
    }

    func testCompiledSnapshotKeepsNotServedRoutesInTheirPlace() {
        let s = CompiledSnapshot(GatewaySnapshot(generation: 1, routes: routes(), upstreams: ["default/up": upstreamConfig("default/up", [up])]),
                                 registry: HealthRegistry(), loops: 1)
        XCTAssertEqual(Set(s.rejected.keys), ["default/cidr", "default/regex"])
        XCTAssertTrue(s.rejected["default/cidr"]?.contains("10.0.0.0/99") ?? false, "the full reason is kept for status")
        let table: [(host: String, path: String, method: String, headers: [HeaderPair], want: String, reason: String?)] = [
            ("x.test", "/admin/users", "GET", [], "default/admin", "SecretUnavailable"),
            ("x.test", "/cidr/x", "GET", [], "default/cidr", "PluginInvalid"),
            ("x.test", "/regex", "GET", [], "default/regex", "PluginInvalid"),
            ("a.test", "/admin/x", "GET", [], "default/host-admin", "UpstreamNotServed"),
            ("A.TEST:8080", "/admin/x", "GET", [], "default/host-admin", "UpstreamNotServed"),
            ("a.test", "/other", "GET", [], "default/host-open", nil),
            ("x.test", "/other", "GET", [], "default/open", nil),
            ("x.test", "/admin", "GET", [], "default/open", nil),   // "/admin/*" does not cover "/admin"
            ("x.test", "/form", "POST", [], "default/post-only", "Invalid"),
            ("x.test", "/form", "GET", [], "default/open", nil),  // methods stay match keys
            ("x.test", "/c", "GET", [HeaderPair(name: "X-Canary", value: "1")], "default/canary", "PluginInvalid"),
            ("x.test", "/c", "GET", [], "default/c", nil),
        ]
        for t in table {
            let r = s.lookup(host: t.host, path: t.path, method: t.method, headers: t.headers)
            XCTAssertEqual(r?.config.id, t.want, "\(t.method) \(t.host)\(t.path)")
            XCTAssertEqual(r?.notServedBody.map { String(decoding: $0, as: UTF8.self) },
                           t.reason.map { "{\"error\":\"route not served\",\"reason\":\"\($0)\"}" }, "\(t.host)\(t.path)")
            if t.reason != nil {
                XCTAssertNil(r?.upstream, "a not-served route has no upstream to reach")
                XCTAssertFalse(r?.plugins.hasAccessPlugins ?? true)
            }
        }
    }

    func testNotServedRouteAnswers503BeforeAnyUpstreamWork() throws {
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: routes(), upstreams: ["default/up": upstreamConfig("default/up", [up])]))
        defer { g.stop() }
        XCTAssertNotNil(g.gateway.rejectedRoutes["default/regex"])

        // Keep-alive: the 503 leaves the connection usable for the next request.
        let c = try RawClient(port: g.port)
        c.send("GET /admin/x HTTP/1.1\r\nHost: x.test\r\napikey: guess\r\n\r\n")
        let refused = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(refused.status, 503)
        XCTAssertEqual(refused.bodyString, "{\"error\":\"route not served\",\"reason\":\"SecretUnavailable\"}\n")
        XCTAssertEqual(refused.header("Content-Type"), "application/json")
        XCTAssertNil(refused.header("Connection"))
        c.send("GET /cidr/x HTTP/1.1\r\nHost: x.test\r\n\r\n")
        let cidr = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(cidr.status, 503)
        XCTAssertFalse(cidr.bodyString.contains("10.0.0.0"), "the full message stays out of the response: \(cidr.bodyString)")
        c.send("GET /other HTTP/1.1\r\nHost: x.test\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.status, 200)
        XCTAssertEqual(up.requestCount, 1, "only /other reached the open route's upstream: \(up.log)")

        // A request with a body is answered and the connection closed (its body is never read or forwarded).
        let b = try RawClient(port: g.port)
        b.send("POST /admin/x HTTP/1.1\r\nHost: x.test\r\nContent-Length: 32\r\n\r\nGET /other HTTP/1.1\r\nHost: x\r\n\r\n")
        let withBody = try XCTUnwrap(b.readResponse())
        XCTAssertEqual(withBody.status, 503)
        XCTAssertEqual(withBody.header("Connection"), "close")
        XCTAssertTrue(b.isClosed())
        XCTAssertEqual(up.requestCount, 1, "a body disguised as a request is not smuggled through")

        // HEAD gets the head only; WebSocket upgrades and absolute-form targets are refused the same way.
        let h = try RawClient(port: g.port)
        h.send("HEAD /admin/x HTTP/1.1\r\nHost: x.test\r\n\r\n")
        let head = try XCTUnwrap(h.readResponse(headRequest: true))
        XCTAssertEqual(head.status, 503)
        XCTAssertEqual(head.header("Content-Length"), "58")
        let ws = try XCTUnwrap(g.get("/admin/ws", host: "x.test", headers: ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]))
        XCTAssertEqual(ws.status, 503)
        let abs = try XCTUnwrap(httpRequest(port: g.port, "GET http://a.test/admin/x HTTP/1.1\r\nHost: x.test\r\nConnection: close\r\n\r\n"))
        XCTAssertEqual(abs.bodyString, "{\"error\":\"route not served\",\"reason\":\"UpstreamNotServed\"}\n")
        XCTAssertEqual(up.requestCount, 1)

        // Counted like any other local response, under the route's own name.
        let metrics = g.gateway.metricsText()
        XCTAssertTrue(metrics.contains("rampart_http_requests_total{route=\"default/admin\",code=\"503\"} 4"), metrics)
        XCTAssertTrue(metrics.contains("rampart_http_requests_total{route=\"default/cidr\",code=\"503\"} 1"), metrics)
    }

    /// The route's key-auth parameter name is gone with its plugins: a client's key in the query must not reach the log.
    func testAccessLogLeavesOutTheQueryOfANotServedRoute() throws {
        let path = TestSupport.tempPath("access-notserved.log")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: routes(), upstreams: ["default/up": upstreamConfig("default/up", [up])]),
                                config: GatewayConfig(workers: 1, accessLog: .file(path)))
        defer { g.stop() }
        XCTAssertEqual(g.get("/admin/x?Custom-Key=real-client-key&page=2")?.status, 503)
        XCTAssertEqual(g.get("/other?page=2")?.status, 200)
        var lines: [[String: Any]] = []
        XCTAssertTrue(TestSupport.waitUntil {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            lines = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            return lines.count == 2
        })
        XCTAssertEqual(lines.first?["path"] as? String, "/admin/x")
        XCTAssertEqual(lines.first?["route"] as? String, "default/admin")
        XCTAssertEqual(lines.first?["status"] as? Int, 503)
        XCTAssertEqual(lines.last?["path"] as? String, "/other?page=2", "served routes log their query as before")
        XCTAssertFalse(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").contains("real-client-key"))
    }

    func testRouteServedAgainOnceItsPluginCompiles() throws {
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: routes(), upstreams: ["default/up": upstreamConfig("default/up", [up])]))
        defer { g.stop() }
        XCTAssertEqual(g.get("/cidr/x")?.status, 503)
        var fixed = routes()
        fixed[2] = route("default/cidr", paths: ["/cidr/*"], plugins: [.ipRestriction(allow: ["127.0.0.0/8"], deny: [])])
        g.gateway.apply(GatewaySnapshot(generation: 2, routes: fixed, upstreams: ["default/up": upstreamConfig("default/up", [up])]))
        XCTAssertNil(g.gateway.rejectedRoutes["default/cidr"])
        XCTAssertTrue(Poll.until { g.get("/cidr/x")?.status == 200 })
        XCTAssertEqual(g.get("/admin/x")?.status, 503)
    }
}
