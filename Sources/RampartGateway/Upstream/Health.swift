import Synchronization

/// Health of one node, shared read-mostly between loops and the active checker (atomics only).
final class NodeHealth: Sendable {
    let activeHealthy = Atomic<Bool>(true)
    let activeSuccesses = Atomic<Int>(0)
    let activeFailures = Atomic<Int>(0)
    let passiveFailures = Atomic<Int>(0)
    let downUntilMs = Atomic<Int64>(0)

    @inline(__always)
    func isHealthy(now: Int64) -> Bool {
        activeHealthy.load(ordering: .relaxed) && now >= downUntilMs.load(ordering: .relaxed)
    }

    /// A passive failure (connect failure, timeout, configured status).
    func recordFailure(_ cfg: PassiveHealthCheck, now: Int64) {
        let n = passiveFailures.add(1, ordering: .relaxed).newValue
        if n >= cfg.unhealthyAfter {
            downUntilMs.store(now.addingSaturated(cfg.downMs), ordering: .relaxed)
            passiveFailures.store(0, ordering: .relaxed)
        }
    }

    @inline(__always)
    func recordSuccess() {
        if passiveFailures.load(ordering: .relaxed) != 0 { passiveFailures.store(0, ordering: .relaxed) }
    }

    /// Result of one active probe.
    func recordProbe(ok: Bool, _ cfg: ActiveHealthCheck) {
        if ok {
            activeFailures.store(0, ordering: .relaxed)
            let n = activeSuccesses.add(1, ordering: .relaxed).newValue
            if n >= cfg.healthyAfter, !activeHealthy.load(ordering: .relaxed) {
                activeHealthy.store(true, ordering: .relaxed)
                downUntilMs.store(0, ordering: .relaxed)
            }
        } else {
            activeSuccesses.store(0, ordering: .relaxed)
            let n = activeFailures.add(1, ordering: .relaxed).newValue
            if n >= cfg.unhealthyAfter { activeHealthy.store(false, ordering: .relaxed) }
        }
    }
}

/// Keeps NodeHealth objects across snapshots, keyed by upstream id and node address.
final class HealthRegistry: Sendable {
    private let table = Mutex<[String: NodeHealth]>([:])

    func health(upstream: String, node: String) -> NodeHealth {
        table.withLock { t in
            let key = upstream + "|" + node
            if let h = t[key] { return h }
            let h = NodeHealth()
            t[key] = h
            return h
        }
    }

    /// Drops entries not in `keep` (after a snapshot removed nodes).
    func retain(_ keep: Set<String>) {
        table.withLock { t in
            for k in t.keys where !keep.contains(k) { t[k] = nil }
        }
    }
}
