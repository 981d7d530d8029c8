import Foundation
@testable import RampartAlerts
import RampartGateway
@testable import RampartHTTPClient
import RampartModel
import Synchronization
import XCTest

/// The state machine and the engine with an injected clock: every time is a number the test chooses, no sleeps.
final class EngineTests: XCTestCase {
    func testStateMachinePendingFiringRepeatResolve() {
        var s: InstanceState?
        var events: [AlertEvent]
        func step(_ isTrue: Bool, _ t: Double) -> [AlertEvent] {
            let (next, e) = AlertStateMachine.step(s, isTrue: isTrue, now: t, forSeconds: 2, repeatSeconds: 60, refreshSeconds: 30)
            s = next
            return e
        }
        events = step(true, 0)
        XCTAssertEqual(events, [])
        XCTAssertEqual(s?.phase, .pending)
        XCTAssertEqual(step(true, 1), [])
        XCTAssertEqual(step(true, 2), [.firing], "true for `for` (2 s): fires")
        XCTAssertEqual(s?.phase, .firing)
        XCTAssertEqual(s?.activeAt, 0)
        XCTAssertEqual(step(true, 31), [])
        XCTAssertEqual(step(true, 32), [.refresh], "Alertmanager is re-sent the alert every refresh period")
        XCTAssertEqual(step(true, 62), [.repeating], "repeatInterval after the last notification")
        XCTAssertEqual(step(true, 63), [])
        XCTAssertEqual(step(false, 64), [.resolved])
        XCTAssertNil(s)
        XCTAssertEqual(step(false, 65), [], "resolved once; inactive after")
    }

    func testPendingThatClearsBeforeForNeverNotifies() {
        var (s, e) = AlertStateMachine.step(nil, isTrue: true, now: 0, forSeconds: 5, repeatSeconds: 60, refreshSeconds: 60)
        XCTAssertEqual(e, [])
        (s, e) = AlertStateMachine.step(s, isTrue: false, now: 4, forSeconds: 5, repeatSeconds: 60, refreshSeconds: 60)
        XCTAssertNil(s)
        XCTAssertEqual(e, [], "a flap shorter than `for` is no alert and no resolve")
        // And starts over: `for` counts from the new activation.
        (s, e) = AlertStateMachine.step(nil, isTrue: true, now: 10, forSeconds: 5, repeatSeconds: 60, refreshSeconds: 60)
        (s, e) = AlertStateMachine.step(s, isTrue: true, now: 14, forSeconds: 5, repeatSeconds: 60, refreshSeconds: 60)
        XCTAssertEqual(e, [])
        (s, e) = AlertStateMachine.step(s, isTrue: true, now: 15, forSeconds: 5, repeatSeconds: 60, refreshSeconds: 60)
        XCTAssertEqual(e, [.firing])
    }

    func testOneInstancePerSubjectAndIntervalHonoured() throws {
        let facts = FakeFacts()
        facts.set { $0.nodes = [.init(upstream: "default/up", node: "a:1", healthy: false), .init(upstream: "default/up", node: "b:1", healthy: true)] }
        let rec = Recorder()
        let engine = Fixture.engine(facts, recorder: rec)
        defer { engine.stop() }
        engine.update(rules: [try Fixture.rule("  condition: {type: upstreamUnhealthy}\n  interval: 10s\n  contactPoints: [{name: hook}]\n")],
                      contactPoints: [try Fixture.webhook()])
        engine.evaluate(now: 1000)
        XCTAssertEqual(rec.notifications.withLock { $0.map(\.subject) }, [["upstream": "default/up", "node": "a:1"]])
        facts.set { $0.nodes[1].healthy = false }
        engine.evaluate(now: 1005)
        XCTAssertEqual(rec.events.count, 1, "not due before its interval")
        engine.evaluate(now: 1010)
        XCTAssertEqual(rec.notifications.withLock { $0.map(\.subject) }.last, ["upstream": "default/up", "node": "b:1"])
        XCTAssertEqual(engine.instances().map(\.state), [.firing, .firing])
        XCTAssertTrue(engine.metricsText().contains("rampart_alerts{rule=\"default/r\",state=\"firing\"} 2\n"))
        // The node goes away with its Upstream: that instance resolves.
        facts.set { $0.nodes = [.init(upstream: "default/up", node: "a:1", healthy: false)] }
        engine.evaluate(now: 1020)
        let last = try XCTUnwrap(rec.notifications.withLock { $0.last })
        XCTAssertEqual(last.status, .resolved)
        XCTAssertEqual(last.subject["node"], "b:1")
        XCTAssertEqual(last.endsAt, 1020)
    }

    func testUpstreamThresholdCountsNodesAndZeroMeansAll() throws {
        let facts = FakeFacts()
        facts.set { $0.nodes = [.init(upstream: "default/up", node: "a:1", healthy: false), .init(upstream: "default/up", node: "b:1", healthy: true)] }
        let rec = Recorder()
        let engine = Fixture.engine(facts, recorder: rec)
        defer { engine.stop() }
        engine.update(rules: [try Fixture.rule("  condition: {type: upstreamUnhealthy, threshold: 0}\n  contactPoints: [{name: hook}]\n", name: "all"),
                              try Fixture.rule("  condition: {type: upstreamUnhealthy, threshold: 1}\n  contactPoints: [{name: hook}]\n", name: "one")],
                      contactPoints: [try Fixture.webhook()])
        engine.evaluate(now: 1000)
        XCTAssertEqual(rec.notifications.withLock { $0.map(\.rule) }, ["default/one"])
        XCTAssertEqual(rec.notifications.withLock { $0.first?.subject }, ["upstream": "default/up"])
        facts.set { $0.nodes[1].healthy = false }
        engine.evaluate(now: 1030)
        XCTAssertEqual(rec.notifications.withLock { $0.map(\.rule) }, ["default/one", "default/all"])
    }

    func testNotLeaderEvaluatesButDoesNotNotify() throws {
        let facts = FakeFacts()
        facts.set { $0.reload = ReloadFact(errors: ["t.yaml:1:1: error: bad"], failedReloads: 0) }
        let rec = Recorder()
        let leader = Mutex(false)
        let engine = Fixture.engine(facts, recorder: rec, leader: { leader.withLock { $0 } })
        defer { engine.stop() }
        engine.update(rules: [try Fixture.rule("  condition: {type: reloadFailed}\n  contactPoints: [{name: hook}]\n")], contactPoints: [try Fixture.webhook()])
        engine.evaluate(now: 1000)
        XCTAssertEqual(rec.events, [])
        XCTAssertEqual(engine.instances().first?.state, .firing, "the state is kept by every replica")
        XCTAssertEqual(engine.instances().first?.facts["error"], "t.yaml:1:1: error: bad")
    }

    func testMessageTemplateRenderedWithFacts() throws {
        let facts = FakeFacts()
        facts.set { $0.certificates = [CertificateFact(sni: "shop.example.com", certificate: "SNI shop.example.com", notAfter: 1000 + 3 * 86_400 + 7200)] }
        let rec = Recorder()
        let engine = Fixture.engine(facts, recorder: rec)
        defer { engine.stop() }
        engine.update(rules: [try Fixture.rule("""
              condition: {type: certificateExpiry, threshold: 14d}
              severity: critical
              labels: {team: payments}
              message: "certificate {{sni}} expires in {{ remaining }} ({{notAfter}}, threshold {{threshold}})"
              contactPoints: [{name: hook}]

            """)], contactPoints: [try Fixture.webhook()])
        engine.evaluate(now: 1000)
        let n = try XCTUnwrap(rec.notifications.withLock { $0.first })
        XCTAssertEqual(n.message, "certificate shop.example.com expires in 3d 2h (1970-01-04T02:16:40Z, threshold 14d)")
        XCTAssertEqual(n.labels, ["alertname": "r", "rule": "default/r", "severity": "critical", "team": "payments", "sni": "shop.example.com"])
    }

    func testEveryConditionGivesExactlyItsDocumentedPlaceholders() throws {
        let facts = FakeFacts()
        facts.set {
            $0.certificates = [CertificateFact(sni: "a.example.com", certificate: "SNI a.example.com", notAfter: 0)]
            $0.nodes = [.init(upstream: "default/up", node: "a:1", healthy: false)]
            $0.heartbeats = [HeartbeatFact(peer: "http://127.0.0.1:1", lastSeen: nil, watchedSince: 0, error: "refused")]
            $0.routes = [RouteTrafficSample(route: "default/r", requests: 0, serverErrors: 0, buckets: GatewayAlertFacts.bucketBounds.map { _ in 0 })]
            $0.reload = ReloadFact(errors: ["x"], failedReloads: 0)
            $0.secrets = [SecretFact(ref: "default/s", provider: "vault", error: "503", consecutiveFailures: 2)]
            $0.cgroup = CgroupSample(cpuMax: .init(quota: 50_000, period: 100_000), cpuUsageMicroseconds: 0, memoryCurrent: 90, memoryMax: 100)
        }
        let rec = Recorder()
        let engine = Fixture.engine(facts, recorder: rec)
        defer { engine.stop() }
        let types = ["certificateExpiry", "upstreamUnhealthy", "instanceOffline", "errorRate", "latency", "cpuQuota", "memoryQuota", "reloadFailed", "secretResolutionFailed"]
        engine.update(rules: try types.map { try Fixture.rule("  condition: {type: \($0), threshold: \($0 == "errorRate" ? "0" : $0.hasSuffix("Quota") ? "1" : $0 == "latency" ? "1ms" : $0 == "instanceOffline" ? "1s" : $0 == "certificateExpiry" ? "1d" : "0")}\n  interval: 1s\n  contactPoints: [{name: hook}]\n", name: $0.lowercased()) },
                      contactPoints: [try Fixture.webhook()])
        engine.evaluate(now: 1000)
        facts.set {
            $0.routes = [RouteTrafficSample(route: "default/r", requests: 10, serverErrors: 5, buckets: GatewayAlertFacts.bucketBounds.map { _ in 10 })]
            $0.cgroup.cpuUsageMicroseconds = 1_000_000
        }
        engine.evaluate(now: 1001)
        let byRule = Dictionary(rec.notifications.withLock { $0 }.map { ($0.rule, $0) }, uniquingKeysWith: { a, _ in a })
        for t in types {
            let type = try XCTUnwrap(AlertConditionType(rawValue: t))
            let n = try XCTUnwrap(byRule["default/" + t.lowercased()], "\(t) fired")
            XCTAssertEqual(Set(n.facts.keys), Set(type.placeholders), t)
        }
    }
}

