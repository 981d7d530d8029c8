import RampartYAML

/// Upstream timeouts in milliseconds.
public struct Timeouts: Sendable, Hashable {
    public var connectMs: Int
    public var sendMs: Int
    public var readMs: Int

    public init(connectMs: Int = SchemaDefaults.connectTimeoutMs, sendMs: Int = SchemaDefaults.sendTimeoutMs,
                readMs: Int = SchemaDefaults.readTimeoutMs) {
        self.connectMs = connectMs
        self.sendMs = sendMs
        self.readMs = readMs
    }

    static func decode(_ n: Node?) -> Timeouts? {
        guard let n else { return nil }
        return Timeouts(connectMs: n.ms("connect") ?? SchemaDefaults.connectTimeoutMs, sendMs: n.ms("send") ?? SchemaDefaults.sendTimeoutMs,
                        readMs: n.ms("read") ?? SchemaDefaults.readTimeoutMs)
    }
}

/// A pool of backend nodes and how to reach them (API.md 1.2).
public struct UpstreamSpec: Sendable, Hashable {
    public struct Node: Sendable, Hashable {
        public var host: String
        public var port: Int
        public var weight: Int
    }

    public enum Balancer: String, Sendable, Hashable { case roundrobin, leastConn = "least_conn", chash, ewma }

    public struct TLS: Sendable, Hashable {
        public var sni: String?
        public var verify: Bool
        public var caRef: Reference?
        public var clientCertRef: Reference?
    }

    public struct ActiveCheck: Sendable, Hashable {
        public var path: String
        public var intervalMs: Int
        public var timeoutMs: Int
        public var healthyAfter: Int
        public var unhealthyAfter: Int
        public var expectStatus: [Int]
    }

    public struct PassiveCheck: Sendable, Hashable {
        public var unhealthyAfter: Int
        public var statuses: [Int]
        public var onConnectFailure: Bool
        public var onTimeout: Bool
    }

    public var nodes: [Node]
    public var serviceName: String?
    public var servicePort: Int
    public var balancer: Balancer
    public var hashOn: String?
    public var scheme: String
    public var tls: TLS?
    public var active: ActiveCheck?
    public var passive: PassiveCheck?
    public var retries: Int
    public var keepaliveMaxIdle: Int
    public var keepaliveIdleTimeoutMs: Int
    public var timeout: Timeouts

    static func decode(_ n: RampartYAML.Node, namespace: String) -> UpstreamSpec {
        let nodes = (n["nodes"]?.sequence ?? []).map {
            Node(host: $0.str("host") ?? "", port: $0.int("port") ?? 0, weight: $0.int("weight") ?? SchemaDefaults.nodeWeight)
        }
        let lb = n["loadBalancer"]
        let tls = n["tls"].map {
            TLS(sni: $0.str("sni"), verify: $0.bool("verify") ?? SchemaDefaults.tlsVerify,
                caRef: Reference.decode($0["caRef"], namespace: namespace),
                clientCertRef: Reference.decode($0["clientCertRef"], namespace: namespace))
        }
        let hc = n["healthCheck"]
        let active = hc?["active"].map {
            ActiveCheck(path: $0.str("path") ?? SchemaDefaults.activePath, intervalMs: $0.ms("interval") ?? SchemaDefaults.activeIntervalMs,
                        timeoutMs: $0.ms("timeout") ?? SchemaDefaults.activeTimeoutMs, healthyAfter: $0.int("healthyAfter") ?? SchemaDefaults.activeHealthyAfter,
                        unhealthyAfter: $0.int("unhealthyAfter") ?? SchemaDefaults.activeUnhealthyAfter,
                        expectStatus: $0["expectStatus"]?.sequence?.compactMap { n -> Int? in
                            if case .int(let v) = n.resolved { return Int(v) }
                            return nil
                        } ?? SchemaDefaults.activeExpectStatus)
        }
        let passive = hc?["passive"].map { p -> PassiveCheck in
            let on = p["on"]?.sequence.map { $0.map { $0.scalar?.text ?? "" } } ?? SchemaDefaults.passiveOn
            return PassiveCheck(unhealthyAfter: p.int("unhealthyAfter") ?? SchemaDefaults.passiveUnhealthyAfter, statuses: on.compactMap { Int($0) },
                                onConnectFailure: on.contains("connect-failure"), onTimeout: on.contains("timeout"))
        }
        let ka = n["keepalive"]
        return UpstreamSpec(
            nodes: nodes, serviceName: n["service"]?.str("name"), servicePort: n["service"]?.int("port") ?? 0,
            balancer: Balancer(rawValue: lb?.str("type") ?? SchemaDefaults.loadBalancer) ?? .roundrobin, hashOn: lb?.str("hashOn"),
            scheme: n.str("scheme") ?? SchemaDefaults.scheme, tls: tls, active: active, passive: passive,
            retries: n.int("retries") ?? SchemaDefaults.retries, keepaliveMaxIdle: ka?.int("maxIdle") ?? SchemaDefaults.keepaliveMaxIdle,
            keepaliveIdleTimeoutMs: ka?.ms("idleTimeout") ?? SchemaDefaults.keepaliveIdleTimeoutMs, timeout: Timeouts.decode(n["timeout"]) ?? Timeouts())
    }
}
