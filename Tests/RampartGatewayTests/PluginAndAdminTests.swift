import Foundation
import XCTest
@testable import RampartGateway
import TestSupport

final class PluginTests: XCTestCase {
    var up: TestUpstream!

    override func setUpWithError() throws { up = try TestUpstream(name: "a") }
    override func tearDown() { up?.stop() }

    func gateway(_ plugins: [PluginConfig], paths: [String] = ["/*"]) throws -> TestGateway {
        try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/p", paths: paths, plugins: plugins)],
                                        upstreams: ["default/up": upstreamConfig("default/up", [up])]))
    }

    func testIPRestriction() throws {
        let deny = try gateway([.ipRestriction(allow: ["10.0.0.0/8"], deny: [])])
        defer { deny.stop() }
        let r = try XCTUnwrap(deny.get("/"))
        XCTAssertEqual(r.status, 403)
        XCTAssertEqual(r.bodyString, "{\"error\":\"forbidden\"}\n")
        let allow = try gateway([.ipRestriction(allow: ["127.0.0.0/8", "::1/128"], deny: ["127.0.0.2/32"])])
        defer { allow.stop() }
        XCTAssertEqual(allow.get("/")?.status, 200)
        let denied = try gateway([.ipRestriction(allow: [], deny: ["127.0.0.1"])])
        defer { denied.stop() }
        XCTAssertEqual(denied.get("/")?.status, 403)
        XCTAssertEqual(up.requestCount, 1)
    }

    func testResponseHeaders() throws {
        let g = try gateway([.responseHeaders(set: [HeaderPair(name: "X-Upstream", value: "hidden")],
                                              add: [HeaderPair(name: "X-Added", value: "1")], remove: ["Content-Type"])])
        defer { g.stop() }
        let r = try XCTUnwrap(g.get("/"))
        XCTAssertEqual(r.headers("X-Upstream"), ["hidden"])
        XCTAssertEqual(r.header("X-Added"), "1")
        XCTAssertNil(r.header("Content-Type"))
    }

    func testProxyRewrite() throws {
        let g = try gateway([.proxyRewrite(uri: nil, regexUri: RegexRewrite(pattern: "^/orders/(.*)", replacement: "/v2/$1"),
                                           host: "backend.internal", setHeaders: [HeaderPair(name: "X-Set", value: "s")],
                                           addHeaders: [HeaderPair(name: "X-Add", value: "a")], removeHeaders: ["X-Drop"])])
        defer { g.stop() }
        let r = try XCTUnwrap(g.get("/orders/42?q=1", headers: ["X-Drop: d", "X-Set: old"]))
        XCTAssertEqual(r.echoTarget, "/v2/42?q=1")
        XCTAssertEqual(r.echoHeader("Host"), "backend.internal")
        XCTAssertEqual(r.echoHeaders.filter { $0.0 == "X-Set" }.map { $0.1 }, ["s"])
        XCTAssertEqual(r.echoHeader("X-Add"), "a")
        XCTAssertNil(r.echoHeader("X-Drop"))
        let g2 = try gateway([.proxyRewrite(uri: "/fixed", regexUri: nil, host: nil, setHeaders: [], addHeaders: [], removeHeaders: [])])
        defer { g2.stop() }
        XCTAssertEqual(g2.get("/anything?a=b")?.echoTarget, "/fixed?a=b")
    }

    func testCORS() throws {
        let g = try gateway([.cors(CORSConfig(allowOrigins: ["https://a.example"], allowMethods: ["GET", "POST"], maxAgeSeconds: 5))])
        defer { g.stop() }
        let pre = try XCTUnwrap(httpRequest(port: g.port, "OPTIONS /x HTTP/1.1\r\nHost: h\r\nOrigin: https://a.example\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n"))
        XCTAssertEqual(pre.status, 204)
        XCTAssertEqual(pre.header("Access-Control-Allow-Origin"), "https://a.example")
        XCTAssertEqual(pre.header("Access-Control-Allow-Methods"), "GET, POST")
        let r = try XCTUnwrap(g.get("/x", headers: ["Origin: https://a.example"]))
        XCTAssertEqual(r.header("Access-Control-Allow-Origin"), "https://a.example")
        let other = try XCTUnwrap(g.get("/x", headers: ["Origin: https://evil.example"]))
        XCTAssertNil(other.header("Access-Control-Allow-Origin"))
    }

    func testInvalidPluginRejectsRouteOnly() throws {
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [
            route("default/bad", paths: ["/bad"], plugins: [.ipRestriction(allow: ["nope"], deny: [])]),
            route("default/good", paths: ["/good"]),
        ], upstreams: ["default/up": upstreamConfig("default/up", [up])]))
        defer { g.stop() }
        XCTAssertNotNil(g.gateway.rejectedRoutes["default/bad"])
        XCTAssertEqual(g.get("/good")?.status, 200)
        XCTAssertEqual(g.get("/bad")?.status, 404)
    }

    func testAccessLogToFile() throws {
        let path = TestSupport.tempPath("access.log")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/p")],
                                                upstreams: ["default/up": upstreamConfig("default/up", [up])]),
                                config: GatewayConfig(workers: 1, accessLog: .file(path)))
        defer { g.stop() }
        XCTAssertEqual(g.get("/logged?x=\"q\\\"")?.status, 200)
        var line: [String: Any]?
        XCTAssertTrue(TestSupport.waitUntil {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8), let first = text.split(separator: "\n").first else { return false }
            line = try? JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any]
            return line != nil
        }, "one JSON object per line")
        XCTAssertEqual(line?["method"] as? String, "GET")
        XCTAssertEqual(line?["path"] as? String, "/logged?x=\"q\\\"")
        XCTAssertEqual(line?["status"] as? Int, 200)
        XCTAssertEqual(line?["route"] as? String, "default/p")
        XCTAssertNotNil(line?["upstream"] as? String)
        XCTAssertFalse((line?["request_id"] as? String ?? "").isEmpty)
        XCTAssertGreaterThan(line?["time"] as? Double ?? 0, 1_700_000_000)
        for key in ["bytes", "duration_us", "client"] { XCTAssertNotNil(line?[key], key) }
    }

    func testAccessLogNeverHoldsQueryCredentials() throws {
        let path = TestSupport.tempPath("access-keys.log")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [
            route("default/k", paths: ["/k/*"], plugins: [.keyAuth(KeyAuthConfig(query: "Sig-Key", keys: [Array("route-key-1".utf8)]))]),
            route("default/p"),
        ], upstreams: ["default/up": upstreamConfig("default/up", [up])]), config: GatewayConfig(workers: 1, accessLog: .file(path)))
        defer { g.stop() }
        XCTAssertEqual(g.get("/k/x?a=1&Sig-Key=route-key-1")?.status, 200)
        XCTAssertEqual(g.get("/p?apikey=leaked-1&access_token=leaked-2&X-Amz-Signature=leaked-3&page=2")?.status, 200)
        XCTAssertEqual(g.get("/%2e%2e/x?apikey=leaked-4")?.status, 400)
        var lines: [[String: Any]] = []
        XCTAssertTrue(TestSupport.waitUntil {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            lines = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            return lines.count == 3
        }, "three JSON lines")
        let paths = lines.compactMap { $0["path"] as? String }
        XCTAssertEqual(paths, ["/k/x?a=1&Sig-Key=***", "/p?apikey=***&access_token=***&X-Amz-Signature=***&page=2", "/%2e%2e/x?apikey=***"])
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        for secret in ["route-key-1", "leaked-1", "leaked-2", "leaked-3", "leaked-4"] { XCTAssertFalse(text.contains(secret), secret) }
    }
}

final class AdminServerTests: XCTestCase {
    func testServesRequests() throws {
        let server = try AdminServer(listen: "127.0.0.1:0") { req in
            if req.path == "/healthz" { return .text(200, "ok\n") }
            if req.method == "POST" {
                return .json(200, "{\"len\":\(req.body.count),\"q\":\"\(req.query)\",\"auth\":\"\(req.header("authorization") ?? "")\"}")
            }
            return .json(404, "{\"error\":\"not found\"}")
        }
        try server.start()
        defer { server.stop() }
        let port = try XCTUnwrap(Int(server.boundAddress.split(separator: ":").last ?? ""))
        let h = try XCTUnwrap(httpRequest(port: port, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"))
        XCTAssertEqual(h.status, 200)
        XCTAssertEqual(h.bodyString, "ok\n")
        let p = try XCTUnwrap(httpRequest(port: port, "POST /api/v1/diff?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
        XCTAssertEqual(p.bodyString, "{\"len\":3,\"q\":\"x=1\",\"auth\":\"Bearer t\"}")
        XCTAssertEqual(httpRequest(port: port, "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n")?.status, 404)
        XCTAssertEqual(httpRequest(port: port, "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")?.status, 400)
    }
}
