import Foundation
import RampartGateway
import RampartHTTPClient
import RampartModel
import Synchronization

/// Evaluates AlertRules against the published facts on its own thread, moves each instance through
/// inactive → pending → firing → resolved, and hands notifications to each contact point's queue.
public final class AlertEngine: Sendable {
    /// One alert instance as the admin API shows it.
    public struct InstanceView: Sendable {
        public var rule: String
        public var severity: String
        public var state: AlertPhase
        public var subject: [String: String]
        public var facts: [String: String]
        public var value: String
        public var activeAt: Double
        public var firedAt: Double?
        public var lastNotified: Double?
        public var fingerprint: String
    }

    /// One rule's last check.
    public struct RuleView: Sendable {
        public var rule: String
        public var type: String
        public var severity: String
        public var lastEvaluation: Double?
        public var counts: [AlertPhase: Int]
    }

    struct Instance {
        var state: InstanceState
        var subject: [String: String]
        var facts: [String: String]
        var value: String
    }

    struct RuleEntry {
        var config: AlertRuleConfig
        var nextDue: Double
        var lastEvaluation: Double?
        var memory = RuleMemory()
        var instances: [String: Instance] = [:]
        /// Subjects checked last time whose condition was false.
        var inactive = 0
    }

    struct State {
        var rules: [String: RuleEntry] = [:]
        var queues: [String: DeliveryQueue] = [:]
        /// Counts of queues replaced or removed, kept so the counters never go down.
        var retiredCounts: [String: DeliveryQueue.Counts] = [:]
        var stopped = false
        var started = false
        /// Whether the last round found this instance leading: the step to leading re-sends what is firing.
        var wasLeader = false
    }

    private let facts: AlertFacts
    private let clock: @Sendable () -> Double
    private let isLeader: @Sendable () -> Bool
    private let hmac: HMACSHA256
    private let send: @Sendable (HTTPRequest) throws -> HTTPResponse
    private let log: @Sendable (String, [String: String]) -> Void
    private let generatorURL: @Sendable (String) -> String
    private let backoff: Double
    /// Called on the engine thread before each round (the runtime picks up a new desired state there).
    private let beforeRound: (@Sendable () -> Void)?
    /// Sees every notification handed to the queues (tests).
    private let observer: (@Sendable (AlertNotification) -> Void)?
    private let state = Mutex(State())
    private let wake = NSCondition()

    /// Alertmanager is re-sent a firing alert at least this often (seconds; at most every interval).
    public static let refreshSeconds = 60.0

    public init(facts: AlertFacts, hmac: @escaping HMACSHA256, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                isLeader: @escaping @Sendable () -> Bool = { true },
                send: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse = { try HTTPClient.send($0, maxBodyBytes: 64 << 10) },
                generatorURL: @escaping @Sendable (String) -> String = { _ in "" }, retryBackoff: Double = 0.5,
                beforeRound: (@Sendable () -> Void)? = nil, observer: (@Sendable (AlertNotification) -> Void)? = nil,
                log: @escaping @Sendable (String, [String: String]) -> Void) {
        self.facts = facts
        self.clock = clock
        self.isLeader = isLeader
        self.hmac = hmac
        self.send = send
        self.log = log
        self.generatorURL = generatorURL
        self.backoff = retryBackoff
        self.beforeRound = beforeRound
        self.observer = observer
    }

    /// Replaces the rules and contact points. A rule whose spec is unchanged keeps its instances and memory;
    /// a changed contact point gets a new queue that takes over what was waiting.
    public func update(rules: [AlertRuleConfig], contactPoints: [ContactPointConfig]) {
        // New and changed rules are due at once, whatever the clock says.
        let now = -Double.infinity
        var stoppedQueues: [DeliveryQueue] = []
        var startedQueues: [DeliveryQueue] = []
        state.withLock { st in
            var next: [String: RuleEntry] = [:]
            for r in rules {
                if var old = st.rules[r.id] {
                    if old.config != r {
                        let typeChanged = old.config.spec.type != r.spec.type
                        old.config = r
                        old.nextDue = now
                        if typeChanged { old.memory = RuleMemory(); old.instances = [:] }
                    }
                    next[r.id] = old
                } else {
                    next[r.id] = RuleEntry(config: r, nextDue: now)
                }
            }
            st.rules = next
            var queues: [String: DeliveryQueue] = [:]
            for cp in contactPoints {
                if let q = st.queues[cp.id], q.config == cp {
                    queues[cp.id] = q
                    continue
                }
                let q = DeliveryQueue(cp, hmac: hmac, clock: clock, send: send, backoff: backoff, log: log)
                if let old = st.queues[cp.id] {
                    for n in old.stop() { q.enqueue(n) }
                    stoppedQueues.append(old)
                }
                queues[cp.id] = q
                startedQueues.append(q)
            }
            for (id, q) in st.queues where queues[id] == nil {
                _ = q.stop()
                stoppedQueues.append(q)
            }
            for q in stoppedQueues {
                let c = q.snapshot
                st.retiredCounts[q.config.id, default: .init()].sent += c.sent
                st.retiredCounts[q.config.id, default: .init()].failed += c.failed
                st.retiredCounts[q.config.id, default: .init()].dropped += c.dropped
            }
            st.queues = queues
        }
        for q in startedQueues { q.start() }
        wake.lock()
        wake.signal()
        wake.unlock()
    }

    /// Checks every rule that is due at `now` (the engine thread calls it; tests call it with their own clock).
    /// Also notices a step to leading (called at least every second by the engine thread) and then re-sends every
    /// firing instance: the previous leader's notifications are not this replica's to rely on.
    public func evaluate(now: Double) {
        let due = state.withLock { st in st.rules.values.filter { $0.nextDue <= now }.map(\.config.id).sorted() }
        var outgoing: [(AlertNotification, [String])] = []
        if !due.isEmpty { outgoing = round(due, now: now) }
        let leader = isLeader()
        let tookOver = state.withLock { st in
            defer { st.wasLeader = leader }
            return leader && !st.wasLeader
        }
        guard leader else { return }
        if tookOver {
            let resent = takeOver(now: now, skipping: Set(outgoing.map(\.0.fingerprint)))
            if !resent.isEmpty { log("alerts: leading now; re-sending the firing alerts", ["firing": "\(resent.count)"]) }
            outgoing = resent + outgoing
        }
        let queues = state.withLock { $0.queues }
        for (n, targets) in outgoing {
            observer?(n)
            for id in targets {
                guard let q = queues[id] else {
                    log("alert contact point is not configured", ["rule": n.rule, "contactPoint": id])
                    continue
                }
                if q.config.takes(n.event) { q.enqueue(n) }
            }
        }
    }

    /// Checks the rules `due`; returns what their steps ask to send.
    private func round(_ due: [String], now: Double) -> [(AlertNotification, [String])] {
        var snapshot = FactsSnapshot(facts)
        var outgoing: [(AlertNotification, [String])] = []
        // Facts are read outside the lock as they are first needed, so a slow provider never blocks a reader of the state.
        for id in due {
            guard var entry = state.withLock({ $0.rules[id] }) else { continue }
            let input = ConditionInput(rule: entry.config, now: now, log: log)
            let observations = Conditions.observe(input, facts: &snapshot, memory: &entry.memory)
            outgoing += step(&entry, observations, now: now)
            entry.lastEvaluation = now
            entry.nextDue = now + entry.config.intervalSeconds
            state.withLock { st in
                // A rule changed meanwhile (update) keeps its new config; this round's outcome is dropped.
                if st.rules[id]?.config == entry.config { st.rules[id] = entry }
            }
        }
        return outgoing
    }

    /// A takeover notification for every firing instance not in `skipping` (fingerprints, which hold the rule: sent
    /// this round already); each counts as notified now, so its repeats and Alertmanager refreshes run from here.
    private func takeOver(now: Double, skipping: Set<String>) -> [(AlertNotification, [String])] {
        let firing = state.withLock { st -> [(AlertRuleConfig, Instance)] in
            var out: [(AlertRuleConfig, Instance)] = []
            for id in st.rules.keys.sorted() {
                guard var entry = st.rules[id] else { continue }
                for key in entry.instances.keys.sorted() {
                    guard var inst = entry.instances[key], inst.state.phase == .firing else { continue }
                    let fingerprint = AlertNotification.fingerprint(Self.labels(entry.config, subject: inst.subject))
                    guard !skipping.contains(fingerprint) else { continue }
                    inst.state.lastNotified = now
                    inst.state.lastRefresh = now
                    entry.instances[key] = inst
                    out.append((entry.config, inst))
                }
                st.rules[id] = entry
            }
            return out
        }
        return firing.map { rule, inst in
            let o = Observation(subject: inst.subject, isTrue: true, value: inst.value, facts: inst.facts)
            let refresh = max(rule.intervalSeconds, Self.refreshSeconds)
            return (notification(rule, o, state: inst.state, event: .takeover, now: now, refresh: refresh), rule.contactPoints)
        }
    }

    /// Moves each subject's instance one step; returns the notifications to send.
    private func step(_ entry: inout RuleEntry, _ observations: [Observation], now: Double) -> [(AlertNotification, [String])] {
        let rule = entry.config
        let refresh = max(rule.intervalSeconds, Self.refreshSeconds)
        var out: [(AlertNotification, [String])] = []
        var seen = Set<String>()
        var inactive = 0
        for o in observations {
            let key = Self.subjectKey(o.subject)
            seen.insert(key)
            let old = entry.instances[key]
            let (next, events) = AlertStateMachine.step(old?.state, isTrue: o.isTrue, now: now, forSeconds: rule.forSeconds,
                                                        repeatSeconds: rule.repeatSeconds, refreshSeconds: refresh)
            if let next {
                entry.instances[key] = Instance(state: next, subject: o.subject, facts: o.facts, value: o.value)
            } else {
                entry.instances[key] = nil
                inactive += 1
            }
            for e in events {
                let st = next ?? old?.state ?? InstanceState(phase: .firing, activeAt: now)
                out.append((notification(rule, o, state: st, event: e, now: now, refresh: refresh), rule.contactPoints))
            }
        }
        // A subject that is gone (a route deleted, a certificate replaced) is no longer true.
        for (key, inst) in entry.instances where !seen.contains(key) {
            entry.instances[key] = nil
            if inst.state.phase == .firing {
                let o = Observation(subject: inst.subject, isTrue: false, value: inst.value, facts: inst.facts)
                out.append((notification(rule, o, state: inst.state, event: .resolved, now: now, refresh: refresh), rule.contactPoints))
            }
        }
        entry.inactive = inactive
        return out
    }

    static func subjectKey(_ subject: [String: String]) -> String {
        subject.keys.sorted().map { "\($0)=\(subject[$0] ?? "")" }.joined(separator: "\u{1f}")
    }

    /// The labels that identify an instance: alertname, rule, severity, the rule's labels and the subject's.
    static func labels(_ rule: AlertRuleConfig, subject: [String: String]) -> [String: String] {
        var l = rule.spec.labels
        for (k, v) in subject { l[k] = v }
        l["alertname"] = rule.name
        l["rule"] = rule.id
        l["severity"] = rule.spec.severity
        return l
    }

    func notification(_ rule: AlertRuleConfig, _ o: Observation, state: InstanceState, event: AlertEvent, now: Double, refresh: Double,
                      isTest: Bool = false) -> AlertNotification {
        let resolved = event == .resolved
        var facts = o.facts
        facts["rule"] = rule.id
        facts["severity"] = rule.spec.severity
        facts["value"] = o.value
        facts["threshold"] = rule.thresholdText
        facts["state"] = resolved ? "resolved" : "firing"
        let labels = Self.labels(rule, subject: o.subject)
        return AlertNotification(
            status: resolved ? .resolved : .firing, event: event, isTest: isTest, rule: rule.id, ruleName: rule.name, severity: rule.spec.severity,
            labels: labels, subject: o.subject, message: Self.message(rule, o, facts: facts), startsAt: state.firedAt ?? state.activeAt,
            endsAt: resolved ? now : now + refresh * AlertmanagerPayload.endsAfterRefreshes, fingerprint: AlertNotification.fingerprint(labels),
            facts: facts, generatorURL: generatorURL(rule.id))
    }

    static func message(_ rule: AlertRuleConfig, _ o: Observation, facts: [String: String]) -> String {
        if let t = rule.template { return t.render(facts) }
        let subject = o.subject.keys.sorted().map { "\($0)=\(o.subject[$0] ?? "")" }.joined(separator: " ")
        return "\(rule.type.rawValue)\(subject.isEmpty ? "" : " " + subject): \(o.value) (threshold \(rule.thresholdText))"
    }

    /// A test notification for `rule` to each of its contact points, sent now and waited for (`rampart alerts test`).
    /// Returns each contact point's outcome (nil = delivered).
    public func sendTest(_ rule: AlertRuleConfig, contactPoints: [ContactPointConfig]) -> [(id: String, error: String?)] {
        let now = clock()
        let subject = ["test": "true"]
        let o = Observation(subject: subject, isTrue: true, value: "test", facts: [:])
        let n = notification(rule, o, state: InstanceState(phase: .firing, activeAt: now, firedAt: now), event: .firing, now: now,
                             refresh: Self.refreshSeconds, isTest: true)
        let results = Mutex<[String: String?]>([:])
        let group = DispatchGroup()
        for cp in contactPoints {
            group.enter()
            // Each on its own thread: a hanging contact point does not hold up the others' results.
            Thread.detachNewThread { [hmac, send, clock] in
                let outcome = DeliveryQueue.attempt(ContactPointRequest.make(n, for: cp, now: clock(), hmac: hmac), send: send)
                results.withLock { $0[cp.id] = outcome == .delivered ? .some(nil) : .some(Self.reason(outcome)) }
                group.leave()
            }
        }
        group.wait()
        let done = results.withLock { $0 }
        return contactPoints.map { ($0.id, done[$0.id] ?? "not sent") }
    }

    private static func reason(_ o: DeliveryQueue.Outcome) -> String {
        switch o {
        case .delivered: return ""
        case .retry(let why), .final(let why): return why
        }
    }

    /// Runs rounds on its own thread until `stop()`: each rule at its interval.
    public func start() {
        let go = state.withLock { st -> Bool in
            guard !st.started else { return false }
            st.started = true
            return true
        }
        guard go else { return }
        let t = Thread { [self] in
            while !state.withLock({ $0.stopped }) {
                beforeRound?()
                evaluate(now: clock())
                let next = state.withLock { st in st.rules.values.map(\.nextDue).min() }
                let wait = min(1.0, max(0.01, (next ?? clock() + 1) - clock()))
                wake.lock()
                _ = wake.wait(until: Date().addingTimeInterval(wait))
                wake.unlock()
            }
        }
        t.name = "rampart-alerts"
        t.start()
    }

    public func stop() {
        let queues = state.withLock { st -> [DeliveryQueue] in
            st.stopped = true
            return Array(st.queues.values)
        }
        for q in queues { _ = q.stop() }
        wake.lock()
        wake.broadcast()
        wake.unlock()
    }

    /// Active (pending and firing) instances, by rule then subject.
    public func instances() -> [InstanceView] {
        state.withLock { st in
            st.rules.keys.sorted().flatMap { id -> [InstanceView] in
                guard let e = st.rules[id] else { return [] }
                return e.instances.keys.sorted().compactMap { k in
                    guard let i = e.instances[k] else { return nil }
                    return InstanceView(rule: id, severity: e.config.spec.severity, state: i.state.phase, subject: i.subject, facts: i.facts,
                                        value: i.value, activeAt: i.state.activeAt, firedAt: i.state.firedAt, lastNotified: i.state.lastNotified,
                                        fingerprint: AlertNotification.fingerprint(Self.labels(e.config, subject: i.subject)))
                }
            }
        }
    }

    public func rules() -> [RuleView] {
        state.withLock { st in
            st.rules.keys.sorted().compactMap { id in
                guard let e = st.rules[id] else { return nil }
                var counts: [AlertPhase: Int] = [.inactive: e.inactive, .pending: 0, .firing: 0]
                for i in e.instances.values { counts[i.state.phase, default: 0] += 1 }
                return RuleView(rule: id, type: e.config.type.rawValue, severity: e.config.spec.severity, lastEvaluation: e.lastEvaluation, counts: counts)
            }
        }
    }

    /// `rampart_alerts{rule,state}` (instances per state) and the delivery counters per contact point.
    public func metricsText() -> String {
        var out = "# HELP rampart_alerts Alert instances by rule and state (inactive: subjects checked and found fine).\n# TYPE rampart_alerts gauge\n"
        for r in rules() {
            for phase in AlertPhase.allCases {
                out += "rampart_alerts{rule=\"\(MetricsText.label(r.rule))\",state=\"\(phase.rawValue)\"} \(r.counts[phase] ?? 0)\n"
            }
        }
        let counts = state.withLock { st -> [String: DeliveryQueue.Counts] in
            var c = st.retiredCounts
            for (id, q) in st.queues {
                let s = q.snapshot
                c[id, default: .init()].sent += s.sent
                c[id, default: .init()].failed += s.failed
                c[id, default: .init()].dropped += s.dropped
            }
            return c
        }
        out += "# HELP rampart_alert_notifications_total Alert notifications by contact point and outcome (after retries).\n"
        out += "# TYPE rampart_alert_notifications_total counter\n"
        for id in counts.keys.sorted() {
            let c = counts[id] ?? .init()
            out += "rampart_alert_notifications_total{contact_point=\"\(MetricsText.label(id))\",result=\"sent\"} \(c.sent)\n"
            out += "rampart_alert_notifications_total{contact_point=\"\(MetricsText.label(id))\",result=\"failed\"} \(c.failed)\n"
        }
        out += "# HELP rampart_alert_notifications_dropped_total Alert notifications dropped because the contact point's queue was full.\n"
        out += "# TYPE rampart_alert_notifications_dropped_total counter\n"
        for id in counts.keys.sorted() {
            out += "rampart_alert_notifications_dropped_total{contact_point=\"\(MetricsText.label(id))\"} \(counts[id]?.dropped ?? 0)\n"
        }
        return out
    }
}
