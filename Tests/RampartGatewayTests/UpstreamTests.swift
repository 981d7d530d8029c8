import Foundation
import XCTest
@testable import RampartGateway
import TestSupport

final class UpstreamTests: XCTestCase {
    func deadPort() throws -> Int {
        // Bind then close: nothing listens there afterwards.
        let u = try TestUpstream(name: "dead")
        let p = u.port
        u.stop()
        return p
    }

    func test502WhenUpstreamPortIsDead() throws {
        let p = try deadPort()
        let cfg = UpstreamConfig(id: "u", nodes: [UpstreamNode(host: "127.0.0.1", port: p)], retries: 0)
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r")], upstreams: ["default/up": cfg]))
        defer { g.stop() }
        let r = try XCTUnwrap(g.get("/"))
        XCTAssertEqual(r.status, 502)
        XCTAssertTrue(g.gateway.metricsText().contains("rampart_http_requests_total{route=\"default/r\",code=\"502\"} 1"))
    }

    func testRetryOnConnectFailureGoesToAnotherNode() throws {
        let p = try deadPort()
        let live = try TestUpstream(name: "live")
        defer { live.stop() }
        let cfg = UpstreamConfig(id: "u", nodes: [UpstreamNode(host: "127.0.0.1", port: p), UpstreamNode(host: "127.0.0.1", port: live.port)],
                                 retries: 1)
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r")], upstreams: ["default/up": cfg]),
                                config: GatewayConfig(workers: 1))
        defer { g.stop() }
        for _ in 0..<6 {
            let r = try XCTUnwrap(g.get("/"))
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.echoServer, "live")
        }
    }

    func test503WhenAllNodesUnhealthy() throws {
        let p = try deadPort()
        let health = HealthCheckConfig(active: ActiveHealthCheck(path: "/healthz", intervalMs: 50, timeoutMs: 200,
                                                                 healthyAfter: 1, unhealthyAfter: 1))
        let cfg = UpstreamConfig(id: "u", nodes: [UpstreamNode(host: "127.0.0.1", port: p)], healthCheck: health)
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r")], upstreams: ["default/up": cfg]))
        defer { g.stop() }
        XCTAssertTrue(TestSupport.waitUntil { g.gateway.nodeHealth()["default/up"]?.values.allSatisfy { !$0 } == true })
        XCTAssertEqual(g.get("/")?.status, 503)
        XCTAssertTrue(g.gateway.metricsText().contains("rampart_upstream_node_healthy{upstream=\"default/up\",node=\"127.0.0.1:\(p)\"} 0"))
    }

    func testActiveHealthCheckTakesNodeOutAndBack() throws {
        let a = try TestUpstream(name: "a")
        defer { a.stop() }
        let health = HealthCheckConfig(active: ActiveHealthCheck(path: "/status/200", intervalMs: 50, timeoutMs: 300,
                                                                 healthyAfter: 1, unhealthyAfter: 1))
        let cfg = UpstreamConfig(id: "u", nodes: [UpstreamNode(host: "127.0.0.1", port: a.port)], healthCheck: health)
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r")], upstreams: ["default/up": cfg]))
        defer { g.stop() }
        XCTAssertTrue(TestSupport.waitUntil { a.log.contains("REQ GET /status/200") })
        XCTAssertEqual(g.gateway.nodeHealth()["default/up"]?.values.first, true)
        XCTAssertEqual(g.get("/")?.status, 200)
        // health checks run once per instance, not per loop (2 loops here): ~1 probe per interval
    }

    func testPassiveHealthMarksNodeDown() throws {
        let bad = try TestUpstream(name: "bad")
        let good = try TestUpstream(name: "good")
        defer { bad.stop(); good.stop() }
        let health = HealthCheckConfig(passive: PassiveHealthCheck(unhealthyAfter: 2, statuses: [500], downMs: 60_000))
        let cfg = UpstreamConfig(id: "u", nodes: [UpstreamNode(host: "127.0.0.1", port: bad.port),
                                                   UpstreamNode(host: "127.0.0.1", port: good.port)], healthCheck: health)
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r")], upstreams: ["default/up": cfg]),
                                config: GatewayConfig(workers: 1))
        defer { g.stop() }
        var badSeen = 0
        for _ in 0..<8 {
            // /status/500 is served by both; only "bad" keeps failing because we count per node
            let r = try XCTUnwrap(g.get("/status/500"))
            if r.echoServer == "bad" { badSeen += 1 }
        }
        XCTAssertEqual(g.gateway.nodeHealth()["default/up"]?["127.0.0.1:\(bad.port)"], false)
        XCTAssertEqual(g.gateway.nodeHealth()["default/up"]?["127.0.0.1:\(good.port)"], false)
        XCTAssertEqual(g.get("/")?.status, 503)
        _ = badSeen
    }

    func test504OnUpstreamReadTimeout() throws {
        let hang = try TestUpstream(name: "hang", mode: "hang")
        defer { hang.stop() }
        let cfg = upstreamConfig("default/up", [hang], timeout: Timeouts(connectMs: 1000, sendMs: 1000, readMs: 300))
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r")], upstreams: ["default/up": cfg]))
        defer { g.stop() }
        let r = try XCTUnwrap(g.get("/"))
        XCTAssertEqual(r.status, 504)
        XCTAssertEqual(r.bodyString, "{\"error\":\"upstream timeout\"}\n")
    }

    func testRouteTimeoutOverridesUpstream() throws {
        let hang = try TestUpstream(name: "hang", mode: "hang")
        defer { hang.stop() }
        let cfg = upstreamConfig("default/up", [hang], timeout: Timeouts(connectMs: 1000, sendMs: 1000, readMs: 60_000))
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r", timeout: Timeouts(readMs: 200))],
                                                upstreams: ["default/up": cfg]))
        defer { g.stop() }
        XCTAssertEqual(g.get("/")?.status, 504)
    }

    /// Sends a POST with a `size`-byte body from another thread (the send blocks while the gateway
    /// stops reading) and reads the response.
    func post(_ g: TestGateway, size: Int) throws -> TestResponse? {
        let c = try RawClient(port: g.port, timeout: 20)
        c.send("POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: \(size)\r\n\r\n")
        let body = [UInt8](repeating: 0x61, count: size)
        DispatchQueue.global().async { c.send(body) }
        return c.readResponse()
    }

    /// An upstream that accepts and never reads: once its receive buffer and the gateway's buffers
    /// are full, no request byte moves for `timeout.send`, and the exchange fails with 504 (not a
    /// client-blamed 408 after the body timeout, nor a connection held for the read timeout) and the
    /// passive health check counts a timeout. The read and body timeouts are far beyond the test's wait.
    func test504WhenTheUpstreamTakesNoRequestBytesForTheSendTimeout() throws {
        let stalled = try TestUpstream(name: "stalled", mode: "noread")
        defer { stalled.stop() }
        let health = HealthCheckConfig(passive: PassiveHealthCheck(unhealthyAfter: 1, statuses: [], onConnectFailure: false,
                                                                   onTimeout: true, downMs: 60_000))
        let cfg = upstreamConfig("default/up", [stalled], retries: 0, health: health,
                                 timeout: Timeouts(connectMs: 1000, sendMs: 500, readMs: 120_000))
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r")], upstreams: ["default/up": cfg]),
                                config: GatewayConfig(workers: 1, bodyTimeoutMs: 120_000))
        defer { g.stop() }
        let r = try XCTUnwrap(post(g, size: 64 << 20))
        XCTAssertEqual(r.status, 504)
        XCTAssertEqual(r.bodyString, "{\"error\":\"upstream timeout\"}\n")
        XCTAssertEqual(stalled.requestCount, 0, "the upstream never read the request")
        XCTAssertEqual(g.gateway.nodeHealth()["default/up"]?["127.0.0.1:\(stalled.port)"], false)
    }

    /// The send timeout is about progress, not the whole upload: an upstream that reads a 4 MB body
    /// slowly (64 KiB every 20 ms, ~1.3 s in all) but steadily gets it all under a 500 ms send timeout.
    func testSlowButSteadyUpstreamReaderIsNotCutOffBySendTimeout() throws {
        let slow = try TestUpstream(name: "slow", mode: "slowread")
        defer { slow.stop() }
        let cfg = upstreamConfig("default/up", [slow], retries: 0, timeout: Timeouts(connectMs: 1000, sendMs: 500, readMs: 10_000))
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r")], upstreams: ["default/up": cfg]),
                                config: GatewayConfig(workers: 1))
        defer { g.stop() }
        let size = 4 << 20
        let r = try XCTUnwrap(post(g, size: size))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.json?["bodyLength"] as? Int, size)
    }

    func testSmoothWeightedRoundRobinDistribution() throws {
        let a = try TestUpstream(name: "a")
        let b = try TestUpstream(name: "b")
        defer { a.stop(); b.stop() }
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r")],
                                                upstreams: ["default/up": upstreamConfig("default/up", [a, b], weights: [3, 1])]),
                                config: GatewayConfig(workers: 1))
        defer { g.stop() }
        let c = try RawClient(port: g.port)
        var counts: [String: Int] = [:]
        var sequence: [String] = []
        for _ in 0..<40 {
            c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            let s = c.readResponse()?.echoServer ?? "?"
            counts[s, default: 0] += 1
            sequence.append(s)
        }
        XCTAssertEqual(counts["a"], 30)
        XCTAssertEqual(counts["b"], 10)
        // smooth: never more than 3 "a" in a row
        XCTAssertFalse(sequence.joined().contains("aaaa"))
    }

    func testConsistentHashSticksToANode() throws {
        let a = try TestUpstream(name: "a")
        let b = try TestUpstream(name: "b")
        defer { a.stop(); b.stop() }
        let cfg = upstreamConfig("default/up", [a, b], lb: .chash(hashOn: .header("x-user")))
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r")], upstreams: ["default/up": cfg]))
        defer { g.stop() }
        for user in ["alice", "bob", "carol", "dave"] {
            let first = g.get("/", headers: ["X-User: \(user)"])?.echoServer
            for _ in 0..<4 { XCTAssertEqual(g.get("/", headers: ["X-User: \(user)"])?.echoServer, first) }
        }
    }

    func testLeastConnAndEwmaServe() throws {
        let a = try TestUpstream(name: "a")
        let b = try TestUpstream(name: "b")
        defer { a.stop(); b.stop() }
        for lb in [LoadBalancerType.leastConn, .ewma] {
            let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r")],
                                                    upstreams: ["default/up": upstreamConfig("default/up", [a, b], lb: lb)]))
            var seen = Set<String>()
            for _ in 0..<20 { if let s = g.get("/")?.echoServer { seen.insert(s) } }
            XCTAssertFalse(seen.isEmpty)
            g.stop()
        }
    }

    func testHotSwapOnOpenKeepAliveConnection() throws {
        let a = try TestUpstream(name: "a")
        let b = try TestUpstream(name: "b")
        defer { a.stop(); b.stop() }
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r")],
                                                upstreams: ["default/up": upstreamConfig("default/up", [a])]))
        defer { g.stop() }
        let c = try RawClient(port: g.port)
        c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.echoServer, "a")
        g.gateway.apply(GatewaySnapshot(generation: 2, routes: [route("default/r2", paths: ["/new/*"], upstream: "default/b")],
                                        upstreams: ["default/b": upstreamConfig("default/b", [b])]))
        XCTAssertTrue(TestSupport.waitUntil {
            c.send("GET /new/x HTTP/1.1\r\nHost: x\r\n\r\n")
            return c.readResponse()?.echoServer == "b"
        })
        c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.status, 404)
    }

    func testInFlightRequestFinishesAcrossSwap() throws {
        let a = try TestUpstream(name: "a")
        defer { a.stop() }
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r")],
                                                upstreams: ["default/up": upstreamConfig("default/up", [a])]))
        defer { g.stop() }
        let c = try RawClient(port: g.port, timeout: 10)
        c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
        XCTAssertTrue(TestSupport.waitUntil { a.connectionCount == 1 })
        g.gateway.apply(GatewaySnapshot(generation: 2, routes: [], upstreams: [:]))
        // The new snapshot serves new requests (no routes: 404) while the old request is in flight.
        XCTAssertTrue(TestSupport.waitUntil { g.get("/")?.status == 404 })
        c.send("67890")
        let r = c.readResponse()
        XCTAssertEqual(r?.status, 200)
        XCTAssertEqual(r?.echoBody, "1234567890")
    }

    /// An apply that leaves an upstream as it was keeps the loops' idle connections to it (nginx
    /// loses them on every reload); an apply that changes it (here its retries) starts afresh, so a
    /// connection made under the old settings is never reused.
    func testPooledConnectionsSurviveAnApplyOnlyWhileTheirUpstreamIsUnchanged() throws {
        let a = try TestUpstream(name: "a")
        defer { a.stop() }
        let cfg = upstreamConfig("default/up", [a])
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r", paths: ["/one"])],
                                                upstreams: ["default/up": cfg]), config: GatewayConfig(workers: 1))
        defer { g.stop() }
        XCTAssertEqual(g.get("/one")?.status, 200)
        XCTAssertEqual(a.connectionCount, 1)
        g.gateway.apply(GatewaySnapshot(generation: 2, routes: [route("default/r", paths: ["/one"]), route("default/s", paths: ["/two"])],
                                        upstreams: ["default/up": cfg]))
        XCTAssertTrue(TestSupport.waitUntil { g.get("/two")?.status == 200 }, "generation 2 is served")
        XCTAssertEqual(g.get("/one")?.status, 200)
        XCTAssertEqual(a.connectionCount, 1, "the pooled connection survived the apply")
        var changed = cfg
        changed.retries = 0
        g.gateway.apply(GatewaySnapshot(generation: 3, routes: [route("default/r", paths: ["/one"])], upstreams: ["default/up": changed]))
        XCTAssertTrue(TestSupport.waitUntil { g.get("/two")?.status == 404 }, "generation 3 is served")
        XCTAssertEqual(g.get("/one")?.status, 200)
        XCTAssertEqual(a.connectionCount, 2, "a changed upstream opens a new connection")
    }

    func testStopDrainsInFlightRequests() throws {
        let a = try TestUpstream(name: "a")
        defer { a.stop() }
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r")],
                                                upstreams: ["default/up": upstreamConfig("default/up", [a])]))
        let c = try RawClient(port: g.port, timeout: 10)
        c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
        XCTAssertTrue(TestSupport.waitUntil { a.connectionCount == 1 })
        let done = DispatchSemaphore(value: 0)
        let gateway = g.gateway
        DispatchQueue.global().async { gateway.stop(drainTimeoutMs: 5000); done.signal() }
        // Draining has begun once the listener refuses new connections; the in-flight request then finishes.
        XCTAssertTrue(TestSupport.waitUntil { (try? RawClient(port: g.port)) == nil })
        c.send("cd")
        let r = c.readResponse()
        XCTAssertEqual(r?.status, 200)
        XCTAssertEqual(r?.header("Connection"), "close")
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertNil(try? RawClient(port: g.port), "listener closed after stop")
    }
}
