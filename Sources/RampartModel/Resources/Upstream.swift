import RampartYAML

/// Upstream timeouts in milliseconds.
public struct Timeouts: Sendable, Hashable {
    public var connectMs: Int
    public var sendMs: Int
    public var readMs: Int

    public init(connectMs: Int = 5000, sendMs: Int = 60_000, readMs: Int = 60_000) {
        self.connectMs = connectMs
        self.sendMs = sendMs
        self.readMs = readMs
    }

    static func decode(_ n: Node?) -> Timeouts? {
        guard let n else { return nil }
        return Timeouts(connectMs: n.ms("connect") ?? 5000, sendMs: n.ms("send") ?? 60_000, readMs: n.ms("read") ?? 60_000)
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
            Node(host: $0.str("host") ?? "", port: $0.int("port") ?? 0, weight: $0.int("weight") ?? 1)
        }
        let lb = n["loadBalancer"]
        let tls = n["tls"].map {
            TLS(sni: $0.str("sni"), verify: $0.bool("verify") ?? true,
                caRef: Reference.decode($0["caRef"], namespace: namespace),
                clientCertRef: Reference.decode($0["clientCertRef"], namespace: namespace))
        }
        let hc = n["healthCheck"]
        let active = hc?["active"].map {
            ActiveCheck(path: $0.str("path") ?? "/healthz", intervalMs: $0.ms("interval") ?? 5000, timeoutMs: $0.ms("timeout") ?? 1000,
                        healthyAfter: $0.int("healthyAfter") ?? 2, unhealthyAfter: $0.int("unhealthyAfter") ?? 3,
                        expectStatus: $0["expectStatus"]?.sequence?.compactMap { n -> Int? in
                            if case .int(let v) = n.resolved { return Int(v) }
                            return nil
                        } ?? [200])
        }
        let passive = hc?["passive"].map { p -> PassiveCheck in
            let on = p["on"]?.sequence.map { $0.map { $0.scalar?.text ?? "" } } ?? ["502", "503", "504", "connect-failure", "timeout"]
            return PassiveCheck(unhealthyAfter: p.int("unhealthyAfter") ?? 3, statuses: on.compactMap { Int($0) },
                                onConnectFailure: on.contains("connect-failure"), onTimeout: on.contains("timeout"))
        }
        let ka = n["keepalive"]
        return UpstreamSpec(
            nodes: nodes, serviceName: n["service"]?.str("name"), servicePort: n["service"]?.int("port") ?? 0,
            balancer: Balancer(rawValue: lb?.str("type") ?? "roundrobin") ?? .roundrobin, hashOn: lb?.str("hashOn"),
            scheme: n.str("scheme") ?? "http", tls: tls, active: active, passive: passive,
            retries: n.int("retries") ?? 1, keepaliveMaxIdle: ka?.int("maxIdle") ?? 64,
            keepaliveIdleTimeoutMs: ka?.ms("idleTimeout") ?? 60_000, timeout: Timeouts.decode(n["timeout"]) ?? Timeouts())
    }
}
