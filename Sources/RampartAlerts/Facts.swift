import RampartGateway

/// What the gateway and the controller publish for alerting. The engine reads nothing else:
/// no gateway or controller internals, so a condition is testable with facts made up in a test.
public protocol AlertFacts: Sendable {
    /// Certificates in use: served per SNI, presented to upstreams, the CAs that verify upstreams and clients, the admin API's.
    func certificates() -> [CertificateFact]
    /// Every upstream node with its health (active and passive checks, and names that do not resolve).
    func upstreamNodes() -> [UpstreamNodeFact]
    /// Per-route counters and latency histograms since start.
    func routeTraffic() -> [RouteTrafficSample]
    /// The controller's last reconcile.
    func reload() -> ReloadFact
    /// Every SecretRef's resolution state.
    func secrets() -> [SecretFact]
    /// Other instances' last heartbeat (directory mode: `--peers` probed on `/healthz`).
    func heartbeats() -> [HeartbeatFact]
    /// The process's cgroup v2 usage and limits.
    func cgroup() -> CgroupSample
}

/// A certificate in use and when it expires.
public struct CertificateFact: Sendable, Equatable {
    /// The SNI it is served for (server certificates).
    public var sni: String?
    /// What it is: `SNI HOST`, `SSL NAMESPACE/NAME` (a client certificate), `SSL NAMESPACE/NAME (CA bundle)` or
    /// `(clientAuth.ca)` (a CA; of several, `... #N: SUBJECT)`), or `admin` for the admin API's.
    public var certificate: String
    /// Unix seconds.
    public var notAfter: Double

    public init(sni: String?, certificate: String, notAfter: Double) {
        self.sni = sni
        self.certificate = certificate
        self.notAfter = notAfter
    }
}

/// One upstream node's health.
public struct UpstreamNodeFact: Sendable, Equatable {
    public var upstream: String
    public var node: String
    public var healthy: Bool

    public init(upstream: String, node: String, healthy: Bool) {
        self.upstream = upstream
        self.node = node
        self.healthy = healthy
    }
}

/// The outcome of the controller's reconciles.
public struct ReloadFact: Sendable, Equatable {
    /// Errors of the last reconcile (invalid resources, an apply or audit-log failure); never a secret value.
    public var errors: [String]
    /// Desired states that could not be applied, since start.
    public var failedReloads: Int

    public init(errors: [String] = [], failedReloads: Int = 0) {
        self.errors = errors
        self.failedReloads = failedReloads
    }
}

/// A SecretRef's resolution state.
public struct SecretFact: Sendable, Equatable {
    public var ref: String
    public var provider: String
    /// The last attempt's error (the provider's message, never the value).
    public var error: String?
    public var consecutiveFailures: Int

    public init(ref: String, provider: String, error: String?, consecutiveFailures: Int) {
        self.ref = ref
        self.provider = provider
        self.error = error
        self.consecutiveFailures = consecutiveFailures
    }
}

/// When another instance was last seen alive.
public struct HeartbeatFact: Sendable, Equatable {
    public var peer: String
    /// Unix seconds of the last good answer; nil if none yet.
    public var lastSeen: Double?
    /// When watching began: an instance never seen counts as offline since then.
    public var watchedSince: Double
    /// Why the last probe failed.
    public var error: String?

    public init(peer: String, lastSeen: Double?, watchedSince: Double, error: String?) {
        self.peer = peer
        self.lastSeen = lastSeen
        self.watchedSince = watchedSince
        self.error = error
    }
}

/// Facts that report nothing: a base for tests and for what a process does not have.
public struct NoAlertFacts: AlertFacts {
    public init() {}
    public func certificates() -> [CertificateFact] { [] }
    public func upstreamNodes() -> [UpstreamNodeFact] { [] }
    public func routeTraffic() -> [RouteTrafficSample] { [] }
    public func reload() -> ReloadFact { ReloadFact() }
    public func secrets() -> [SecretFact] { [] }
    public func heartbeats() -> [HeartbeatFact] { [] }
    public func cgroup() -> CgroupSample { CgroupSample() }
}

/// Every fact read once for one evaluation round, so all rules due together see the same moment.
struct FactsSnapshot {
    let source: AlertFacts
    private(set) lazy var certificates = source.certificates()
    private(set) lazy var upstreamNodes = source.upstreamNodes()
    private(set) lazy var routeTraffic = source.routeTraffic()
    private(set) lazy var reload = source.reload()
    private(set) lazy var secrets = source.secrets()
    private(set) lazy var heartbeats = source.heartbeats()
    private(set) lazy var cgroup = source.cgroup()

    init(_ source: AlertFacts) { self.source = source }
}
