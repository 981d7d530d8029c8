import Foundation
@testable import RampartAlerts
import RampartGateway
@testable import RampartModel
import XCTest

/// errorRate and latency with `scope: overall`: one instance over every selected route's counters and merged
/// histogram, from made-up facts and a chosen clock.
final class OverallScopeTests: XCTestCase {
    /// Cumulative buckets (as `GatewayAlertFacts.bucketBounds`) of `fast` requests taking 4 ms and `slow` ones taking 2 s.
    static func buckets(fast: Int, slow: Int) -> [Int] {
        GatewayAlertFacts.bucketBounds.map { bound in (0.004 <= bound ? fast : 0) + (2.0 <= bound ? slow : 0) }
    }

    static func route(_ name: String, requests: Int, errors: Int, slow: Int = 0) -> RouteTrafficSample {
        RouteTrafficSample(route: "default/" + name, requests: requests, serverErrors: errors, buckets: buckets(fast: requests - slow, slow: slow))
    }

    func testOverallErrorRateSumsEveryRouteAtTheThresholdEdgeAndRollsOutOfTheWindow() throws {
        let facts = FakeFacts()
        facts.set { $0.routes = [Self.route("a", requests: 0, errors: 0), Self.route("b", requests: 0, errors: 0)] }
        let rec = Recorder()
        let engine = Fixture.engine(facts, recorder: rec)
        defer { engine.stop() }
        let spec = "  interval: 1s\n  contactPoints: [{name: hook}]\n"
        engine.update(rules: [try Fixture.rule("  condition: {type: errorRate, scope: overall, threshold: 0.05, window: 60s}\n" + spec, name: "all"),
                              try Fixture.rule("  condition: {type: errorRate, threshold: 0.05, window: 60s}\n" + spec, name: "each")],
                      contactPoints: [try Fixture.webhook()])
        engine.evaluate(now: 1000)
        XCTAssertEqual(rec.events, [], "one sample is no rate")
        // 1 error in 20 requests overall is exactly 0.05: not above the threshold. Route a alone (1 in 10) is.
        facts.set { $0.routes = [Self.route("a", requests: 10, errors: 1), Self.route("b", requests: 10, errors: 0)] }
        engine.evaluate(now: 1010)
        XCTAssertEqual(rec.notifications.withLock { $0.map(\.rule) }, ["default/each"])
        XCTAssertEqual(rec.notifications.withLock { $0.first?.subject }, ["route": "default/a"])
        XCTAssertTrue(engine.metricsText().contains("rampart_alerts{rule=\"default/all\",state=\"inactive\"} 1\n"), engine.metricsText())
        // One more error: 2 in 20 is above it. One instance, without a route label.
        facts.set { $0.routes[0] = Self.route("a", requests: 10, errors: 2) }
        engine.evaluate(now: 1020)
        let all = try XCTUnwrap(rec.notifications.withLock { $0.first { $0.rule == "default/all" } })
        XCTAssertEqual(all.status, .firing)
        XCTAssertEqual(all.subject, [:])
        XCTAssertEqual(all.labels, ["alertname": "all", "rule": "default/all", "severity": "warning"])
        XCTAssertEqual(all.facts["route"], "*")
        XCTAssertEqual(all.facts["requests"], "20")
        XCTAssertEqual(all.facts["errors"], "2")
        XCTAssertEqual(all.facts["ratio"], "0.100")
        XCTAssertEqual(all.facts["percent"], "10")
        XCTAssertEqual(all.message, "errorRate: 0.100 (threshold 0.05)")
        XCTAssertEqual(engine.instances().filter { $0.rule == "default/all" }.count, 1)
        // No new requests: the errors stay counted until the window's start passes the sample before them.
        func allEvents() -> [AlertEvent] { rec.notifications.withLock { $0.filter { $0.rule == "default/all" }.map(\.event) } }
        engine.evaluate(now: 1069)
        XCTAssertEqual(allEvents(), [.firing], "the 1000 s sample is still the baseline of a 60 s window")
        engine.evaluate(now: 1071)
        XCTAssertEqual(allEvents(), [.firing, .resolved], "the baseline is the 1010 s sample: no requests since, so not true")
        XCTAssertTrue(engine.instances().filter { $0.rule == "default/all" }.isEmpty)
    }

    func testOverallWithoutTrafficIsNeverTrue() throws {
        let facts = FakeFacts()
        facts.set { $0.routes = [Self.route("a", requests: 50, errors: 50)] }
        let rec = Recorder()
        let engine = Fixture.engine(facts, recorder: rec)
        defer { engine.stop() }
        engine.update(rules: [try Fixture.rule("  condition: {type: errorRate, scope: overall, threshold: 0, window: 10s}\n  interval: 1s\n  contactPoints: [{name: hook}]\n", name: "e"),
                              try Fixture.rule("  condition: {type: latency, scope: overall, threshold: 1ms, window: 10s}\n  interval: 1s\n  contactPoints: [{name: hook}]\n", name: "l")],
                      contactPoints: [try Fixture.webhook()])
        // Counters that only ever held errors, but none within the window: a ratio of nothing is not above 0.
        for t in stride(from: 1000.0, through: 1030, by: 5) { engine.evaluate(now: t) }
        // And no routes at all.
        facts.set { $0.routes = [] }
        for t in stride(from: 1035.0, through: 1060, by: 5) { engine.evaluate(now: t) }
        XCTAssertEqual(rec.events, [])
        XCTAssertEqual(engine.instances().count, 0)
        XCTAssertTrue(engine.metricsText().contains("rampart_alerts{rule=\"default/e\",state=\"inactive\"} 1\n"), engine.metricsText())
        XCTAssertTrue(engine.metricsText().contains("rampart_alerts{rule=\"default/l\",state=\"inactive\"} 1\n"), engine.metricsText())
    }

    /// p99 over the merged histogram: 99 fast requests on one route hide one slow request on another (overall p99 is
    /// fast although that route's own p99 is 2 s); a second slow one does not.
    func testOverallLatencyIsTheP99OfTheMergedHistogram() throws {
        let facts = FakeFacts()
        facts.set { $0.routes = [Self.route("fast", requests: 0, errors: 0), Self.route("slow", requests: 0, errors: 0)] }
        let rec = Recorder()
        let engine = Fixture.engine(facts, recorder: rec)
        defer { engine.stop() }
        let spec = "  interval: 1s\n  contactPoints: [{name: hook}]\n"
        engine.update(rules: [try Fixture.rule("  condition: {type: latency, scope: overall, threshold: 100ms, window: 1m}\n" + spec, name: "all"),
                              try Fixture.rule("  condition: {type: latency, threshold: 100ms, window: 1m}\n" + spec, name: "each")],
                      contactPoints: [try Fixture.webhook()])
        engine.evaluate(now: 1000)
        facts.set { $0.routes = [Self.route("fast", requests: 99, errors: 0), Self.route("slow", requests: 1, errors: 0, slow: 1)] }
        engine.evaluate(now: 1010)
        XCTAssertEqual(rec.notifications.withLock { $0.map(\.rule) }, ["default/each"], "route slow alone is slow; all together are not")
        XCTAssertEqual(engine.instances().first { $0.rule == "default/all" }?.state, nil)
        facts.set { $0.routes[1] = Self.route("slow", requests: 2, errors: 0, slow: 2) }
        engine.evaluate(now: 1020)
        let all = try XCTUnwrap(rec.notifications.withLock { $0.first { $0.rule == "default/all" } })
        XCTAssertEqual(all.subject, [:])
        XCTAssertEqual(all.facts["requests"], "101")
        XCTAssertEqual(all.facts["route"], "*")
        let p99 = try XCTUnwrap(Traffic.quantile(0.99, buckets: Self.buckets(fast: 99, slow: 2), bounds: GatewayAlertFacts.bucketBounds))
        XCTAssertGreaterThan(p99, 1)
        XCTAssertEqual(all.facts["p99"], Format.duration(p99))
    }

    /// The selector still narrows an overall rule: only the named routes are summed.
    func testOverallSumsOnlySelectedRoutes() throws {
        let facts = FakeFacts()
        facts.set { $0.routes = [Self.route("a", requests: 0, errors: 0), Self.route("b", requests: 0, errors: 0)] }
        let rec = Recorder()
        let engine = Fixture.engine(facts, recorder: rec)
        defer { engine.stop() }
        engine.update(rules: [try Fixture.rule("  condition: {type: errorRate, scope: overall, threshold: 0.5, window: 1m, selector: {routes: [b]}}\n  interval: 1s\n  contactPoints: [{name: hook}]\n")],
                      contactPoints: [try Fixture.webhook()])
        engine.evaluate(now: 1000)
        facts.set { $0.routes = [Self.route("a", requests: 100, errors: 100), Self.route("b", requests: 10, errors: 1)] }
        engine.evaluate(now: 1010)
        XCTAssertEqual(rec.events, [], "route a's errors are not selected")
        XCTAssertEqual(engine.instances().count, 0)
    }

    func testScopeIsValidatedNamingTheField() {
        func errors(_ condition: String) -> [String] {
            let doc = "apiVersion: rampart.io/v1alpha1\nkind: AlertRule\nmetadata: {name: r}\nspec:\n  condition: \(condition)\n  contactPoints: [{name: hook}]\n"
            return ManifestDecoder(dev: true).decode(file: "t.yaml", bytes: Array(doc.utf8)).diagnostics.filter { $0.severity == .error }.map(\.description)
        }
        XCTAssertEqual(errors("{type: errorRate, scope: overall}"), [])
        XCTAssertEqual(errors("{type: latency, scope: route}"), [])
        XCTAssertEqual(errors("{type: certificateExpiry, scope: route}"), [], "the CRD's default lands on every type")
        XCTAssertTrue(errors("{type: errorRate, scope: global}").contains { $0.contains("spec.condition.scope") && $0.contains("route, overall") },
                      "\(errors("{type: errorRate, scope: global}"))")
        XCTAssertTrue(errors("{type: upstreamUnhealthy, scope: overall}").contains { $0.contains("spec.condition.scope") && $0.contains("upstreamUnhealthy has no scope") },
                      "\(errors("{type: upstreamUnhealthy, scope: overall}"))")
    }
}
