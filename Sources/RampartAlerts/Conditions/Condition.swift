import RampartGateway

import Foundation
import RampartModel

/// One subject's outcome of a condition check: who (subject labels), whether it holds, and the facts a message may name.
struct Observation: Equatable {
    var subject: [String: String]
    var isTrue: Bool
    /// The figure compared with the threshold, as a message shows it.
    var value: String
    var facts: [String: String]
}

/// What a condition may remember between checks of its rule (counter samples for rates, said-once notes).
struct RuleMemory {
    var traffic: [(at: Double, routes: [String: RouteTrafficSampleValue])] = []
    var cpu: [(at: Double, usage: Int)] = []
    var reloads: [(at: Double, failed: Int)] = []
    var saidOnce: Set<String> = []
}

/// A route's counters without its name (the memory keys them by route).
struct RouteTrafficSampleValue: Equatable {
    var requests: Int
    var serverErrors: Int
    var buckets: [Int]
}

/// A condition check's inputs.
struct ConditionInput {
    let rule: AlertRuleConfig
    let now: Double
    let log: @Sendable (String, [String: String]) -> Void
}

/// Dispatches a rule to its condition (one file per condition in this folder).
enum Conditions {
    static func observe(_ input: ConditionInput, facts: inout FactsSnapshot, memory: inout RuleMemory) -> [Observation] {
        switch input.rule.type {
        case .certificateExpiry: return CertificateExpiry.observe(input, facts.certificates)
        case .upstreamUnhealthy: return UpstreamUnhealthy.observe(input, facts.upstreamNodes)
        case .instanceOffline: return InstanceOffline.observe(input, facts.heartbeats)
        case .errorRate: return ErrorRate.observe(input, Traffic.deltas(input, facts.routeTraffic, memory: &memory))
        case .latency: return Latency.observe(input, Traffic.deltas(input, facts.routeTraffic, memory: &memory))
        case .cpuQuota: return CPUQuota.observe(input, facts.cgroup, memory: &memory)
        case .memoryQuota: return MemoryQuota.observe(input, facts.cgroup, memory: &memory)
        case .reloadFailed: return ReloadFailed.observe(input, facts.reload, memory: &memory)
        case .secretResolutionFailed: return SecretResolutionFailed.observe(input, facts.secrets)
        }
    }

    /// Logs `message` the first time `key` is seen for this rule, never again.
    static func sayOnce(_ key: String, _ message: String, _ input: ConditionInput, memory: inout RuleMemory) {
        guard memory.saidOnce.insert(key).inserted else { return }
        input.log(message, ["rule": input.rule.id])
    }
}

/// Samples of a counter over time: the one kept at or just before `now - window` is the baseline.
enum Window {
    /// Samples kept per window at most (plus the baseline and the newest): a 7-day window checked every
    /// second keeps 16 samples, not 600,000, at the cost of a baseline up to window/16 older than exact.
    static let samplesPerWindow = 16.0

    /// Adds the newest sample, first dropping the previous newest when it sits closer than window/16 to the one before it.
    static func append<T>(_ samples: inout [(at: Double, value: T)], _ sample: (at: Double, value: T), window: Double) {
        if samples.count >= 2, samples[samples.count - 1].at - samples[samples.count - 2].at < window / samplesPerWindow {
            samples.removeLast()
        }
        samples.append(sample)
    }

    /// Keeps the newest sample at or before the window's start and everything after it; returns that baseline
    /// (or the oldest sample, while the memory is younger than the window). nil until a second sample exists.
    static func baseline<T>(_ samples: inout [(at: Double, value: T)], now: Double, window: Double) -> (at: Double, value: T)? {
        let start = now - window
        if let idx = samples.lastIndex(where: { $0.at <= start }), idx > 0 { samples.removeFirst(idx) }
        guard let first = samples.first, first.at < now else { return nil }
        return first
    }
}

/// How figures read in messages.
enum Format {
    /// `3d 4h`, `2h 5m`, `45s`, `250ms`: the two largest units.
    static func duration(_ seconds: Double) -> String {
        if seconds < 0 { return "-" + duration(-seconds) }
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        let total = Int(seconds.rounded(.down))
        let units: [(String, Int)] = [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)]
        var parts: [String] = []
        var rest = total
        for (suffix, size) in units where rest >= size || (parts.isEmpty && size == 1) {
            parts.append("\(rest / size)\(suffix)")
            rest %= size
            if parts.count == 2 { break }
        }
        return parts.joined(separator: " ")
    }

    static func number(_ v: Double, digits: Int = 2) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int(v)) }
        return String(format: "%.\(digits)f", v)
    }

    static func time(_ unix: Double) -> String {
        Date(timeIntervalSince1970: unix).ISO8601Format()
    }

    static func bytes(_ n: Int) -> String {
        let units: [(String, Int)] = [("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)]
        for (suffix, size) in units where n >= size { return number(Double(n) / Double(size), digits: 1) + suffix }
        return "\(n)"
    }
}
