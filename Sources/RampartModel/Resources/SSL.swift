import RampartYAML

/// A certificate and key for downstream termination or for presenting to upstreams (API.md 1.3).
public struct SSLSpec: Sendable, Hashable {
    public struct ClientAuth: Sendable, Hashable {
        public var ca: Sensitive
        public var mode: String
        public var depth: Int
    }

    public var type: String
    public var snis: [String]
    public var certificate: Sensitive
    /// Absent on a CA-only SSL (used as an upstream's `caRef`).
    public var privateKey: Sensitive?
    public var clientAuth: ClientAuth?
    public var minVersion: String

    static func decode(_ n: Node, namespace ns: String) -> SSLSpec {
        let placeholder = Sensitive(.inline(""))
        return SSLSpec(
            type: n.str("type") ?? SchemaDefaults.sslType, snis: n.strings("snis"),
            certificate: Sensitive.decode(n["certificate"], namespace: ns) ?? placeholder,
            privateKey: Sensitive.decode(n["privateKey"], namespace: ns),
            clientAuth: n["clientAuth"].flatMap { c in
                Sensitive.decode(c["ca"], namespace: ns).map { ClientAuth(ca: $0, mode: c.str("mode") ?? SchemaDefaults.clientAuthMode,
                                                                                  depth: c.int("depth") ?? SchemaDefaults.clientAuthDepth) }
            },
            minVersion: n.str("minVersion") ?? SchemaDefaults.minTLSVersion)
    }
}

/// The group's encryption keys; the first encrypts, all decrypt (API.md 1.4).
public struct KeyringSpec: Sendable, Hashable {
    public struct Key: Sendable, Hashable {
        public var id: String
        public var material: Sensitive
    }

    public var keys: [Key]

    static func decode(_ n: Node, namespace ns: String) -> KeyringSpec {
        KeyringSpec(keys: (n["keys"]?.sequence ?? []).compactMap { k in
            Sensitive.decode(k["material"], namespace: ns).map { Key(id: k.str("id") ?? "", material: $0) }
        })
    }
}

/// Where a secret comes from (API.md 1.5). Provider blocks are kept as nodes until the secrets module reads them.
public struct SecretRefSpec: Sendable {
    public var provider: String
    public var refreshIntervalMs: Int
    /// The provider's own block (`spec.vault`, `spec.aws`, ...).
    public var config: Node?

    static func decode(_ n: Node) -> SecretRefSpec {
        let provider = n.str("provider") ?? ""
        return SecretRefSpec(provider: provider, refreshIntervalMs: n.ms("refreshInterval") ?? SchemaDefaults.refreshIntervalMs, config: n[provider])
    }
}

/// The alert condition types of API.md 1.6.
public enum AlertConditionType: String, Sendable, CaseIterable {
    case certificateExpiry, upstreamUnhealthy, instanceOffline, errorRate, latency, cpuQuota, memoryQuota, reloadFailed, secretResolutionFailed
}

/// What an errorRate or latency rule is about: each selected route on its own (one alert per route), or
/// all of them together (one alert, over their summed counters and merged histogram).
public enum AlertScope: String, Sendable, CaseIterable {
    case route, overall

    /// The condition types that have a scope; the others refuse `overall`.
    public static let types: Set<AlertConditionType> = [.errorRate, .latency]
}

/// When to alert and whom to tell (API.md 1.6).
public struct AlertRuleSpec: Sendable, Hashable {
    public var type: AlertConditionType
    /// The threshold as written; its unit depends on `type`.
    public var threshold: String?
    public var windowMs: Int
    public var scope: AlertScope
    public var selectorRoutes: [String]
    public var selectorUpstreams: [String]
    public var selectorSNIs: [String]
    public var severity: String
    public var intervalMs: Int
    public var forMs: Int
    public var repeatIntervalMs: Int
    public var labels: [String: String]
    public var message: String?
    public var contactPoints: [Reference]

    static func decode(_ n: Node, namespace ns: String) -> AlertRuleSpec {
        let c = n["condition"]
        return AlertRuleSpec(
            type: AlertConditionType(rawValue: c?.str("type") ?? "") ?? .reloadFailed, threshold: c?["threshold"]?.scalar?.text,
            windowMs: c?.ms("window") ?? SchemaDefaults.alertWindowMs,
            scope: AlertScope(rawValue: c?.str("scope") ?? SchemaDefaults.alertScope) ?? .route, selectorRoutes: c?["selector"]?.strings("routes") ?? [],
            selectorUpstreams: c?["selector"]?.strings("upstreams") ?? [], selectorSNIs: c?["selector"]?.strings("snis") ?? [],
            severity: n.str("severity") ?? SchemaDefaults.alertSeverity, intervalMs: n.ms("interval") ?? SchemaDefaults.alertIntervalMs,
            forMs: n.ms("for") ?? SchemaDefaults.alertForMs,
            repeatIntervalMs: n.ms("repeatInterval") ?? SchemaDefaults.alertRepeatIntervalMs,
            labels: Dictionary(n.stringMap("labels"), uniquingKeysWith: { a, _ in a }), message: n.str("message"),
            contactPoints: (n["contactPoints"]?.sequence ?? []).compactMap { Reference.decode($0, namespace: ns) })
    }
}

/// Where alerts are delivered (API.md 1.7).
public struct ContactPointSpec: Sendable, Hashable {
    public var type: String
    public var url: String
    public var headers: [String: Sensitive]
    public var hmacSecret: Sensitive?
    public var timeoutMs: Int

    static func decode(_ n: Node, namespace ns: String) -> ContactPointSpec {
        var headers: [String: Sensitive] = [:]
        for p in n["headers"]?.mapping ?? [] {
            if let k = p.key.scalar?.text, let v = Sensitive.decode(p.value, namespace: ns) { headers[k] = v }
        }
        return ContactPointSpec(type: n.str("type") ?? "webhook", url: n.str("url") ?? "", headers: headers,
                                hmacSecret: Sensitive.decode(n["hmacSecret"], namespace: ns), timeoutMs: n.ms("timeout") ?? SchemaDefaults.contactPointTimeoutMs)
    }
}
