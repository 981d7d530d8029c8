import Foundation
import RampartAlerts
import RampartCrypto
import RampartGateway
import RampartModel
import Synchronization

/// Runs the alert engine for `rampart run`: keeps its rules and contact points in step with the
/// serving desired state (sensitive values resolved through `SensitiveValues`), and publishes the
/// facts the gateway and the controller expose. The admin API reads its views.
public final class AlertsRuntime: Sendable {
    public struct Options: Sendable {
        /// `--peers`: other instances probed on `/healthz` (instanceOffline).
        public var peers: [String]
        /// `--peers-ca`: the CA bundle https peers are verified with (default: the system store).
        public var peersCA: String?
        /// `--cgroup-root`.
        public var cgroupRoot: String
        /// The admin API's base URL, for Alertmanager's `generatorURL`.
        public var adminURL: String
        /// When the admin API's certificate expires (nil: plain HTTP).
        public var adminCertificateNotAfter: Date?
        /// With leader election, whether this instance sends notifications.
        public var isLeader: @Sendable () -> Bool
        /// Other replicas' heartbeats besides `peers` (Kubernetes: their instance Leases).
        public var heartbeats: @Sendable () -> [HeartbeatFact]

        public init(peers: [String] = [], peersCA: String? = nil, cgroupRoot: String = "/sys/fs/cgroup", adminURL: String = "", adminCertificateNotAfter: Date? = nil,
                    isLeader: @escaping @Sendable () -> Bool = { true }, heartbeats: @escaping @Sendable () -> [HeartbeatFact] = { [] }) {
            self.heartbeats = heartbeats
            self.peers = peers
            self.peersCA = peersCA
            self.cgroupRoot = cgroupRoot
            self.adminURL = adminURL
            self.adminCertificateNotAfter = adminCertificateNotAfter
            self.isLeader = isLeader
        }
    }

    public let engine: AlertEngine
    private let reconciler: Reconciler
    private let values: SensitiveValues
    private let log: Log
    private let probe: PeerProbe?
    private let facts: RuntimeFacts
    /// The hash of the desired state the engine was last given.
    private let appliedHash = Mutex<String?>(nil)

    public init(options: Options, reconciler: Reconciler, gateway: Gateway, metrics: ControlMetrics, secrets: SecretsBridge?, log: Log) {
        self.reconciler = reconciler
        self.values = reconciler.values
        self.log = log
        let probe = options.peers.isEmpty ? nil : PeerProbe(peers: options.peers, caFile: options.peersCA)
        self.probe = probe
        let facts = RuntimeFacts(gateway: gateway, reconciler: reconciler, metrics: metrics, secrets: secrets, probe: probe, leases: options.heartbeats,
                                 cgroup: CgroupReader(root: options.cgroupRoot), adminNotAfter: options.adminCertificateNotAfter)
        self.facts = facts
        let base = options.adminURL
        let pending = Later<AlertsRuntime>()
        engine = AlertEngine(facts: facts, hmac: { HMAC.sha256(key: $0, message: $1) }, isLeader: options.isLeader,
                             generatorURL: { base + "/api/v1/alerts?rule=" + ($0.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? $0) },
                             beforeRound: { pending.value?.sync() },
                             log: { message, fields in log.write(.warn, message, fields: fields.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }) })
        pending.value = self
    }

    /// `rampart run`'s alert flags as given.
    public struct Flags: Sendable {
        /// `--peers URL,...`.
        public var peers: String?
        /// `--peers-ca FILE`.
        public var peersCA: String?
        /// `--cgroup-root DIR`.
        public var cgroupRoot: String?

        public init(peers: String? = nil, peersCA: String? = nil, cgroupRoot: String? = nil) {
            self.peers = peers
            self.peersCA = peersCA
            self.cgroupRoot = cgroupRoot
        }
    }

    /// From the flags, the admin listener and its certificate; refuses a bad `--peers` or an unreadable `--peers-ca`.
    public convenience init(flags: Flags, admin: String, adminTLS: AdminTLSConfig?, isLeader: @escaping @Sendable () -> Bool,
                            heartbeats: @escaping @Sendable () -> [HeartbeatFact] = { [] },
                            reconciler: Reconciler, gateway: Gateway, metrics: ControlMetrics, secrets: SecretsBridge?, log: Log) throws {
        let urls = try PeerProbe.parse(flags.peers ?? "")
        if let ca = flags.peersCA, !FileManager.default.isReadableFile(atPath: ca) { throw PeerProbe.Invalid(description: "--peers-ca: cannot read \(ca)") }
        let root = flags.cgroupRoot ?? "/sys/fs/cgroup"
        self.init(options: Options(peers: urls, peersCA: flags.peersCA, cgroupRoot: root, adminURL: (adminTLS == nil ? "http://" : "https://") + admin,
                                   adminCertificateNotAfter: adminTLS?.chain.first?.notAfter, isLeader: isLeader,
                                   heartbeats: heartbeats),
                  reconciler: reconciler, gateway: gateway, metrics: metrics, secrets: secrets, log: log)
        log.info("alerts: engine ready", ["peers": urls.joined(separator: ","), "cgroupRoot": root])
    }

    public func start() {
        probe?.start()
        engine.start()
    }

    public func stop() {
        engine.stop()
        probe?.stop()
    }

    /// Gives the engine the serving state's rules when it changed (on the engine thread, before each round).
    func sync() {
        let state = reconciler.view.serving
        guard appliedHash.withLock({ $0 }) != state.hash else { return }
        appliedHash.withLock { $0 = state.hash }
        let built = Self.configs(state, values: values)
        for problem in built.problems { log.warn("alerts: \(problem)") }
        facts.unservedCertificates.withLock { $0 = Self.unservedCertificates(state, values: values) }
        engine.update(rules: built.rules, contactPoints: built.contactPoints)
    }

    /// The AlertRules and ContactPoints of a state; a contact point whose values do not resolve is left out, with why.
    public static func configs(_ state: DesiredState, values: SensitiveValues) -> (rules: [AlertRuleConfig], contactPoints: [ContactPointConfig], problems: [String]) {
        let resolve = values.resolver(for: state)
        var rules: [AlertRuleConfig] = [], cps: [ContactPointConfig] = [], problems: [String] = []
        for r in state.sorted {
            do {
                if let spec = r.alertRule {
                    rules.append(try AlertRuleConfig(namespace: r.key.namespace, name: r.key.name, spec: spec))
                } else if let spec = r.contactPoint {
                    let headers = try spec.headers.keys.sorted().map { name in
                        (name: name, value: String(decoding: try resolve(spec.headers[name] ?? Sensitive(.inline("")), r.key, "spec.headers.\(name)"), as: UTF8.self))
                    }
                    let secret = try spec.hmacSecret.map { try resolve($0, r.key, "spec.hmacSecret") }
                    cps.append(try ContactPointConfig(id: "\(r.key.namespace)/\(r.key.name)", kind: spec.type, url: spec.url, headers: headers,
                                                      hmacSecret: secret, timeoutMs: spec.timeoutMs))
                }
            } catch {
                // The errors name the resource and field, never a value.
                problems.append("\(error)")
            }
        }
        return (rules, cps, problems)
    }

    /// Certificates of SSL resources the gateway does not serve by SNI, with when they expire: client certificates
    /// presented to upstreams (`SSL NS/NAME`), CA-only SSLs that verify upstreams (`SSL NS/NAME (CA bundle)`) and the
    /// CAs a server SSL verifies client certificates with (`SSL NS/NAME (clientAuth.ca)`). Each CA of a bundle is
    /// its own fact (`... #2: SUBJECT`): one expiring CA breaks the clients or upstreams it signed.
    static func unservedCertificates(_ state: DesiredState, values: SensitiveValues) -> [CertificateFact] {
        let resolve = values.resolver(for: state)
        func chain(_ value: Sensitive, _ key: ResourceKey, _ field: String) -> [Certificate] {
            guard let pem = try? resolve(value, key, field) else { return [] }
            return (try? Certificate.parseChain(pem: String(decoding: pem, as: UTF8.self))) ?? []
        }
        func bundle(_ certs: [Certificate], _ name: String, _ what: String) -> [CertificateFact] {
            certs.enumerated().map { i, c in
                CertificateFact(sni: nil, certificate: certs.count == 1 ? "\(name) (\(what))" : "\(name) (\(what) #\(i + 1): \(c.subject))",
                                notAfter: c.notAfter.timeIntervalSince1970)
            }
        }
        return state.sorted.flatMap { r -> [CertificateFact] in
            guard let ssl = r.ssl else { return [] }
            let name = "SSL \(r.key.namespace)/\(r.key.name)"
            var out: [CertificateFact] = []
            if ssl.type == "client" {
                let certs = chain(ssl.certificate, r.key, "spec.certificate")
                if ssl.privateKey != nil {
                    if let leaf = certs.first { out.append(CertificateFact(sni: nil, certificate: name, notAfter: leaf.notAfter.timeIntervalSince1970)) }
                } else {
                    out += bundle(certs, name, "CA bundle")
                }
            }
            if let ca = ssl.clientAuth {
                out += bundle(chain(ca.ca, r.key, "spec.clientAuth.ca"), name, "clientAuth.ca")
            }
            return out
        }
    }

    /// `rampart alerts test`: a test notification for the rule `name` (`NAME` or `NAMESPACE/NAME`) of `state`.
    public static func sendTest(rule name: String, state: DesiredState, values: SensitiveValues) -> Result<[(id: String, error: String?)], AlertRuleConfig.Invalid> {
        let built = configs(state, values: values)
        let matches = built.rules.filter { $0.id == name || $0.name == name }
        guard matches.count == 1, let rule = matches.first else {
            return .failure(.init(description: matches.isEmpty ? "no AlertRule \(name) in the manifests" : "AlertRule \(name) is ambiguous; give NAMESPACE/NAME"))
        }
        let byID = Dictionary(built.contactPoints.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var targets: [ContactPointConfig] = []
        var results: [(id: String, error: String?)] = []
        for id in rule.contactPoints {
            if let cp = byID[id] { targets.append(cp) } else {
                results.append((id, built.problems.first { $0.contains(id) } ?? "no such ContactPoint"))
            }
        }
        let engine = AlertEngine(facts: NoAlertFacts(), hmac: { HMAC.sha256(key: $0, message: $1) }, log: { _, _ in })
        return .success(results + engine.sendTest(rule, contactPoints: targets))
    }

    // MARK: Admin API views (never a secret: facts are figures and names).

    /// `GET /api/v1/alerts[?rule=NAMESPACE/NAME]`: active instances (of one rule).
    public func alertsJSON(query: String = "") -> String {
        let rule = query.split(separator: "&").first { $0.hasPrefix("rule=") }.map { String($0.dropFirst(5)).removingPercentEncoding ?? "" }
        return "{\"alerts\":[" + engine.instances().filter { rule == nil || $0.rule == rule }.map { i in
            var o = "{\"rule\":\(JSONWriter.quote(i.rule)),\"state\":\"\(i.state.rawValue)\",\"severity\":\(JSONWriter.quote(i.severity))"
            o += ",\"subject\":\(Self.map(i.subject)),\"value\":\(JSONWriter.quote(i.value)),\"facts\":\(Self.map(i.facts))"
            o += ",\"since\":\"\(Log.timestamp(Date(timeIntervalSince1970: i.activeAt)))\""
            if let f = i.firedAt { o += ",\"firingSince\":\"\(Log.timestamp(Date(timeIntervalSince1970: f)))\"" }
            if let n = i.lastNotified { o += ",\"lastNotified\":\"\(Log.timestamp(Date(timeIntervalSince1970: n)))\"" }
            return o + ",\"fingerprint\":\"\(i.fingerprint)\"}"
        }.joined(separator: ",") + "]}"
    }

    /// The alerts section of `/api/v1/status`: every rule with its state (the worst of its instances).
    public func statusJSON() -> String {
        "[" + engine.rules().map { r in
            let state = (r.counts[.firing] ?? 0) > 0 ? "firing" : (r.counts[.pending] ?? 0) > 0 ? "pending" : "inactive"
            var o = "{\"rule\":\(JSONWriter.quote(r.rule)),\"type\":\"\(r.type)\",\"severity\":\(JSONWriter.quote(r.severity)),\"state\":\"\(state)\""
            o += ",\"pending\":\(r.counts[.pending] ?? 0),\"firing\":\(r.counts[.firing] ?? 0)"
            if let t = r.lastEvaluation { o += ",\"lastEvaluation\":\"\(Log.timestamp(Date(timeIntervalSince1970: t)))\"" }
            return o + "}"
        }.joined(separator: ",") + "]"
    }

    public func metricsText() -> String { engine.metricsText() }

    static func map(_ m: [String: String]) -> String {
        "{" + m.keys.sorted().map { "\(JSONWriter.quote($0)):\(JSONWriter.quote(m[$0] ?? ""))" }.joined(separator: ",") + "}"
    }
}

/// The facts `rampart run` publishes, read from the gateway, the reconciler, the secrets and the probes.
final class RuntimeFacts: AlertFacts {
    let gateway: Gateway
    let reconciler: Reconciler
    let metrics: ControlMetrics
    let secretsBridge: SecretsBridge?
    let probe: PeerProbe?
    let leases: @Sendable () -> [HeartbeatFact]
    let cgroupReader: CgroupReader
    let adminNotAfter: Date?
    let unservedCertificates = Mutex<[CertificateFact]>([])

    init(gateway: Gateway, reconciler: Reconciler, metrics: ControlMetrics, secrets: SecretsBridge?, probe: PeerProbe?,
         leases: @escaping @Sendable () -> [HeartbeatFact], cgroup: CgroupReader, adminNotAfter: Date?) {
        self.leases = leases
        self.gateway = gateway
        self.reconciler = reconciler
        self.metrics = metrics
        self.secretsBridge = secrets
        self.probe = probe
        self.cgroupReader = cgroup
        self.adminNotAfter = adminNotAfter
    }

    func certificates() -> [CertificateFact] {
        var out = gateway.alertFacts().certificates.map { CertificateFact(sni: $0.sni, certificate: "SNI \($0.sni)", notAfter: $0.notAfter) }
        out += unservedCertificates.withLock { $0 }
        if let a = adminNotAfter { out.append(CertificateFact(sni: nil, certificate: "admin", notAfter: a.timeIntervalSince1970)) }
        return out
    }

    func upstreamNodes() -> [UpstreamNodeFact] {
        gateway.nodeHealth().sorted { $0.key < $1.key }.flatMap { upstream, nodes in
            nodes.sorted { $0.key < $1.key }.map { UpstreamNodeFact(upstream: upstream, node: $0.key, healthy: $0.value) }
        }
    }

    func routeTraffic() -> [RouteTrafficSample] { gateway.alertFacts().routes }

    func reload() -> ReloadFact {
        ReloadFact(errors: reconciler.view.errors.map(\.description), failedReloads: metrics.failedReloads)
    }

    func secrets() -> [SecretFact] {
        (secretsBridge?.resolver.statuses() ?? []).map {
            SecretFact(ref: $0.ref, provider: $0.provider, error: $0.error, consecutiveFailures: $0.consecutiveFailures)
        }
    }

    func heartbeats() -> [HeartbeatFact] { (probe?.heartbeats() ?? []) + leases() }

    func cgroup() -> CgroupSample { cgroupReader.sample() }
}
