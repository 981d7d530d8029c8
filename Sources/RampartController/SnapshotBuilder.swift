import RampartGateway
import RampartModel

/// Compiles a desired state into the data plane's immutable `GatewaySnapshot`.
///
/// A Route that needs a plugin this build cannot enforce yet (auth, rate limits) is not served
/// at all: failing closed beats serving an unauthenticated route.
public enum SnapshotBuilder {
    /// Turns a sensitive value into its plaintext, in memory only: (value, owning resource, field path).
    /// `inlineOnly` handles `{value: ...}`; the secrets module supplies one that also reads SecretRefs and `$enc:` values.
    public typealias Resolve = @Sendable (Sensitive, ResourceKey, String) throws -> [UInt8]

    public struct Unresolved: Error, CustomStringConvertible {
        public var description: String
    }

    public static let inlineOnly: Resolve = { value, key, path in
        switch value.source {
        case .inline(let s): return Array(s.utf8)
        case .secretRef(let ref, _): throw Unresolved(description: "\(key) \(path): SecretRef \(ref) is not resolved by this build")
        case .encrypted: throw Unresolved(description: "\(key) \(path): encrypted values need the Keyring")
        }
    }

    public struct Output: Sendable {
        public var snapshot: GatewaySnapshot
        /// Resources left out, with the reason.
        public var notServed: [ResourceKey: String]
    }

    public static func build(_ state: DesiredState, resolve: Resolve = inlineOnly) -> Output {
        var upstreams: [String: UpstreamConfig] = [:]
        var notServed: [ResourceKey: String] = [:]
        for r in state.sorted {
            guard let u = r.upstream else { continue }
            if u.nodes.isEmpty {
                notServed[r.key] = "no nodes (service discovery needs the kubernetes source)"
                continue
            }
            if u.scheme == "https" {
                notServed[r.key] = "scheme https is not supported by this build yet"
                continue
            }
            upstreams[id(r.key)] = upstream(u, id: id(r.key))
        }
        var routes: [RouteConfig] = []
        for r in state.sorted {
            guard let spec = r.route else { continue }
            var unsupported: [String] = []
            if spec.plugins.keyAuth != nil { unsupported.append("key-auth") }
            if spec.plugins.basicAuth != nil { unsupported.append("basic-auth") }
            if spec.plugins.limitCount != nil { unsupported.append("limit-count") }
            if !unsupported.isEmpty {
                notServed[r.key] = "plugin \(unsupported.joined(separator: ", ")) is not enforced by this build yet; not serving the route rather than serving it open"
                continue
            }
            let upstreamID: String
            if let ref = spec.upstreamRef {
                upstreamID = "\(ref.namespace)/\(ref.name)"
                guard upstreams[upstreamID] != nil else {
                    notServed[r.key] = "Upstream \(upstreamID) is not served"
                    continue
                }
            } else if let inline = spec.upstream, !inline.nodes.isEmpty, inline.scheme == "http" {
                upstreamID = "route:" + id(r.key)
                upstreams[upstreamID] = upstream(inline, id: upstreamID)
            } else {
                notServed[r.key] = "its inline upstream cannot be served"
                continue
            }
            routes.append(RouteConfig(
                id: id(r.key), hosts: spec.hosts, paths: spec.paths, methods: spec.methods,
                headers: spec.headers.items.map { HeaderPair(name: $0.name, value: $0.value) }, priority: spec.priority,
                upstream: upstreamID, timeout: spec.timeout.map(timeouts), websocket: spec.websocket, plugins: plugins(spec.plugins)))
        }
        return Output(snapshot: GatewaySnapshot(generation: state.generation, routes: routes, upstreams: upstreams), notServed: notServed)
    }

    static func id(_ k: ResourceKey) -> String { "\(k.namespace)/\(k.name)" }

    static func timeouts(_ t: RampartModel.Timeouts) -> RampartGateway.Timeouts {
        RampartGateway.Timeouts(connectMs: t.connectMs, sendMs: t.sendMs, readMs: t.readMs)
    }

    static func upstream(_ u: UpstreamSpec, id: String) -> UpstreamConfig {
        let lb: LoadBalancerType
        switch u.balancer {
        case .roundrobin: lb = .roundrobin
        case .leastConn: lb = .leastConn
        case .ewma: lb = .ewma
        case .chash:
            let on = u.hashOn ?? "remote_addr"
            if on.hasPrefix("header:") { lb = .chash(hashOn: .header(String(on.dropFirst(7)))) }
            else if on.hasPrefix("cookie:") { lb = .chash(hashOn: .cookie(String(on.dropFirst(7)))) }
            else if on == "uri" { lb = .chash(hashOn: .uri) }
            else { lb = .chash(hashOn: .remoteAddr) }
        }
        var hc: HealthCheckConfig?
        if u.active != nil || u.passive != nil {
            hc = HealthCheckConfig(
                active: u.active.map { ActiveHealthCheck(path: $0.path, intervalMs: $0.intervalMs, timeoutMs: $0.timeoutMs,
                                                         healthyAfter: $0.healthyAfter, unhealthyAfter: $0.unhealthyAfter, expectStatus: $0.expectStatus) },
                passive: u.passive.map { PassiveHealthCheck(unhealthyAfter: $0.unhealthyAfter, statuses: $0.statuses,
                                                            onConnectFailure: $0.onConnectFailure, onTimeout: $0.onTimeout) })
        }
        return UpstreamConfig(id: id, nodes: u.nodes.map { UpstreamNode(host: $0.host, port: $0.port, weight: $0.weight) },
                              loadBalancer: lb, scheme: u.scheme, healthCheck: hc, retries: u.retries,
                              keepalive: KeepaliveConfig(maxIdle: u.keepaliveMaxIdle, idleTimeoutMs: u.keepaliveIdleTimeoutMs),
                              timeout: timeouts(u.timeout))
    }

    static func plugins(_ p: Plugins) -> [PluginConfig] {
        var out: [PluginConfig] = []
        if let r = p.ipRestriction { out.append(.ipRestriction(allow: r.allow.map(\.description), deny: r.deny.map(\.description))) }
        if let rw = p.proxyRewrite {
            out.append(.proxyRewrite(uri: rw.uri, regexUri: rw.regexUri.map { RegexRewrite(pattern: $0.pattern, replacement: $0.replacement) },
                                     host: rw.host, setHeaders: pairs(rw.headers?.set), addHeaders: pairs(rw.headers?.add),
                                     removeHeaders: rw.headers?.remove ?? []))
        }
        if let h = p.responseHeaders { out.append(.responseHeaders(set: pairs(h.set), add: pairs(h.add), remove: h.remove)) }
        if let c = p.cors {
            out.append(.cors(CORSConfig(allowOrigins: c.allowOrigins.isEmpty ? ["*"] : c.allowOrigins, allowMethods: c.allowMethods,
                                        allowHeaders: c.allowHeaders, exposeHeaders: c.exposeHeaders, maxAgeSeconds: c.maxAgeMs / 1000,
                                        allowCredentials: c.allowCredentials)))
        }
        return out
    }

    static func pairs(_ l: HeaderList?) -> [HeaderPair] { (l?.items ?? []).map { HeaderPair(name: $0.name, value: $0.value) } }
}
