import Foundation
@testable import RampartAlerts
@testable import RampartHTTPClient
import RampartModel
import Synchronization
import XCTest

/// A replica that becomes the leader re-sends what is firing in its own engine (the old leader's notifications
/// stopped with it), once, and later resolves reach the contact points from it.
final class LeaderTakeoverTests: XCTestCase {
    func testNewLeaderResendsFiringOnceAndThenSendsTheResolve() throws {
        let facts = FakeFacts()
        facts.set { $0.nodes = [.init(upstream: "default/up", node: "a:1", healthy: false), .init(upstream: "default/up", node: "b:1", healthy: true)] }
        let rec = Recorder()
        let leader = Mutex(false)
        let engine = Fixture.engine(facts, recorder: rec, leader: { leader.withLock { $0 } })
        defer { engine.stop() }
        engine.update(rules: [try Fixture.rule("  condition: {type: upstreamUnhealthy}\n  interval: 10s\n  contactPoints: [{name: hook}]\n"),
                              try Fixture.rule("  condition: {type: upstreamUnhealthy}\n  for: 1m\n  contactPoints: [{name: hook}]\n", name: "slow")],
                      contactPoints: [try Fixture.webhook()])
        engine.evaluate(now: 1000)
        engine.evaluate(now: 1001)
        XCTAssertEqual(rec.events, [], "a follower evaluates but sends nothing")
        XCTAssertEqual(engine.instances().map(\.state), [.firing, .pending])

        // Leading now, between two rounds: the firing instance goes out at once; the pending one is not an alert yet.
        leader.withLock { $0 = true }
        engine.evaluate(now: 1002)
        XCTAssertEqual(rec.events, [.takeover])
        let sent = try XCTUnwrap(rec.notifications.withLock { $0.first })
        XCTAssertEqual(sent.status, .firing)
        XCTAssertEqual(sent.rule, "default/r")
        XCTAssertEqual(sent.subject, ["upstream": "default/up", "node": "a:1"])
        XCTAssertEqual(sent.startsAt, 1000, "when this replica saw it fire")
        XCTAssertEqual(sent.endsAt, 1002 + AlertEngine.refreshSeconds * AlertmanagerPayload.endsAfterRefreshes)
        XCTAssertEqual(engine.instances().first?.lastNotified, 1002, "repeats count from the re-send")
        let deadline = Date().addingTimeInterval(10)
        while rec.requests.withLock({ $0.count }) < 1 && Date() < deadline { usleep(5000) }
        XCTAssertEqual(rec.requests.withLock { $0.count }, 1, "the webhook was posted")
        let body = try XCTUnwrap(rec.requests.withLock { $0.first }.flatMap { try JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any] })
        XCTAssertEqual(body["status"] as? String, "firing")
        XCTAssertEqual(body["repeat"] as? Bool, true, "a receiver may have heard it from the old leader")

        // Still leading: no second re-send, and only what the state machine asks for.
        engine.evaluate(now: 1003)
        engine.evaluate(now: 1010)
        XCTAssertEqual(rec.events, [.takeover])
        facts.set { $0.nodes[0].healthy = true }
        engine.evaluate(now: 1020)
        XCTAssertEqual(rec.events, [.takeover, .resolved], "the resolve after the move comes from the new leader")
        XCTAssertEqual(rec.notifications.withLock { $0.last?.fingerprint }, sent.fingerprint)
    }

    func testLeaderFromTheStartSendsOnceAndARegainedLeadershipResendsAgain() throws {
        let facts = FakeFacts()
        facts.set { $0.reload = ReloadFact(errors: ["t.yaml:1:1: error: bad"], failedReloads: 0) }
        let rec = Recorder()
        let leader = Mutex(true)
        let engine = Fixture.engine(facts, recorder: rec, leader: { leader.withLock { $0 } })
        defer { engine.stop() }
        engine.update(rules: [try Fixture.rule("  condition: {type: reloadFailed}\n  contactPoints: [{name: hook}]\n")], contactPoints: [try Fixture.webhook()])
        engine.evaluate(now: 1000)
        XCTAssertEqual(rec.events, [.firing], "fired in the round that found it leading: sent once, not also as a takeover")
        engine.evaluate(now: 1001)
        XCTAssertEqual(rec.events, [.firing])
        // Lost (another replica led for a while), then regained.
        leader.withLock { $0 = false }
        engine.evaluate(now: 1031)
        XCTAssertEqual(rec.events, [.firing])
        leader.withLock { $0 = true }
        engine.evaluate(now: 1032)
        XCTAssertEqual(rec.events, [.firing, .takeover])
    }

    func testEveryContactPointTypeTakesATakeover() throws {
        for kind in ["webhook", "alertmanager", "slack"] {
            let cp = try ContactPointConfig(id: "default/x", kind: kind, url: "http://127.0.0.1:1/x", headers: [], hmacSecret: nil, timeoutMs: 1000)
            XCTAssertTrue(cp.takes(.takeover), kind)
        }
    }
}
