import Foundation
@testable import RampartAlerts
@testable import RampartHTTPClient
import Synchronization
import XCTest

/// Delivery: retries, a hanging contact point that holds up no other, bounded queues, latency quantiles.
final class DeliveryTests: XCTestCase {
    func testRetriesThenGivesUpOn5xxAndNotOn4xx() throws {
        let calls = Mutex(0)
        let q = DeliveryQueue(try Fixture.webhook(), hmac: Fixture.hmac, clock: { 0 }, send: { _ in
            calls.withLock { $0 += 1 }
            return HTTPResponse(status: 503, body: [])
        }, backoff: 0.001, log: { _, _ in })
        XCTAssertFalse(q.deliver(PayloadTests.notification()))
        XCTAssertEqual(calls.withLock { $0 }, DeliveryQueue.attempts)
        let final = DeliveryQueue(try Fixture.webhook(), hmac: Fixture.hmac, clock: { 0 }, send: { _ in
            calls.withLock { $0 += 1 }
            return HTTPResponse(status: 400, body: [])
        }, backoff: 0.001, log: { _, _ in })
        calls.withLock { $0 = 0 }
        XCTAssertFalse(final.deliver(PayloadTests.notification()))
        XCTAssertEqual(calls.withLock { $0 }, 1, "a 4xx is final: the request is wrong, resending it will not help")
    }

    func testTransportErrorReasonNeverShowsTheURL() {
        let req = HTTPRequest(method: "POST", url: "https://hooks.slack.com/services/T000/B000/SECRETTOKEN")
        let outcome = DeliveryQueue.attempt(req) { r in throw HTTPClientError(description: "\(r.method) \(r.url): Could not resolve host: hooks.slack.com") }
        XCTAssertEqual(outcome, .retry("Could not resolve host: hooks.slack.com"))
    }

    func testAHangingContactPointDelaysNoOther() throws {
        let release = DispatchSemaphore(value: 0)
        let fastSent = Mutex(0)
        let engine = AlertEngine(facts: { () -> FakeFacts in
            let f = FakeFacts()
            f.set { $0.reload = ReloadFact(errors: ["e"], failedReloads: 0) }
            return f
        }(), hmac: Fixture.hmac, send: { req in
            if req.url.contains("hang") { release.wait() } else { fastSent.withLock { $0 += 1 } }
            return HTTPResponse(status: 200, body: [])
        }, log: { _, _ in })
        let hang = try ContactPointConfig(id: "default/hang", kind: "webhook", url: "http://127.0.0.1:1/hang", headers: [], hmacSecret: nil, timeoutMs: 1000)
        let fast = try ContactPointConfig(id: "default/fast", kind: "webhook", url: "http://127.0.0.1:1/fast", headers: [], hmacSecret: nil, timeoutMs: 1000)
        engine.update(rules: [try Fixture.rule("  condition: {type: reloadFailed}\n  repeatInterval: 1m\n  contactPoints: [{name: hang}, {name: fast}]\n")],
                      contactPoints: [hang, fast])
        engine.evaluate(now: 0)
        engine.evaluate(now: 60)
        let deadline = Date().addingTimeInterval(10)
        while fastSent.withLock({ $0 }) < 2 && Date() < deadline { usleep(5000) }
        XCTAssertEqual(fastSent.withLock { $0 }, 2, "both notifications reached the fast contact point while the other hangs")
        release.signal()
        release.signal()
        engine.stop()
    }

    func testFullQueueDropsOldestAndCounts() throws {
        let q = DeliveryQueue(try Fixture.webhook(), hmac: Fixture.hmac, clock: { 0 }, send: { _ in HTTPResponse(status: 200, body: []) }, log: { _, _ in })
        // Not started: nothing drains it.
        for _ in 0..<(DeliveryQueue.capacity + 5) { q.enqueue(PayloadTests.notification()) }
        XCTAssertEqual(q.snapshot.dropped, 5)
        XCTAssertEqual(q.stop().count, DeliveryQueue.capacity)
    }

    func testQuantileInterpolatesAsPrometheus() {
        let bounds = [0.1, 0.5, 1, Double.infinity]
        // 100 requests: 50 under 0.1 s, 50 in (0.1, 0.5]: p99 = 0.1 + 0.4 * (99 - 50) / 50.
        XCTAssertEqual(Traffic.quantile(0.99, buckets: [50, 100, 100, 100], bounds: bounds) ?? 0, 0.492, accuracy: 1e-9)
        XCTAssertEqual(Traffic.quantile(0.99, buckets: [0, 0, 0, 10], bounds: bounds), 1, "past the last bound: that bound")
        XCTAssertNil(Traffic.quantile(0.99, buckets: [0, 0, 0, 0], bounds: bounds))
    }
}

/// The counter samples a rate keeps stay bounded whatever the window and interval.
final class WindowTests: XCTestCase {
    func testSamplesAreBoundedAndTheBaselineStaysWithinTheWindow() {
        var samples: [(at: Double, value: Int)] = []
        let window = 7.0 * 86_400
        var base: (at: Double, value: Int)?
        for t in stride(from: 0.0, through: 8 * 86_400, by: 30) {
            Window.append(&samples, (t, Int(t)), window: window)
            base = Window.baseline(&samples, now: t, window: window)
        }
        XCTAssertLessThanOrEqual(samples.count, Int(Window.samplesPerWindow) + 3, "\(samples.count) samples")
        let now = 8.0 * 86_400
        XCTAssertLessThanOrEqual(now - (base?.at ?? 0), window + window / Window.samplesPerWindow + 30)
        XCTAssertGreaterThanOrEqual(now - (base?.at ?? now), window - window / Window.samplesPerWindow - 30)
    }
}
