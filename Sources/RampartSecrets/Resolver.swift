import Foundation

/// Caches every SecretRef's value, refreshes it when due, keeps the last good value through provider failures and
/// retries with capped exponential backoff. Thread-safe. Refresh is driven by the caller: `tick(now:)` (the
/// controller calls it on a timer, at `nextDue()`), `refreshAll()` (admin API), or a read of a stale value.
public final class SecretResolver: CustomStringConvertible, CustomReflectable, @unchecked Sendable {
    /// Retry delays after consecutive failures: `min(maxMs, baseMs * 2^(failures-1))`, minus up to `jitter` of it at random.
    public struct Backoff: Sendable {
        public var baseMs: Int
        public var maxMs: Int
        /// 0...1: the fraction of each delay that is randomised (spreads retries of many refs).
        public var jitter: Double

        public init(baseMs: Int = 1_000, maxMs: Int = 300_000, jitter: Double = 0.2) {
            self.baseMs = baseMs
            self.maxMs = maxMs
            self.jitter = min(1, max(0, jitter))
        }

        /// The delay before retry number `failures` (1 = after the first failure); `random` in 0..<1.
        public func delayMs(failures: Int, random: Double) -> Int {
            let exp = min(max(failures - 1, 0), 30)
            let raw = min(Double(maxMs), Double(baseMs) * pow(2, Double(exp)))
            return max(0, Int(raw * (1 - jitter * min(max(random, 0), 1))))
        }
    }

    /// One SecretRef's state, as the status API and alerts see it (no value).
    public struct Status: Sendable, CustomStringConvertible {
        public var ref: String
        public var provider: String
        /// A value is held and the last attempt succeeded.
        public var ready: Bool
        public var hasValue: Bool
        /// The last attempt's error (the provider's message, never the secret).
        public var error: String?
        public var consecutiveFailures: Int
        public var lastRefresh: Date?
        public var lastAttempt: Date?
        public var nextRefresh: Date?
        /// The provider's version id of the held value (Vault KV version, AWS VersionId).
        public var version: String?
        public var fetchCount: Int

        public var description: String {
            "\(ref) (\(provider)): \(ready ? "ready" : "not ready")\(error.map { ", error: \($0)" } ?? ""), version \(version ?? "-"), failures \(consecutiveFailures)"
        }
    }

    private final class Entry {
        let provider: any SecretProvider
        let intervalMs: Int
        var value: SecretValue?
        var digest: [UInt8]?
        var version: String?
        var error: SecretError?
        var failures = 0
        var lastRefresh: Date?
        var lastAttempt: Date?
        var nextRefresh: Date?
        var inFlight = false
        var fetches = 0

        init(provider: any SecretProvider, intervalMs: Int) {
            self.provider = provider
            self.intervalMs = intervalMs
        }
    }

    public let backoff: Backoff
    private let now: @Sendable () -> Date
    private let random: @Sendable () -> Double
    private let onChange: @Sendable (String) -> Void
    private let cond = NSCondition()
    private var entries: [String: Entry] = [:]
    private var counts: [String: Int] = [:]

    /// `onChange(ref)` is called (outside any lock) when a refresh returns a value different from the held one,
    /// or the first value of a ref whose earlier fetches failed.
    public init(backoff: Backoff = Backoff(), now: @escaping @Sendable () -> Date = { Date() },
                random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
                onChange: @escaping @Sendable (String) -> Void = { _ in }) {
        self.backoff = backoff
        self.now = now
        self.random = random
        self.onChange = onChange
    }

    public var description: String { "SecretResolver(\(refs.joined(separator: ", ")))" }
    public var customMirror: Mirror { Mirror(self, children: ["refs": refs], displayStyle: .class) }

    /// Adds or replaces the provider of `ref` ("namespace/name"); a replaced provider's cached value is dropped.
    public func register(_ ref: String, provider: any SecretProvider, refreshIntervalMs: Int) {
        cond.withLock { entries[ref] = Entry(provider: provider, intervalMs: max(1_000, refreshIntervalMs)) }
    }

    public func remove(_ ref: String) {
        cond.withLock { _ = entries.removeValue(forKey: ref) }
    }

    public var refs: [String] { cond.withLock { entries.keys.sorted() } }

    /// The whole secret of `ref`. Fetches when nothing is held yet or the value is due (concurrent callers share one
    /// fetch); on a failed fetch returns the last good value, or throws the provider's error when there is none.
    public func secret(for ref: String) throws -> SecretValue {
        cond.lock()
        defer { cond.unlock() }
        var fetched = false
        while true {
            guard let e = entries[ref] else { throw SecretError(.notResolved, ref: ref, "no such SecretRef") }
            if e.inFlight {
                cond.wait()
                continue
            }
            let due = e.nextRefresh.map { now() >= $0 } ?? true
            if !fetched && due {
                fetched = true
                e.inFlight = true
                cond.unlock()
                let changed = runFetch(ref, e)
                if changed { onChange(ref) }
                cond.lock()
                continue
            }
            if let v = e.value { return v }
            throw e.error ?? SecretError(.notResolved, ref: ref, "not resolved yet")
        }
    }

    /// One field (`key`) or the whole secret of `ref`; errors name the SecretRef and key, never the value.
    public func value(for ref: String, key: String? = nil) throws -> String {
        try secret(for: ref).value(key: key)
    }

    /// One field or the whole secret of `ref` with the store's version id of the held value (Vault KV
    /// metadata version, AWS VersionId; nil where the provider has none, or when a refresh replaced the
    /// value between the two reads, so that a version is never paired with another version's value).
    public func versionedValue(for ref: String, key: String? = nil) throws -> (value: String, version: String?) {
        let secret = try secret(for: ref)
        let version = cond.withLock { entries[ref]?.value == secret ? entries[ref]?.version : nil }
        return (try secret.value(key: key), version)
    }

    /// Refreshes every SecretRef due at `now` (its refresh interval or backoff delay has passed). Returns the refs fetched.
    @discardableResult
    public func tick(now at: Date? = nil) -> [String] {
        let t = at ?? now()
        let due = cond.withLock { entries.filter { !$0.value.inFlight && ($0.value.nextRefresh.map { t >= $0 } ?? true) }.map(\.key).sorted() }
        for ref in due { refresh(ref) }
        return due
    }

    /// Re-reads every SecretRef now, ignoring intervals and backoff (`POST /api/v1/secrets/refresh`).
    public func refreshAll() {
        for ref in refs { refresh(ref) }
    }

    /// Re-reads `ref` now (or waits for a fetch already running). Returns whether the value changed.
    @discardableResult
    public func refresh(_ ref: String) -> Bool {
        cond.lock()
        guard let e = entries[ref] else { cond.unlock(); return false }
        if e.inFlight {
            while e.inFlight { cond.wait() }
            cond.unlock()
            return false
        }
        e.inFlight = true
        cond.unlock()
        let changed = runFetch(ref, e)
        if changed { onChange(ref) }
        return changed
    }

    /// When the next refresh or retry is due (nil: nothing registered).
    public func nextDue() -> Date? {
        cond.withLock { entries.values.compactMap { $0.nextRefresh ?? .distantPast }.min() }
    }

    public func status(_ ref: String) -> Status? {
        cond.withLock { entries[ref].map { Self.status(ref, $0) } }
    }

    public func statuses() -> [Status] {
        cond.withLock { entries.sorted { $0.key < $1.key }.map { Self.status($0.key, $0.value) } }
    }

    /// Fetch outcomes per provider and result ("ok"/"error"), for `rampart_secret_resolutions_total{provider,result}`.
    public func resolutionCounts() -> [(provider: String, result: String, count: Int)] {
        cond.withLock {
            counts.sorted { $0.key < $1.key }.compactMap { k, v in
                let parts = k.split(separator: "|").map(String.init)
                return parts.count == 2 ? (parts[0], parts[1], v) : nil
            }
        }
    }

    private static func status(_ ref: String, _ e: Entry) -> Status {
        Status(ref: ref, provider: e.provider.kind, ready: e.value != nil && e.error == nil, hasValue: e.value != nil,
               error: e.error?.description, consecutiveFailures: e.failures, lastRefresh: e.lastRefresh, lastAttempt: e.lastAttempt,
               nextRefresh: e.nextRefresh, version: e.version, fetchCount: e.fetches)
    }

    /// Fetches outside the lock; the caller has set `inFlight` under the lock. Returns whether a held value changed.
    private func runFetch(_ ref: String, _ e: Entry) -> Bool {
        let result: Result<FetchedSecret, SecretError>
        do {
            result = .success(try e.provider.fetch())
        } catch let err as SecretError {
            result = .failure(err)
        } catch {
            result = .failure(SecretError(.provider, ref: ref, "\(e.provider.kind): \(error)"))
        }
        cond.lock()
        defer {
            e.inFlight = false
            cond.broadcast()
            cond.unlock()
        }
        let t = now()
        e.fetches += 1
        e.lastAttempt = t
        switch result {
        case .success(let f):
            let digest = f.value.digest
            // A first value after failures is a change too: snapshots built meanwhile went without it.
            let changed = e.digest != digest && (e.digest != nil || e.failures > 0)
            e.value = f.value.named(ref)
            e.digest = digest
            e.version = f.version
            e.error = nil
            e.failures = 0
            e.lastRefresh = t
            e.nextRefresh = t.addingTimeInterval(Double(e.intervalMs) / 1000)
            counts["\(e.provider.kind)|success", default: 0] += 1
            return changed && entries[ref] === e
        case .failure(let err):
            e.error = err.ref.isEmpty ? SecretError(err.kind, ref: ref, err.message) : err
            e.failures += 1
            e.nextRefresh = t.addingTimeInterval(Double(backoff.delayMs(failures: e.failures, random: random())) / 1000)
            counts["\(e.provider.kind)|failure", default: 0] += 1
            return false
        }
    }
}
