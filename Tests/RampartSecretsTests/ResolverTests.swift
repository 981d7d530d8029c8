import Foundation
import RampartSecrets
import TestSupport
import XCTest

/// A provider whose answers the test scripts; counts fetches; can hold fetches until released.
final class ScriptedProvider: SecretProvider, @unchecked Sendable {
    let kind = "scripted"
    private let lock = NSCondition()
    private var answers: [Result<String, SecretError>]
    private var held = false
    private(set) var fetches = 0
    var waiting = 0

    init(_ answers: [Result<String, SecretError>]) { self.answers = answers }

    func set(_ answers: [Result<String, SecretError>]) { lock.withLock { self.answers = answers } }
    func hold() { lock.withLock { held = true } }
    func release() { lock.withLock { held = false; lock.broadcast() } }
    var fetchCount: Int { lock.withLock { fetches } }
    var waitingCount: Int { lock.withLock { waiting } }

    func fetch() throws -> FetchedSecret {
        lock.lock()
        defer { lock.unlock() }
        fetches += 1
        waiting += 1
        while held { lock.wait() }
        waiting -= 1
        let a = answers.count > 1 ? answers.removeFirst() : (answers.first ?? .failure(SecretError(.provider, ref: "", "no answer")))
        switch a {
        case .success(let s): return FetchedSecret(value: .parsing(s), version: "v\(fetches)")
        case .failure(let e): throw e
        }
    }
}

final class Changes: @unchecked Sendable {
    private let lock = NSLock()
    private var refs: [String] = []
    func add(_ r: String) { lock.withLock { refs.append(r) } }
    var all: [String] { lock.withLock { refs } }
}

final class ResolverTests: XCTestCase {
    func testBackoffIsCappedExponentialWithJitter() {
        let b = SecretResolver.Backoff(baseMs: 1_000, maxMs: 5_000, jitter: 0.5)
        XCTAssertEqual((1...5).map { b.delayMs(failures: $0, random: 0) }, [1_000, 2_000, 4_000, 5_000, 5_000])
        XCTAssertEqual(b.delayMs(failures: 3, random: 0.999_999), 2_000)
        XCTAssertEqual(b.delayMs(failures: 100, random: 0), 5_000)
    }

    func testConcurrentReadsShareOneFetch() {
        let p = ScriptedProvider([.success("one-fetch-secret")])
        let r = SecretResolver()
        r.register("shop/a", provider: p, refreshIntervalMs: 60_000)
        p.hold()
        let results = Changes()
        let group = DispatchGroup()
        for _ in 0..<8 {
            DispatchQueue.global().async(group: group) {
                results.add((try? r.value(for: "shop/a")) ?? "error")
            }
        }
        XCTAssertTrue(Poll.until(timeout: 10) { p.waitingCount == 1 })
        p.release()
        XCTAssertEqual(group.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(p.fetchCount, 1)
        XCTAssertEqual(results.all, Array(repeating: "one-fetch-secret", count: 8))
    }

    func testLastGoodValueBackoffAndChangeCallback() throws {
        let clock = TestClock()
        let changes = Changes()
        let p = ScriptedProvider([.success(#"{"password":"first-pw"}"#)])
        let r = SecretResolver(backoff: .init(baseMs: 1_000, maxMs: 4_000, jitter: 0), now: clock.fn, random: { 0 }, onChange: { changes.add($0) })
        r.register("shop/db", provider: p, refreshIntervalMs: 60_000)
        XCTAssertEqual(try r.value(for: "shop/db", key: "password"), "first-pw")
        XCTAssertEqual(try r.value(for: "shop/db", key: "password"), "first-pw")
        XCTAssertEqual(p.fetchCount, 1, "cached until the interval passes")
        XCTAssertEqual(r.tick(), [], "nothing due")

        p.set([.failure(SecretError(.provider, ref: "shop/db", "vault: HTTP 503: Vault is sealed"))])
        clock.advance(60)
        XCTAssertEqual(r.tick(), ["shop/db"])
        XCTAssertEqual(try r.value(for: "shop/db", key: "password"), "first-pw", "last good value keeps serving")
        var st = try XCTUnwrap(r.status("shop/db"))
        XCTAssertFalse(st.ready)
        XCTAssertTrue(st.hasValue)
        XCTAssertEqual(st.consecutiveFailures, 1)
        XCTAssertTrue(st.error?.contains("Vault is sealed") ?? false)
        XCTAssertEqual(st.nextRefresh, clock.now.addingTimeInterval(1))
        clock.advance(0.5)
        XCTAssertEqual(r.tick(), [], "in backoff")
        clock.advance(0.5)
        XCTAssertEqual(r.tick(), ["shop/db"])
        XCTAssertEqual(r.status("shop/db")?.nextRefresh, clock.now.addingTimeInterval(2))
        clock.advance(2); r.tick()
        clock.advance(4); r.tick()
        XCTAssertEqual(r.status("shop/db")?.nextRefresh, clock.now.addingTimeInterval(4), "capped")
        XCTAssertEqual(r.status("shop/db")?.consecutiveFailures, 4)
        XCTAssertEqual(changes.all, [])

        p.set([.success(#"{"password":"first-pw"}"#)])
        clock.advance(4); r.tick()
        XCTAssertEqual(changes.all, [], "same value: no change")
        st = try XCTUnwrap(r.status("shop/db"))
        XCTAssertTrue(st.ready)
        XCTAssertNil(st.error)
        XCTAssertEqual(st.lastRefresh, clock.now)
        XCTAssertEqual(st.nextRefresh, clock.now.addingTimeInterval(60))

        p.set([.success(#"{"password":"second-pw"}"#)])
        r.refreshAll()
        XCTAssertEqual(changes.all, ["shop/db"])
        XCTAssertEqual(try r.value(for: "shop/db", key: "password"), "second-pw")
        XCTAssertEqual(r.status("shop/db")?.version, "v\(p.fetchCount)")
        let counts = r.resolutionCounts()
        XCTAssertTrue(counts.contains { $0.provider == "scripted" && $0.result == "failure" && $0.count == 4 })
        assertNoSecrets(r.statuses().map(\.description) + renderings(r.statuses()) + renderings(try r.secret(for: "shop/db")),
                        ["first-pw", "second-pw"])
    }

    /// Snapshots built while a ref had no value went without it (its Route not served): the first value is a change.
    func testFirstValueAfterFailuresIsAChange() throws {
        let clock = TestClock()
        let changes = Changes()
        let p = ScriptedProvider([.failure(SecretError(.notFound, ref: "shop/k", "file: no such file"))])
        let r = SecretResolver(backoff: .init(baseMs: 1_000, maxMs: 4_000, jitter: 0), now: clock.fn, random: { 0 }, onChange: { changes.add($0) })
        r.register("shop/k", provider: p, refreshIntervalMs: 60_000)
        XCTAssertThrowsError(try r.value(for: "shop/k"))
        p.set([.success("the-key")])
        clock.advance(1)
        XCTAssertEqual(r.tick(), ["shop/k"])
        XCTAssertEqual(changes.all, ["shop/k"])
        XCTAssertEqual(try r.value(for: "shop/k"), "the-key")
        // A first value that never failed is no change (the build that asked for it already has it).
        let q = ScriptedProvider([.success("fresh")])
        r.register("shop/q", provider: q, refreshIntervalMs: 60_000)
        XCTAssertEqual(try r.value(for: "shop/q"), "fresh")
        XCTAssertEqual(changes.all, ["shop/k"])
    }

    func testFailureWithoutValueThrowsProviderErrorAndUnknownRef() {
        let clock = TestClock()
        let p = ScriptedProvider([.failure(SecretError(.notFound, ref: "shop/x", "aws: ResourceNotFoundException"))])
        let r = SecretResolver(now: clock.fn, random: { 0 })
        r.register("shop/x", provider: p, refreshIntervalMs: 1_000)
        XCTAssertEqual(secretError { try r.value(for: "shop/x") }?.kind, .notFound)
        XCTAssertEqual(secretError { try r.value(for: "shop/x") }?.kind, .notFound)
        XCTAssertEqual(p.fetchCount, 1, "in backoff: no new fetch")
        XCTAssertEqual(secretError { try r.value(for: "shop/none") }?.kind, .notResolved)
        XCTAssertEqual(r.nextDue(), clock.now.addingTimeInterval(1))
    }
}
