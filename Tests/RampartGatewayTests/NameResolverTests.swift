import Foundation
import Synchronization
import XCTest
@testable import RampartGateway
import TestSupport

/// Upstream node host names: looked up off the loops, kept (unhealthy, with the reason) when they do
/// not resolve, served once they do. Names that do or do not resolve by definition (RFC 6761):
/// `localhost` resolves, anything under `.invalid` never does.
final class NameResolverTests: XCTestCase {
    func node(_ host: String, _ port: Int) -> UpstreamNode { UpstreamNode(host: host, port: port) }

    func snapshot(_ nodes: [UpstreamNode]) -> GatewaySnapshot {
        GatewaySnapshot(generation: 1, routes: [route("default/r")], upstreams: [
            "default/up": UpstreamConfig(id: "up", nodes: nodes, retries: 0, timeout: Timeouts(connectMs: 1000, sendMs: 5000, readMs: 5000)),
        ])
    }

    func healthLine(_ node: String, _ value: Int) -> String {
        "rampart_upstream_node_healthy{upstream=\"default/up\",node=\"\(node)\"} \(value)"
    }

    func testANodeNamedLocalhostIsServed() throws {
        let up = try TestUpstream(name: "named")
        defer { up.stop() }
        let g = try TestGateway(snapshot([node("localhost", up.port)]))
        defer { g.stop() }
        XCTAssertTrue(TestSupport.waitUntil { g.get("/")?.status == 200 }, g.gateway.metricsText())
        XCTAssertEqual(g.get("/")?.echoServer, "named")
        XCTAssertTrue(g.gateway.metricsText().contains(healthLine("127.0.0.1:\(up.port)", 1)), g.gateway.metricsText())
        XCTAssertEqual(g.gateway.unresolvedNodes(), [:])
    }

    func testANodeThatDoesNotResolveIsUnhealthyWithTheReasonAndTheOtherServes() throws {
        let up = try TestUpstream(name: "live")
        defer { up.stop() }
        let logged = Mutex<[String]>([])
        let config = GatewayConfig(listen: ["127.0.0.1:0"], workers: 2, log: { _, message, fields in
            logged.withLock { $0.append(message + " " + fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) }
        })
        let g = try TestGateway(snapshot([node("does-not-exist.invalid", 8080), node("127.0.0.1", up.port)]), config: config)
        defer { g.stop() }
        XCTAssertTrue(TestSupport.waitUntil {
            g.gateway.unresolvedNodes()["default/up"]?["does-not-exist.invalid:8080"]?.contains("does not resolve") == true
        }, "\(g.gateway.unresolvedNodes())")
        for _ in 0..<6 {
            let r = try XCTUnwrap(g.get("/"))
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.echoServer, "live")
        }
        let metrics = g.gateway.metricsText()
        XCTAssertTrue(metrics.contains(healthLine("does-not-exist.invalid:8080", 0)), metrics)
        XCTAssertTrue(metrics.contains(healthLine("127.0.0.1:\(up.port)", 1)), metrics)
        XCTAssertEqual(g.gateway.nodeHealth()["default/up"]?["does-not-exist.invalid:8080"], false)
        let lines = logged.withLock { $0 }.filter { $0.contains("does-not-exist.invalid:8080") }
        XCTAssertEqual(lines.count, 1, "logged once, not on every lookup: \(lines)")
        XCTAssertTrue(lines.first?.contains("does not resolve") ?? false, "\(lines)")
    }

    func testAnUpstreamWithOnlyAnUnresolvableNodeAnswers503() throws {
        let g = try TestGateway(snapshot([node("does-not-exist.invalid", 8080)]))
        defer { g.stop() }
        XCTAssertTrue(TestSupport.waitUntil { g.gateway.unresolvedNodes()["default/up"]?["does-not-exist.invalid:8080"] != nil })
        let r = try XCTUnwrap(g.get("/"))
        XCTAssertEqual(r.status, 503)
        XCTAssertTrue(g.gateway.metricsText().contains(healthLine("does-not-exist.invalid:8080", 0)))
    }

    /// A stand-in for DNS: which names resolve is set by the test (real names cannot change).
    final class StandInDNS: Sendable {
        let answers = Mutex<[String: SocketAddress]>([:])
        let calls = Atomic<Int>(0)
        let gate = Mutex<Bool>(true)   // false: lookups block until opened
        func lookup(_ name: NodeName) -> Result<[SocketAddress], NameLookupError> {
            calls.add(1, ordering: .relaxed)
            while !gate.withLock({ $0 }) { usleep(1000) }
            guard let a = answers.withLock({ $0[name.host] }), let withPort = SocketAddress(ip: a.ipString, port: name.port) else {
                return .failure(NameLookupError(reason: "does not resolve: stand-in"))
            }
            return .success([withPort])
        }
    }

    func standInGateway(_ dns: StandInDNS, intervalMs: Int64 = 50) throws -> (Gateway, Int) {
        let resolver = try NameResolver(intervalMs: intervalMs, lookup: { dns.lookup($0) })
        let g = try Gateway(config: GatewayConfig(listen: ["127.0.0.1:0"], workers: 2), resolver: resolver)
        try g.start()
        let port = try XCTUnwrap(g.boundAddresses.first.flatMap { Int($0.split(separator: ":").last ?? "") })
        return (g, port)
    }

    func get(_ port: Int, _ path: String = "/") -> TestResponse? {
        httpRequest(port: port, "GET \(path) HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
    }

    func testANodeBecomesHealthyOnceItsNameResolves() throws {
        let up = try TestUpstream(name: "later")
        defer { up.stop() }
        let dns = StandInDNS()
        let (g, port) = try standInGateway(dns)
        defer { g.stop(drainTimeoutMs: 1000) }
        g.apply(snapshot([node("later.invalid", up.port)]))
        XCTAssertEqual(g.unresolvedNodes()["default/up"]?["later.invalid:\(up.port)"], "does not resolve: stand-in")
        XCTAssertEqual(get(port)?.status, 503)
        dns.answers.withLock { $0["later.invalid"] = SocketAddress(ip: "127.0.0.1", port: 0) }
        XCTAssertTrue(TestSupport.waitUntil { self.get(port)?.status == 200 }, "\(g.unresolvedNodes())")
        XCTAssertEqual(g.unresolvedNodes(), [:])
        XCTAssertTrue(g.metricsText().contains(healthLine("127.0.0.1:\(up.port)", 1)), g.metricsText())
        // And back: the name stops resolving, the node is unhealthy again (not dropped).
        dns.answers.withLock { $0["later.invalid"] = nil }
        XCTAssertTrue(TestSupport.waitUntil { self.get(port)?.status == 503 })
        XCTAssertTrue(g.metricsText().contains(healthLine("later.invalid:\(up.port)", 0)), g.metricsText())
    }

    /// An attacker who controls a node's DNS can make lookups hang; the loops never wait for one.
    func testAHangingLookupNeverStallsTheLoops() throws {
        let up = try TestUpstream(name: "literal")
        defer { up.stop() }
        let dns = StandInDNS()
        dns.gate.withLock { $0 = false }
        let (g, port) = try standInGateway(dns)
        defer {
            dns.gate.withLock { $0 = true }
            g.stop(drainTimeoutMs: 1000)
        }
        var snap = snapshot([node("127.0.0.1", up.port)])
        snap.routes.append(route("default/slow", paths: ["/slow/*"], upstream: "default/slow"))
        snap.upstreams["default/slow"] = UpstreamConfig(id: "slow", nodes: [node("hangs.invalid", 80)], retries: 0)
        g.apply(snap)   // waits a bounded time for the new name, then serves without it
        XCTAssertTrue(TestSupport.waitUntil { dns.calls.load(ordering: .relaxed) >= 1 })
        XCTAssertEqual(get(port)?.status, 200, "the other upstream is served while the lookup hangs")
        XCTAssertEqual(get(port, "/slow/x")?.status, 503)
        XCTAssertEqual(g.unresolvedNodes()["default/slow"]?["hangs.invalid:80"], "not resolved yet")
        XCTAssertTrue(g.metricsText().contains("rampart_upstream_node_healthy{upstream=\"default/slow\",node=\"hangs.invalid:80\"} 0"))
    }

    /// Round-robin DNS: the node stays at the address it is served at while that is still an answer.
    func testANameKeepsItsAddressWhileItIsStillAnAnswer() throws {
        let first = try XCTUnwrap(SocketAddress(ip: "127.0.0.2", port: 80))
        let second = try XCTUnwrap(SocketAddress(ip: "127.0.0.3", port: 80))
        let order = Mutex<[[SocketAddress]]>([[first, second], [second, first], [second]])
        let seen = Mutex<[NodeResolution]>([])
        let resolver = try NameResolver(intervalMs: 20, lookup: { _ in
            .success(order.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] })
        })
        let name = NodeName(host: "rr.invalid", port: 80)
        resolver.setOnChange { seen.withLock { $0.append(resolver.current().table[name] ?? .failed("none")) } }
        try resolver.start()
        defer { resolver.stop() }
        resolver.want([name], waitMs: 2000)
        XCTAssertEqual(resolver.current().table[name], .resolved(first))
        XCTAssertTrue(TestSupport.waitUntil { resolver.current().table[name] == .resolved(second) })
        XCTAssertEqual(seen.withLock { $0 }.filter { $0 != .resolved(first) }, [.resolved(second)],
                       "one change: reshuffled answers kept the first address, only its disappearance moved the node")
    }
}
