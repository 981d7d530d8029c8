import Foundation
import XCTest
@testable import RampartGateway
import TestSupport

final class ProxyTests: XCTestCase {
    var up: TestUpstream!
    var gw: TestGateway!

    override func setUpWithError() throws {
        up = try TestUpstream(name: "a")
        gw = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/all")],
                                             upstreams: ["default/up": upstreamConfig("default/up", [up])]))
    }

    override func tearDown() {
        gw?.stop()
        up?.stop()
    }

    func testGetIsProxied() throws {
        let r = try XCTUnwrap(gw.get("/hello?x=1"))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.echoServer, "a")
        XCTAssertEqual(r.echoTarget, "/hello?x=1")
        XCTAssertEqual(r.header("X-Upstream"), "a")
    }

    func testNoRouteIs404WithJSONBody() throws {
        gw.gateway.apply(GatewaySnapshot(generation: 2, routes: [route("default/x", paths: ["/only"])],
                                         upstreams: ["default/up": upstreamConfig("default/up", [up])]))
        XCTAssertTrue(TestSupport.waitUntil { self.gw.get("/only")?.status == 200 })
        let r = try XCTUnwrap(gw.get("/other"))
        XCTAssertEqual(r.status, 404)
        XCTAssertEqual(r.bodyString, "{\"error\":\"no route\"}\n")
        XCTAssertEqual(r.header("Content-Type"), "application/json")
    }

    func testPostContentLengthBody() throws {
        let body = String(repeating: "abc", count: 1000)
        let r = try XCTUnwrap(httpRequest(port: gw.port,
            "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.echoBody, body)
        XCTAssertEqual(r.json?["method"] as? String, "POST")
    }

    func testPostChunkedBodyStreamedInPieces() throws {
        let c = try RawClient(port: gw.port)
        c.send("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        c.send("5\r\nhello\r\n")
        usleep(20_000)
        c.send("6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.echoBody, "hello world")
        XCTAssertEqual(r.echoHeader("Transfer-Encoding"), "chunked")
    }

    func testLargeBodiesStreamBothWays() throws {
        let n = 3_000_000
        let c = try RawClient(port: gw.port, timeout: 20)
        c.send("GET /big/\(n) HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.body.count, n)
        // upload 2 MB with Content-Length
        let body = [UInt8](repeating: UInt8(ascii: "z"), count: 2_000_000)
        c.send(Array("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
        let r2 = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r2.status, 200)
        XCTAssertEqual(r2.echoBody?.utf8.count, body.count)
    }

    func testChunkedResponseRelayed() throws {
        let c = try RawClient(port: gw.port)
        c.send("GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.header("Transfer-Encoding"), "chunked")
        XCTAssertEqual(r.echoServer, "a")
        // same connection still usable
        c.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.echoTarget, "/again")
    }

    func testHTTP10ClientGetsDechunkedBodyAndClose() throws {
        let c = try RawClient(port: gw.port)
        c.send("GET /chunked HTTP/1.0\r\n\r\n")
        let raw = String(decoding: c.readToEOF(), as: UTF8.self)
        XCTAssertTrue(raw.hasPrefix("HTTP/1.1 200"))
        XCTAssertFalse(raw.lowercased().contains("transfer-encoding"))
        XCTAssertTrue(raw.contains("\"server\": \"a\""))
    }

    func testHTTP10KeepAlive() throws {
        let c = try RawClient(port: gw.port)
        c.send("GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.header("Connection"), "keep-alive")
        c.send("GET /two HTTP/1.0\r\n\r\n")
        let r2 = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r2.echoTarget, "/two")
        XCTAssertTrue(c.isClosed())
    }

    func testCloseDelimitedUpstreamResponse() throws {
        let c = try RawClient(port: gw.port)
        c.send("GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.echoServer, "a")
        XCTAssertEqual(r.header("Connection"), "close")
    }

    func testHeadResponseHasNoBody() throws {
        let c = try RawClient(port: gw.port)
        c.send("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse(headRequest: true))
        XCTAssertEqual(r.status, 200)
        XCTAssertNotNil(r.header("Content-Length"))
        c.send("GET /after-head HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.echoTarget, "/after-head")
    }

    func test204And304HaveNoBody() throws {
        let c = try RawClient(port: gw.port)
        c.send("GET /status/204 HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.status, 204)
        c.send("GET /status/304 HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.status, 304)
        c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.echoTarget, "/next")
    }

    func testKeepAliveAndPipelining() throws {
        let c = try RawClient(port: gw.port)
        c.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.echoTarget, "/1")
        let r2 = c.readResponse()
        XCTAssertEqual(r2?.echoTarget, "/2")
        XCTAssertEqual(r2?.echoBody, "abc")
        XCTAssertEqual(c.readResponse()?.echoTarget, "/3")
        // upstream connections are reused from the pool
        for i in 0..<5 {
            c.send("GET /ka\(i) HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertEqual(c.readResponse()?.echoTarget, "/ka\(i)")
        }
        XCTAssertLessThanOrEqual(up.connectionCount, 2)
    }

    func testExpect100Continue() throws {
        let c = try RawClient(port: gw.port)
        c.send("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        let interim = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(interim.status, 100)
        c.send("data")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.echoBody, "data")
        XCTAssertNil(r.echoHeader("Expect"))
    }

    func testForwardingHeadersAndHopByHopStripping() throws {
        let c = try RawClient(port: gw.port)
        c.send("GET /hop HTTP/1.1\r\nHost: api.example.com:8080\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\n"
               + "Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X\r\nProxy-Authorization: p\r\nUpgrade: h2c\r\n"
               + "X-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nX-Custom: kept\r\nX-Request-Id: abc-123\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 200)
        for h in ["Connection", "X-Secret", "Keep-Alive", "TE", "Trailer", "Proxy-Authorization", "Upgrade"] {
            XCTAssertNil(r.echoHeader(h), "\(h) must not be forwarded")
        }
        XCTAssertEqual(r.echoHeader("X-Custom"), "kept")
        XCTAssertEqual(r.echoHeader("Host"), "api.example.com:8080")
        XCTAssertEqual(r.echoHeader("X-Forwarded-For"), "127.0.0.1")   // untrusted peer: not believed
        XCTAssertEqual(r.echoHeader("X-Real-IP"), "127.0.0.1")
        XCTAssertEqual(r.echoHeader("X-Forwarded-Proto"), "http")
        XCTAssertEqual(r.echoHeader("X-Forwarded-Host"), "api.example.com:8080")
        XCTAssertEqual(r.echoHeader("Via"), "1.1 rampart")
        XCTAssertEqual(r.echoHeader("X-Request-Id"), "abc-123")
        // upstream's hop-by-hop response headers are stripped too
        XCTAssertNil(r.header("X-Hop"))
        XCTAssertNil(r.header("Keep-Alive"))
    }

    func testGeneratedRequestId() throws {
        let r = try XCTUnwrap(gw.get("/rid"))
        let id = try XCTUnwrap(r.echoHeader("X-Request-Id"))
        XCTAssertEqual(id.count, 32)
        XCTAssertTrue(id.allSatisfy { "0123456789abcdef".contains($0) }, id)
        let next = try XCTUnwrap(gw.get("/rid")?.echoHeader("X-Request-Id"))
        XCTAssertNotEqual(id, next, "each request gets its own id")
    }

    func testTrustedProxyForwardedFor() throws {
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/all")],
                                                upstreams: ["default/up": upstreamConfig("default/up", [up])]),
                                config: GatewayConfig(workers: 1, trustedProxies: ["127.0.0.0/8"]))
        defer { g.stop() }
        let r = try XCTUnwrap(g.get("/t", headers: ["X-Forwarded-For: 203.0.113.9, 127.0.0.5"]))
        XCTAssertEqual(r.echoHeader("X-Forwarded-For"), "203.0.113.9, 127.0.0.5, 127.0.0.1")
        XCTAssertEqual(r.echoHeader("X-Real-IP"), "203.0.113.9")
    }

    func testMetricsText() throws {
        XCTAssertEqual(gw.get("/m")?.status, 200)
        XCTAssertTrue(TestSupport.waitUntil {
            self.gw.gateway.metricsText().contains("rampart_http_requests_total{route=\"default/all\",code=\"200\"} 1")
        })
        let m = gw.gateway.metricsText()
        XCTAssertTrue(m.contains("rampart_http_request_duration_seconds_bucket{route=\"default/all\",le=\"+Inf\"} 1"))
        XCTAssertTrue(m.contains("rampart_upstream_requests_total{upstream=\"default/up\",node=\"127.0.0.1:\(up.port)\",code=\"200\"} 1"))
        XCTAssertTrue(m.contains("rampart_upstream_node_healthy{upstream=\"default/up\",node=\"127.0.0.1:\(up.port)\"} 1"))
        XCTAssertTrue(m.contains("rampart_connections_active"))
    }

    func testWebSocketTunnel() throws {
        gw.gateway.apply(GatewaySnapshot(generation: 2, routes: [route("default/ws", paths: ["/ws"], websocket: true),
                                                                 route("default/all")],
                                         upstreams: ["default/up": upstreamConfig("default/up", [up])]))
        XCTAssertTrue(TestSupport.waitUntil { self.gw.gateway.generation == 2 })
        // Poll until a loop serves the new snapshot: the upgrade is answered with 101.
        var opened: (RawClient, TestResponse)?
        XCTAssertTrue(TestSupport.waitUntil {
            guard let c = try? RawClient(port: self.gw.port) else { return false }
            c.send("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n")
            guard let r = c.readResponse(headRequest: true), r.status == 101 else { return false }
            opened = (c, r)
            return true
        })
        let (c, r) = try XCTUnwrap(opened)
        XCTAssertEqual(r.status, 101)
        XCTAssertEqual(r.header("Upgrade"), "websocket")
        c.send("ping-frame")
        var got = [UInt8]()
        XCTAssertTrue(TestSupport.waitUntil {
            var pfd = pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 50) > 0 {
                var tmp = [UInt8](repeating: 0, count: 100)
                let n = recv(c.fd, &tmp, 100, 0)
                if n > 0 { got += tmp[0..<n] }
            }
            return got == Array("ping-frame".utf8)
        })
    }

    func testSlowReaderBackpressureDeliversWholeBody() throws {
        let n = 20_000_000
        let c = try RawClient(port: gw.port, timeout: 30)
        c.send("GET /big/\(n) HTTP/1.1\r\nHost: x\r\n\r\n")
        usleep(300_000)   // the client does not read: the gateway must stop reading the upstream, not buffer 20 MB
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.body.count, n)
        c.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.echoTarget, "/after")
    }

    func testMaxConnections() throws {
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/all")],
                                                upstreams: ["default/up": upstreamConfig("default/up", [up])]),
                                config: GatewayConfig(workers: 1, maxConnections: 1))
        defer { g.stop() }
        let first = try RawClient(port: g.port)
        first.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(first.readResponse()?.status, 200)
        let second = try RawClient(port: g.port)
        XCTAssertTrue(second.isClosed(timeout: 2), "over the limit: closed at once")
        first.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(first.readResponse()?.status, 200)
        XCTAssertTrue(TestSupport.waitUntil { g.gateway.activeConnections == 0 })
        XCTAssertEqual(g.get("/")?.status, 200)
    }
}
