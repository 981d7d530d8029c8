import Foundation
import XCTest
@testable import RampartGateway
import TestSupport

/// The loops' counters (slots numbered at snapshot compile, merged at scrape) and the exposition writer.
final class MetricsTests: XCTestCase {
    func testSlotsAreStableAcrossSnapshotsAndNeverReused() {
        let slots = MetricSlots()
        XCTAssertEqual(slots.route("_unmatched"), MetricSlots.unmatchedRoute)
        let a = slots.route("default/a"), b = slots.route("default/b")
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(slots.route("default/a"), a, "a route keeps its slot in the next snapshot")
        XCTAssertEqual(slots.node(upstream: "u", node: "1.2.3.4:80"), slots.node(upstream: "u", node: "1.2.3.4:80"))
        XCTAssertNotEqual(slots.node(upstream: "u", node: "1.2.3.4:80"), slots.node(upstream: "v", node: "1.2.3.4:80"))
        XCTAssertEqual(slots.counts.routes, 3)
        XCTAssertEqual(slots.counts.nodes, 2)
    }

    func testCountsSurviveGrowingAndMergeAcrossLoops() {
        let slots = MetricSlots()
        let route = slots.route("default/r")
        let node = slots.node(upstream: "default/up", node: "127.0.0.1:80")
        var first = LoopCounters(routes: 1, nodes: 1)
        let second = LoopCounters(routes: slots.counts.routes, nodes: slots.counts.nodes)
        // The slot is past the first loop's capacity: counted exactly (overflow), then moved on growth.
        first.recordRequest(routeSlot: route, code: 200, seconds: 0.002)
        first = first.grown(routes: slots.counts.routes, nodes: slots.counts.nodes)
        first.recordRequest(routeSlot: route, code: 200, seconds: 0.02)
        first.recordRequest(routeSlot: MetricSlots.unmatchedRoute, code: 404, seconds: 0.001)
        first.recordUpstream(nodeSlot: node, code: 200)
        second.recordRequest(routeSlot: route, code: 200, seconds: 3)
        second.recordRequest(routeSlot: route, code: 503, seconds: 0.001)
        second.count(.tlsHandshakeFailures)
        var total = MetricsTotals()
        let labels = slots.labels()
        first.merge(into: &total, routes: labels.routes, nodes: labels.nodes)
        second.merge(into: &total, routes: labels.routes, nodes: labels.nodes)
        XCTAssertEqual(total.requests[RouteCode(route: "default/r", code: 200)], 3)
        XCTAssertEqual(total.requests[RouteCode(route: "default/r", code: 503)], 1)
        XCTAssertEqual(total.requests[RouteCode(route: "_unmatched", code: 404)], 1)
        XCTAssertEqual(total.upstream[UpstreamCode(upstream: "default/up", node: "127.0.0.1:80", code: 200)], 1)
        XCTAssertEqual(total.tlsHandshakeFailures, 1)
        let h = total.durations["default/r"]
        XCTAssertEqual(h?.count, 4)
        XCTAssertEqual(h?.counts.first, 2, "0.001 s and 0.002 s are in the first bucket (one of them was counted before growing)")
        XCTAssertEqual(h?.sum ?? 0, 3.023, accuracy: 1e-9)
    }

    /// An upstream answering with more distinct codes than a slot holds: each one still counted
    /// under its own code (an attacker-controlled upstream cannot make codes merge or vanish).
    func testManyDistinctCodesAreEachCounted() {
        let slots = MetricSlots()
        let route = slots.route("default/r")
        let node = slots.node(upstream: "u", node: "n")
        let counters = LoopCounters(routes: slots.counts.routes, nodes: slots.counts.nodes)
        let codes = Array(200..<(200 + LoopCounters.codesPerSlot + 10))
        for code in codes {
            counters.recordRequest(routeSlot: route, code: code, seconds: 0)
            counters.recordRequest(routeSlot: route, code: code, seconds: 0)
            counters.recordUpstream(nodeSlot: node, code: code)
        }
        counters.recordRequest(routeSlot: route, code: 0, seconds: 0)
        var total = MetricsTotals()
        let labels = slots.labels()
        counters.merge(into: &total, routes: labels.routes, nodes: labels.nodes)
        for code in codes {
            XCTAssertEqual(total.requests[RouteCode(route: "default/r", code: code)], 2, "code \(code)")
            XCTAssertEqual(total.upstream[UpstreamCode(upstream: "u", node: "n", code: code)], 1, "code \(code)")
        }
        XCTAssertEqual(total.requests[RouteCode(route: "default/r", code: 0)], 1)
        XCTAssertEqual(total.durations["default/r"]?.count, codes.count * 2 + 1)
    }

    func testExpositionFamiliesAndEscaping() {
        var total = MetricsTotals()
        total.requests[RouteCode(route: "ns/a\"b\\c\nd", code: 200)] = 2
        var h = Histogram()
        h.counts[0] = 1
        h.counts[3] = 1
        h.sum = 0.051
        h.count = 2
        total.durations["ns/r"] = h
        let text = Exposition.render(total, nodes: [("u", "n:1", true)], connections: 3,
                                     certificateExpiry: [("a.example", 1_900_000_000), ("a.example", 1)])
        XCTAssertTrue(text.contains("# HELP rampart_http_requests_total HTTP requests handled by the gateway.\n# TYPE rampart_http_requests_total counter\n"))
        XCTAssertTrue(text.contains("rampart_http_requests_total{route=\"ns/a\\\"b\\\\c\\nd\",code=\"200\"} 2\n"))
        XCTAssertTrue(text.contains("rampart_http_request_duration_seconds_bucket{route=\"ns/r\",le=\"0.005\"} 1\n"))
        XCTAssertTrue(text.contains("rampart_http_request_duration_seconds_bucket{route=\"ns/r\",le=\"0.05\"} 2\n"))
        XCTAssertTrue(text.contains("rampart_http_request_duration_seconds_bucket{route=\"ns/r\",le=\"10\"} 2\n"))
        XCTAssertTrue(text.contains("rampart_http_request_duration_seconds_bucket{route=\"ns/r\",le=\"+Inf\"} 2\n"))
        XCTAssertTrue(text.contains("rampart_http_request_duration_seconds_sum{route=\"ns/r\"} 0.051\n"))
        XCTAssertTrue(text.contains("rampart_http_request_duration_seconds_count{route=\"ns/r\"} 2\n"))
        XCTAssertTrue(text.contains("rampart_upstream_node_healthy{upstream=\"u\",node=\"n:1\"} 1\n"))
        XCTAssertTrue(text.contains("rampart_connections_active 3\n"))
        XCTAssertTrue(text.contains("rampart_tls_certificate_expiry_timestamp_seconds{sni=\"a.example\"} 1900000000\n"))
        XCTAssertFalse(text.contains("{sni=\"a.example\"} 1\n"), "one sample per SNI")
        XCTAssertTrue(text.hasSuffix("rampart_basic_auth_overload_total 0\n"))
    }

    /// Counts taken on two loops, across a snapshot change that adds a route (the loops' counters
    /// grow): every exchange counted once under its route, and the text passes `promtool check metrics`.
    func testServedCountsAcrossSnapshotsArePromtoolClean() throws {
        let up = try TestUpstream(name: "a")
        defer { up.stop() }
        let ups = ["default/up": upstreamConfig("default/up", [up])]
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/a", paths: ["/a"])], upstreams: ups))
        defer { g.stop() }
        for _ in 0..<3 { XCTAssertEqual(g.get("/a")?.status, 200) }
        XCTAssertEqual(g.get("/none")?.status, 404)
        var routes = [route("default/a", paths: ["/a"])]
        for i in 0..<40 { routes.append(route("default/r\(i)", paths: ["/r\(i)"])) }
        g.gateway.apply(GatewaySnapshot(generation: 2, routes: routes, upstreams: ups))
        XCTAssertTrue(TestSupport.waitUntil { g.get("/r39")?.status == 200 })
        XCTAssertEqual(g.get("/a")?.status, 200)
        let text = g.gateway.metricsText()
        XCTAssertTrue(text.contains("rampart_http_requests_total{route=\"default/a\",code=\"200\"} 4\n"), text)
        XCTAssertTrue(text.contains("rampart_http_requests_total{route=\"_unmatched\",code=\"404\"} 1\n"), text)
        XCTAssertTrue(text.contains("rampart_http_requests_total{route=\"default/r39\",code=\"200\"} 1\n"), text)
        XCTAssertTrue(text.contains("rampart_http_request_duration_seconds_count{route=\"default/a\"} 4\n"), text)
        XCTAssertTrue(text.contains("rampart_upstream_requests_total{upstream=\"default/up\",node=\"127.0.0.1:\(up.port)\",code=\"200\"} 5\n"), text)

        let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let promtool else { throw XCTSkip("promtool not installed (apt-get install prometheus)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: promtool)
        p.arguments = ["check", "metrics"]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = output
        try p.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, said)
        XCTAssertEqual(said.trimmingCharacters(in: .whitespacesAndNewlines), "", said)
    }
}
