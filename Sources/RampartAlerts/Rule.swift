import RampartModel

/// An AlertRule as the engine runs it: its spec with the threshold and message parsed once.
public struct AlertRuleConfig: Sendable, Equatable {
    /// `NAMESPACE/NAME`.
    public var id: String
    public var name: String
    public var namespace: String
    public var spec: AlertRuleSpec
    /// Seconds, a ratio, a percentage or a count, by condition type.
    public var threshold: Double
    public var template: MessageTemplate?
    /// The contact points' ids (`NAMESPACE/NAME`).
    public var contactPoints: [String]

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public init(namespace: String, name: String, spec: AlertRuleSpec) throws(Invalid) {
        self.id = namespace + "/" + name
        self.name = name
        self.namespace = namespace
        self.spec = spec
        switch spec.type.threshold(spec.threshold) {
        case .success(let v): threshold = v
        case .failure(let e): throw Invalid(description: "AlertRule \(namespace)/\(name) spec.condition.threshold: \(e)")
        }
        if let m = spec.message {
            do throws(MessageTemplate.Invalid) { template = try MessageTemplate(m) } catch {
                throw Invalid(description: "AlertRule \(namespace)/\(name) spec.message: \(error)")
            }
        } else {
            template = nil
        }
        contactPoints = spec.contactPoints.map { $0.namespace + "/" + $0.name }
    }

    var type: AlertConditionType { spec.type }
    var windowSeconds: Double { Double(spec.windowMs) / 1000 }
    var forSeconds: Double { Double(spec.forMs) / 1000 }
    var intervalSeconds: Double { Double(spec.intervalMs) / 1000 }
    var repeatSeconds: Double { Double(spec.repeatIntervalMs) / 1000 }
    /// The threshold as written (or its default), for messages.
    var thresholdText: String { spec.threshold ?? spec.type.defaultThreshold }

    /// A route or upstream (`NAMESPACE/NAME`) is selected when the selector is empty or names it,
    /// with or without its namespace.
    func selects(_ id: String, in list: [String]) -> Bool {
        guard !list.isEmpty else { return true }
        let bare = id.split(separator: "/", maxSplits: 1).last.map(String.init) ?? id
        return list.contains(id) || list.contains(bare)
    }

    func selects(sni: String) -> Bool {
        let list = spec.selectorSNIs
        guard !list.isEmpty else { return true }
        let host = sni.lowercased()
        return list.contains { pattern in
            let p = pattern.lowercased()
            if p.hasPrefix("*.") {
                let suffix = p.dropFirst(1)
                return host.hasSuffix(suffix) && !host.dropLast(suffix.count).contains(".") && host.count > suffix.count
            }
            return p == host
        }
    }
}

/// The phases of one alert instance (API.md 1.6): resolved is the step from firing back to inactive.
public enum AlertPhase: String, Sendable, CaseIterable {
    case inactive, pending, firing
}

/// One instance's place in the state machine.
public struct InstanceState: Sendable, Equatable {
    public var phase: AlertPhase
    /// When the condition became true.
    public var activeAt: Double
    public var firedAt: Double?
    public var lastNotified: Double?
    /// When Alertmanager-type contact points were last sent this firing alert.
    public var lastRefresh: Double?
}

/// What a step of the state machine asks to send.
public enum AlertEvent: Sendable, Equatable {
    /// Pending long enough (or `for: 0s`): notify everyone.
    case firing
    /// Still firing after `repeatInterval`: notify everyone again.
    case repeating
    /// Was firing, the condition is false now: notify everyone.
    case resolved
    /// Still firing: re-post to Alertmanager before its `resolve_timeout` ends the alert.
    case refresh
    /// Firing when this replica became the leader: notify everyone, since the old leader's notifications
    /// (and Alertmanager refreshes) stopped with its leadership.
    case takeover
}

/// inactive → pending → firing → resolved, with repeats; a pure function of the state and the clock.
public enum AlertStateMachine {
    public static func step(_ state: InstanceState?, isTrue: Bool, now: Double, forSeconds: Double, repeatSeconds: Double,
                            refreshSeconds: Double) -> (InstanceState?, [AlertEvent]) {
        guard isTrue else {
            return (nil, state?.phase == .firing ? [.resolved] : [])
        }
        var s = state ?? InstanceState(phase: .pending, activeAt: now)
        switch s.phase {
        case .inactive, .pending:
            s.phase = .pending
            guard now - s.activeAt >= forSeconds else { return (s, []) }
            s.phase = .firing
            s.firedAt = now
            s.lastNotified = now
            s.lastRefresh = now
            return (s, [.firing])
        case .firing:
            if now - (s.lastNotified ?? s.activeAt) >= repeatSeconds {
                s.lastNotified = now
                s.lastRefresh = now
                return (s, [.repeating])
            }
            if now - (s.lastRefresh ?? s.activeAt) >= refreshSeconds {
                s.lastRefresh = now
                return (s, [.refresh])
            }
            return (s, [])
        }
    }
}

/// One notification about one alert instance, as every contact point type renders it.
public struct AlertNotification: Sendable, Equatable {
    public enum Status: String, Sendable {
        case firing, resolved
    }

    public var status: Status
    public var event: AlertEvent
    /// Sent by `rampart alerts test`, not by a condition.
    public var isTest: Bool
    public var rule: String
    public var ruleName: String
    public var severity: String
    /// alertname, rule, severity, the rule's labels and the subject's: the alert's identity.
    public var labels: [String: String]
    public var subject: [String: String]
    public var message: String
    public var startsAt: Double
    /// Resolved: when; firing: when Alertmanager should time the alert out unless re-posted.
    public var endsAt: Double?
    public var fingerprint: String
    public var facts: [String: String]
    public var generatorURL: String

    /// Alertmanager's fingerprint of a label set (FNV-1a 64 over the sorted names and values,
    /// each followed by the 0xff separator), so Rampart's id of an alert is Alertmanager's.
    public static func fingerprint(_ labels: [String: String]) -> String {
        var hash: UInt64 = 14_695_981_039_346_656_037
        func add(_ bytes: some Sequence<UInt8>) {
            for b in bytes {
                hash ^= UInt64(b)
                hash = hash &* 1_099_511_628_211
            }
        }
        for name in labels.keys.sorted() {
            add(name.utf8)
            add([0xff])
            add((labels[name] ?? "").utf8)
            add([0xff])
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: max(0, 16 - hex.count)) + hex
    }
}
