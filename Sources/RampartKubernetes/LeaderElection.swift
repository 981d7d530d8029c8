import Foundation
import Synchronization

/// The `spec` of a `coordination.k8s.io/v1` Lease.
public struct LeaseRecord: Sendable, Equatable {
    public var holderIdentity: String
    public var leaseDurationSeconds: Int
    /// MicroTime text, as the server returned it (compared, not parsed, to detect a renewal).
    public var acquireTime: String
    public var renewTime: String
    public var leaseTransitions: Int

    public init(holderIdentity: String, leaseDurationSeconds: Int, acquireTime: String, renewTime: String, leaseTransitions: Int) {
        self.holderIdentity = holderIdentity
        self.leaseDurationSeconds = leaseDurationSeconds
        self.acquireTime = acquireTime
        self.renewTime = renewTime
        self.leaseTransitions = leaseTransitions
    }

    init(spec: [String: Any]) {
        holderIdentity = KubeJSON.string(spec["holderIdentity"]) ?? ""
        leaseDurationSeconds = KubeJSON.int64(spec["leaseDurationSeconds"]).flatMap { Int(exactly: $0) } ?? 0
        acquireTime = KubeJSON.string(spec["acquireTime"]) ?? ""
        renewTime = KubeJSON.string(spec["renewTime"]) ?? ""
        leaseTransitions = KubeJSON.int64(spec["leaseTransitions"]).flatMap { Int(exactly: $0) } ?? 0
    }

    var json: [String: Any] {
        ["holderIdentity": holderIdentity, "leaseDurationSeconds": leaseDurationSeconds,
         "acquireTime": acquireTime, "renewTime": renewTime, "leaseTransitions": leaseTransitions]
    }
}

/// GET, create and update of one Lease, with the resourceVersion carried for optimistic locking.
struct LeaseStore {
    let client: KubernetesClient
    let namespace: String
    let name: String

    var path: String { ResourceType.lease.objectPath(namespace: namespace, name: name) }

    /// The Lease object and its record; nil when it does not exist.
    func get(timeoutMs: Int, stop: StopSignal) throws -> (object: [String: Any], record: LeaseRecord)? {
        do {
            let object = try KubeJSON.object(try client.send("GET", path, timeoutMs: timeoutMs, retry: RetryPolicy.none, stop: stop))
            return (object, LeaseRecord(spec: object["spec"] as? [String: Any] ?? [:]))
        } catch let error as APIStatusError where error.code == 404 {
            return nil
        }
    }

    /// Creates the Lease; false when someone else created it first (409).
    func create(_ record: LeaseRecord, timeoutMs: Int, stop: StopSignal) throws -> Bool {
        let object: [String: Any] = ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                     "metadata": ["name": name, "namespace": namespace], "spec": record.json]
        do {
            try client.send("POST", ResourceType.lease.collectionPath(namespace: namespace), body: try KubeJSON.bytes(object),
                            timeoutMs: timeoutMs, retry: RetryPolicy.none, stop: stop)
            return true
        } catch let error as APIStatusError where error.code == 409 {
            return false
        }
    }

    /// Replaces the Lease read as `object` (its metadata.resourceVersion is the precondition);
    /// false when it changed meanwhile (409).
    func update(_ object: [String: Any], to record: LeaseRecord, timeoutMs: Int, stop: StopSignal) throws -> Bool {
        var object = object
        object["spec"] = record.json
        do {
            try client.send("PUT", path, body: try KubeJSON.bytes(object), timeoutMs: timeoutMs, retry: RetryPolicy.none, stop: stop)
            return true
        } catch let error as APIStatusError where error.code == 409 {
            return false
        }
    }
}

/// The replica's identity: `POD_NAME` (downward API), else the host name.
public func instanceIdentity(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
    if let pod = environment["POD_NAME"], !pod.isEmpty { return String(pod.prefix(253)) }
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "rampart" }
    let host = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return host.isEmpty ? "rampart" : host
}

/// Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it: one replica holds
/// the Lease and renews it every `retryPeriod`; another takes it only when the holder's
/// `renewTime` has not changed for `leaseDuration`, measured on this replica's own clock from when
/// it saw it change (so clock skew between replicas does not matter). Writes carry the
/// resourceVersion read, so of two replicas racing for the Lease one gets 409 and loses.
///
/// The leader stops leading at once when a renewal has not succeeded within `renewDeadline`
/// (or it sees another holder); `onStoppedLeading` runs before it could be overtaken, because
/// `renewDeadline < leaseDuration`. Callbacks run on the elector's thread and should be quick.
public final class LeaderElector: Sendable {
    public struct Config: Sendable {
        public var namespace: String
        public var name: String
        public var identity: String
        public var leaseDuration: Double
        public var renewDeadline: Double
        public var retryPeriod: Double

        public init(namespace: String, name: String = "rampart-leader", identity: String = instanceIdentity(),
                    leaseDuration: Double = 15, renewDeadline: Double = 10, retryPeriod: Double = 2) {
            self.namespace = namespace
            self.name = name
            self.identity = identity
            self.leaseDuration = leaseDuration
            self.renewDeadline = renewDeadline
            self.retryPeriod = retryPeriod
        }
    }

    public let config: Config
    private let store: LeaseStore
    private let log: @Sendable (String) -> Void
    private let signal = StopSignal()
    private let finished = DispatchSemaphore(value: 0)
    /// Leading, and the monotonic time of the last successful renewal.
    private let leading = Mutex<(leading: Bool, renewedAt: ContinuousClock.Instant?, started: Bool, release: Bool)>((false, nil, false, true))
    private let threadName = "rampart-leader-\(UUID().uuidString.prefix(8))"

    public init(client: KubernetesClient, config: Config, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.config = config
        store = LeaseStore(client: client, namespace: config.namespace, name: config.name)
        self.log = log
    }

    /// True while this replica leads and its last renewal is within the renew deadline: check it
    /// right before each leader-only write.
    public var isLeader: Bool {
        leading.withLock { state in
            guard state.leading, let renewed = state.renewedAt else { return false }
            return ContinuousClock.now - renewed < .seconds(config.renewDeadline)
        }
    }

    public func start(onStartedLeading: @escaping @Sendable () -> Void, onStoppedLeading: @escaping @Sendable () -> Void) {
        let first = leading.withLock { s -> Bool in
            defer { s.started = true }
            return !s.started
        }
        guard first else { return }
        let thread = Thread { [self] in
            run(onStartedLeading, onStoppedLeading)
            finished.signal()
        }
        thread.name = threadName
        thread.start()
    }

    /// Stops campaigning and leading. `release` hands the Lease back (holder cleared) so that
    /// another replica takes over at once; without it the Lease runs out as after a crash.
    public func stop(release: Bool = true) {
        let started = leading.withLock { s -> Bool in
            s.release = release
            return s.started
        }
        signal.stop()
        guard started, Thread.current.name != threadName else { return }
        finished.wait()
        finished.signal()
    }

    // Only the elector's thread touches these two.
    private final class Observation: @unchecked Sendable {
        var record: LeaseRecord?
        var at = ContinuousClock.now
    }

    private func run(_ started: @Sendable () -> Void, _ stopped: @Sendable () -> Void) {
        let observed = Observation()
        while !signal.isStopped {
            // Campaign. A failing API is logged when its error changes, not every retry period.
            var lastError = ""
            while !signal.isStopped {
                do {
                    if try attempt(observed, timeout: config.renewDeadline) == .held { break }
                    lastError = ""
                } catch {
                    let text = "\(error)"
                    if text != lastError, !signal.isStopped { log("leader election: cannot read or take the Lease: \(text)") }
                    lastError = text
                }
                if signal.wait(seconds: config.retryPeriod * Double.random(in: 1.0...1.2)) { return }
            }
            if signal.isStopped { return }
            leading.withLock {
                $0.leading = true
                $0.renewedAt = ContinuousClock.now
            }
            log("leader election: \(config.identity) leads (Lease \(config.namespace)/\(config.name))")
            started()
            // Renew until stopped or the renewal fails past the deadline.
            var lastRenewal = ContinuousClock.now
            var reason = "stopped"
            while true {
                // Wake at the deadline at the latest, so that stepping down is not a retry period late.
                let untilDeadline = config.renewDeadline - seconds(ContinuousClock.now - lastRenewal)
                if signal.wait(seconds: min(config.retryPeriod, max(0, untilDeadline))) { break }
                let remaining = config.renewDeadline - seconds(ContinuousClock.now - lastRenewal)
                var outcome: Outcome
                do {
                    outcome = remaining > 0 ? try attempt(observed, timeout: remaining) : .failed
                } catch {
                    if signal.isStopped { break }
                    log("leader election: renewing the Lease failed: \(error)")
                    outcome = .failed
                }
                if outcome == .held {
                    lastRenewal = ContinuousClock.now
                    leading.withLock { $0.renewedAt = lastRenewal }
                    continue
                }
                if outcome == .heldByOther {
                    reason = "another replica holds the Lease"
                    break
                }
                if seconds(ContinuousClock.now - lastRenewal) >= config.renewDeadline {
                    reason = "no renewal within \(config.renewDeadline)s"
                    break
                }
            }
            leading.withLock {
                $0.leading = false
                $0.renewedAt = nil
            }
            log("leader election: \(config.identity) stopped leading: \(reason)")
            stopped()
            if signal.isStopped {
                if leading.withLock({ $0.release }) { release(observed) }
                return
            }
        }
    }

    enum Outcome: Equatable { case held, heldByOther, failed }

    /// One try to acquire or renew (client-go's tryAcquireOrRenew).
    private func attempt(_ observed: Observation, timeout: Double) throws -> Outcome {
        let timeoutMs = max(200, Int(timeout * 1000))
        let now = KubeTime.microTime(Date())
        let mine = LeaseRecord(holderIdentity: config.identity, leaseDurationSeconds: Int(config.leaseDuration.rounded(.up)),
                               acquireTime: now, renewTime: now, leaseTransitions: 0)
        guard let (object, record) = try store.get(timeoutMs: timeoutMs, stop: signal) else {
            guard try store.create(mine, timeoutMs: timeoutMs, stop: signal) else { return .failed }
            observed.record = mine
            observed.at = ContinuousClock.now
            return .held
        }
        if observed.record != record {
            observed.record = record
            observed.at = ContinuousClock.now
        }
        let duration = (1...3600).contains(record.leaseDurationSeconds) ? Double(record.leaseDurationSeconds) : config.leaseDuration
        if !record.holderIdentity.isEmpty, record.holderIdentity != config.identity,
           seconds(ContinuousClock.now - observed.at) < duration {
            return .heldByOther
        }
        var next = mine
        if record.holderIdentity == config.identity {
            next.acquireTime = record.acquireTime
            next.leaseTransitions = record.leaseTransitions
        } else {
            next.leaseTransitions = record.leaseTransitions &+ 1
        }
        guard try store.update(object, to: next, timeoutMs: timeoutMs, stop: signal) else { return .failed }
        observed.record = next
        observed.at = ContinuousClock.now
        return .held
    }

    /// Clears the holder so that the next candidate need not wait out the Lease.
    private func release(_ observed: Observation) {
        let quiet = StopSignal()
        guard let (object, record) = try? store.get(timeoutMs: 2000, stop: quiet), record.holderIdentity == config.identity else { return }
        var cleared = record
        cleared.holderIdentity = ""
        cleared.leaseDurationSeconds = 1
        cleared.renewTime = KubeTime.microTime(Date())
        if (try? store.update(object, to: cleared, timeoutMs: 2000, stop: quiet)) == true {
            log("leader election: \(config.identity) released the Lease")
        }
    }
}

func seconds(_ duration: Duration) -> Double {
    let parts = duration.components
    return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
}

/// Renews this replica's own Lease `rampart-instance-<identity>` every `interval`: a heartbeat
/// another replica (the `instanceOffline` alert) can read.
public final class InstanceHeartbeat: Sendable {
    public let leaseName: String
    public let identity: String
    public let interval: Double
    public let leaseDuration: Int
    private let store: LeaseStore
    private let log: @Sendable (String) -> Void
    private let signal = StopSignal()
    private let finished = DispatchSemaphore(value: 0)
    private let started = Mutex(false)

    public init(client: KubernetesClient, namespace: String, identity: String = instanceIdentity(), interval: Double = 5,
                leaseDuration: Int = 15, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.identity = identity
        leaseName = Self.leaseName(identity: identity)
        self.interval = interval
        self.leaseDuration = leaseDuration
        store = LeaseStore(client: client, namespace: namespace, name: leaseName)
        self.log = log
    }

    /// `rampart-instance-<identity>` made a valid object name (lowercase, `[a-z0-9.-]`, ≤ 253).
    public static func leaseName(identity: String) -> String {
        let prefix = "rampart-instance-"
        var body = String(identity.lowercased().unicodeScalars.map { scalar -> Character in
            let ok = ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "-" || scalar == "."
            return ok ? Character(scalar) : "-"
        }.prefix(253 - prefix.count))
        while let last = body.last, !(last.isLetter || last.isNumber) { body.removeLast() }
        return prefix + (body.isEmpty ? "unnamed" : body)
    }

    public func start() {
        let first = started.withLock { s -> Bool in
            defer { s = true }
            return !s
        }
        guard first else { return }
        let thread = Thread { [self] in
            while !signal.isStopped {
                do { try beat() } catch { if !signal.isStopped { log("instance heartbeat \(leaseName): \(error)") } }
                if signal.wait(seconds: interval) { break }
            }
            finished.signal()
        }
        thread.name = "rampart-heartbeat"
        thread.start()
    }

    public func stop() {
        signal.stop()
        guard started.withLock({ $0 }) else { return }
        finished.wait()
        finished.signal()
    }

    /// One renewal (or the creation of the Lease).
    public func beat() throws {
        let now = KubeTime.microTime(Date())
        guard let (object, record) = try store.get(timeoutMs: 5000, stop: signal) else {
            let fresh = LeaseRecord(holderIdentity: identity, leaseDurationSeconds: leaseDuration, acquireTime: now, renewTime: now, leaseTransitions: 0)
            _ = try store.create(fresh, timeoutMs: 5000, stop: signal)
            return
        }
        var next = record
        if next.holderIdentity != identity {
            next.holderIdentity = identity
            next.acquireTime = now
        }
        next.leaseDurationSeconds = leaseDuration
        next.renewTime = now
        _ = try store.update(object, to: next, timeoutMs: 5000, stop: signal)
    }
}
