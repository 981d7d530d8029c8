import Foundation
import RampartCrypto
import RampartGateway
import RampartModel
import Synchronization

/// Compiles a desired state into the data plane's immutable `GatewaySnapshot`.
///
/// Sensitive plugin values (key-auth keys, basic-auth passwords, the limit-count redis password) are
/// resolved here, in memory only; keys reach the gateway as SHA-256 digests and passwords as PBKDF2
/// hashes. A Route whose plugin cannot be enforced (a value that does not resolve, redis over TLS) is
/// not served, with the reason in `notServed`: it keeps its place in the router and answers 503.
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
        case .digest: throw Unresolved(description: "\(key) \(path): the value was not stored; served once the source provides it again")
        }
    }

    public struct Output: Sendable {
        public var snapshot: GatewaySnapshot
        /// Resources not served, with the full reason (Routes among them stay in the snapshot as 503 routes).
        public var notServed: [ResourceKey: String]
        /// Served, but worth an operator's attention (a certificate expiring within 30 days).
        public var warnings: [ResourceKey: String] = [:]
    }

    /// The routes one build made that depend on nothing but their resource and their Upstream being
    /// served (no access plugins, whose values may rotate; no inline upstream): the next build reuses
    /// them for the same resource objects. Kept by whoever builds successive snapshots.
    public final class RouteMemo: Sendable {
        final class Made: Sendable {
            let resource: Resource
            let upstream: String
            let config: RouteConfig

            init(resource: Resource, upstream: String, config: RouteConfig) {
                self.resource = resource
                self.upstream = upstream
                self.config = config
            }
        }

        let made = Mutex<[ObjectIdentifier: Made]>([:])

        public init() {}
    }

    public static func build(_ state: DesiredState, resolve: Resolve = inlineOnly, now: Date = Date(), memo: RouteMemo? = nil) -> Output {
        var upstreams: [String: UpstreamConfig] = [:]
        var notServed: [ResourceKey: String] = [:]
        var warnings: [ResourceKey: String] = [:]
        var ssls: [String: SSLMaterial] = [:]
        var certificates: [ServerCertificate] = []
        var withheld: [WithheldClientAuth] = []
        // The kind first: reading a spec out of the enum copies it, and most resources are Routes.
        for r in state.sorted where r.kind == .ssl {
            guard let spec = r.ssl else { continue }
            let served = certificates.count
            do {
                let m = try sslMaterial(r, spec, resolve: resolve, now: now)
                ssls[id(r.key)] = m
                if let w = m.warning { warnings[r.key] = w }
                if spec.type == "server", let key = m.key {
                    certificates.append(ServerCertificate(
                        name: id(r.key), snis: spec.snis, chain: m.chain, key: key, clientAuth: m.clientAuth,
                        minVersion: spec.minVersion == "TLSv1.3" ? .tls13 : .tls12,
                        isDefault: r.metadata.labels[defaultCertLabel] == "true"))
                }
            } catch {
                notServed[r.key] = "\(error)"
            }
            // Not served, but its names must not be served without a client certificate either.
            if certificates.count == served, spec.type == "server", let ca = spec.clientAuth, requiresClientCertificate(ca) {
                withheld.append(WithheldClientAuth(name: id(r.key), snis: spec.snis))
            }
        }
        for r in state.sorted where r.kind == .upstream {
            guard let u = r.upstream else { continue }
            if u.nodes.isEmpty {
                notServed[r.key] = "no nodes (service discovery needs the kubernetes source)"
                continue
            }
            do {
                upstreams[id(r.key)] = upstream(u, id: id(r.key), tls: try upstreamTLS(u, ssls))
            } catch {
                notServed[r.key] = "\(error)"
            }
        }
        var routes: [RouteConfig] = []
        routes.reserveCapacity(state.sorted.count + state.heldClosed.count)
        var made = memo?.made.withLock { $0 } ?? [:]
        memo?.made.withLock { $0 = [:] }  // one owner of the table while it is updated, so no copy
        var seen = 0
        defer {
            // Entries of resources gone since are dropped once they outnumber the live ones.
            if made.count > 2 * seen + 64 { made = made.filter { state.resources[$0.value.resource.key] === $0.value.resource } }
            if let memo { memo.made.withLock { [made] in $0 = made } }
        }
        // Most Routes name the Upstream the Route before them named: compared, not hashed again.
        var lastServed: String?
        func served(_ upstream: String) -> Bool {
            if upstream == lastServed { return true }
            guard upstreams[upstream] != nil else { return false }
            lastServed = upstream
            return true
        }
        for r in state.sorted where r.kind == .route {
            if memo != nil {
                seen += 1
                if let m = made[ObjectIdentifier(r)], m.resource === r, served(m.upstream) {
                    routes.append(m.config)
                    continue
                }
            }
            guard let spec = r.route else { continue }
            let headers = spec.headers.items.map { HeaderPair(name: $0.name, value: $0.value) }
            // Fail closed: a Route that cannot be enforced keeps its match keys and answers 503, so its
            // traffic never falls through to a less specific Route (an open "/*").
            func keepNotServed(_ reason: NotServedReason, _ message: String) {
                notServed[r.key] = message
                routes.append(notServedRoute(r.key, spec, reason))
            }
            let access: [PluginConfig]
            do {
                access = try accessPlugins(spec.plugins, key: r.key, resolve: resolve)
            } catch let e as PluginError {
                keepNotServed(e.reason, "\(e); not serving the route rather than serving it open")
                continue
            } catch {
                keepNotServed(.pluginInvalid, "\(error); not serving the route rather than serving it open")
                continue
            }
            let upstreamID: String
            if let ref = spec.upstreamRef {
                upstreamID = "\(ref.namespace)/\(ref.name)"
                guard upstreams[upstreamID] != nil else {
                    keepNotServed(.upstreamNotServed, "Upstream \(upstreamID) is not served")
                    continue
                }
            } else if let inline = spec.upstream, !inline.nodes.isEmpty, let tls = Result(catching: { try upstreamTLS(inline, ssls) }).ok {
                upstreamID = "route:" + id(r.key)
                upstreams[upstreamID] = upstream(inline, id: upstreamID, tls: tls)
            } else {
                keepNotServed(.upstreamNotServed, "its inline upstream cannot be served")
                continue
            }
            let config = RouteConfig(
                id: id(r.key), hosts: spec.hosts, paths: spec.paths, methods: spec.methods,
                headers: headers, priority: spec.priority,
                upstream: upstreamID, timeout: spec.timeout.map(timeouts), websocket: spec.websocket,
                plugins: access + plugins(spec.plugins))
            if memo != nil, access.isEmpty, spec.upstreamRef != nil { made[ObjectIdentifier(r)] = RouteMemo.Made(resource: r, upstream: upstreamID, config: config) }
            routes.append(config)
        }
        for (key, spec) in state.heldClosed.sorted(by: { $0.key < $1.key }) where state.resources[key] == nil {
            routes.append(notServedRoute(key, spec, .invalid))
        }
        return Output(snapshot: GatewaySnapshot(generation: state.generation, routes: routes, upstreams: upstreams,
                                                certificates: certificates, withheldClientAuth: withheld),
                      notServed: notServed, warnings: warnings)
    }

    // MARK: SSL

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// An SSL resource, resolved, parsed and checked.
    struct SSLMaterial {
        var chain: [Certificate]
        var key: PrivateKey?
        var clientAuth: ClientAuthConfig?
        var warning: String?
    }

    static let expiryWarningSeconds: TimeInterval = 30 * 86400

    /// `mode: require` (the default); `optional` admits clients without a certificate.
    static func requiresClientCertificate(_ ca: SSLSpec.ClientAuth) -> Bool { ca.mode != "optional" }

    /// Certificate parses, chain in order (each issued by the next), key matches, every SNI is in the
    /// SAN, not expired (error) or expiring within 30 days (warning). Errors never carry key bytes.
    static func sslMaterial(_ r: Resource, _ spec: SSLSpec, resolve: Resolve, now: Date) throws -> SSLMaterial {
        let certBytes = try resolve(spec.certificate, r.key, "spec.certificate")
        let chain: [Certificate]
        do { chain = try Certificate.parseChain(pem: String(decoding: certBytes, as: UTF8.self)) } catch {
            throw Failure(description: "spec.certificate: \(error)")
        }
        guard let leaf = chain.first else { throw Failure(description: "spec.certificate: no certificate") }
        for i in 0..<(chain.count - 1) where chain[i].issuer != chain[i + 1].subject {
            throw Failure(description: "spec.certificate: chain out of order: certificate #\(i + 1) (\(chain[i].subject)) is not issued by #\(i + 2) (\(chain[i + 1].subject)); put the leaf first, then each issuer")
        }
        var key: PrivateKey?
        if let pk = spec.privateKey {
            var bytes = try resolve(pk, r.key, "spec.privateKey")
            defer { for i in bytes.indices { bytes[i] = 0 } }
            do { key = try PrivateKey.parse(pem: String(decoding: bytes, as: UTF8.self)) } catch {
                throw Failure(description: "spec.privateKey: \(error)")
            }
            if let key, !key.matches(leaf) {
                throw Failure(description: "spec.privateKey does not match spec.certificate (\(leaf.subject))")
            }
        }
        if spec.type == "server" {
            for sni in spec.snis where !leaf.covers(hostname: sni) {
                throw Failure(description: "spec.snis: \"\(sni)\" is not covered by the certificate's subjectAltName \(leaf.dnsNames + leaf.ipAddresses)")
            }
        }
        if leaf.notAfter <= now {
            throw Failure(description: "spec.certificate expired at \(Log.timestamp(leaf.notAfter)) (\(leaf.subject)); not serving it")
        }
        var warning: String?
        if leaf.notAfter.timeIntervalSince(now) < expiryWarningSeconds {
            let days = Int(leaf.notAfter.timeIntervalSince(now) / 86400)
            warning = "certificate \(leaf.subject) expires in \(days) days, at \(Log.timestamp(leaf.notAfter))"
        }
        var clientAuth: ClientAuthConfig?
        if let ca = spec.clientAuth {
            let caBytes = try resolve(ca.ca, r.key, "spec.clientAuth.ca")
            do {
                clientAuth = ClientAuthConfig(ca: try Certificate.parseChain(pem: String(decoding: caBytes, as: UTF8.self)),
                                              required: requiresClientCertificate(ca), depth: ca.depth)
            } catch {
                throw Failure(description: "spec.clientAuth.ca: \(error)")
            }
        }
        return SSLMaterial(chain: chain, key: key, clientAuth: clientAuth, warning: warning)
    }

    /// An https upstream's TLS settings from its `tls` block and the SSL resources it names.
    static func upstreamTLS(_ u: UpstreamSpec, _ ssls: [String: SSLMaterial]) throws -> UpstreamTLSConfig? {
        guard u.scheme == "https" else { return nil }
        guard let t = u.tls else { return UpstreamTLSConfig() }
        var ca: [Certificate]?
        if let ref = t.caRef {
            guard let m = ssls[ref.description] else { throw Failure(description: "spec.tls.caRef: SSL \(ref) is not served") }
            ca = m.chain
        }
        var clientChain: [Certificate] = []
        var clientKey: PrivateKey?
        if let ref = t.clientCertRef {
            guard let m = ssls[ref.description] else { throw Failure(description: "spec.tls.clientCertRef: SSL \(ref) is not served") }
            guard let k = m.key else { throw Failure(description: "spec.tls.clientCertRef: SSL \(ref) has no privateKey") }
            clientChain = m.chain
            clientKey = k
        }
        return UpstreamTLSConfig(sni: t.sni, verify: t.verify, ca: ca, clientChain: clientChain, clientKey: clientKey)
    }

    static func id(_ k: ResourceKey) -> String { "\(k.namespace)/\(k.name)" }

    /// A Route's match keys, kept in the router as not served (503 `reason`).
    static func notServedRoute(_ key: ResourceKey, _ spec: RouteSpec, _ reason: NotServedReason) -> RouteConfig {
        .notServed(id: id(key), hosts: spec.hosts, paths: spec.paths, methods: spec.methods,
                   headers: spec.headers.items.map { HeaderPair(name: $0.name, value: $0.value) }, priority: spec.priority, reason: reason)
    }

    static func timeouts(_ t: RampartModel.Timeouts) -> RampartGateway.Timeouts {
        RampartGateway.Timeouts(connectMs: t.connectMs, sendMs: t.sendMs, readMs: t.readMs)
    }

    static func upstream(_ u: UpstreamSpec, id: String, tls: UpstreamTLSConfig? = nil) -> UpstreamConfig {
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
                              timeout: timeouts(u.timeout), tls: tls)
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

    struct PluginError: Error, CustomStringConvertible {
        var description: String
        /// What clients of the not-served route are told.
        var reason: NotServedReason = .pluginInvalid
    }

    /// key-auth, basic-auth and limit-count, with their sensitive values resolved through `resolve`
    /// (its errors name the field, never the value).
    static func accessPlugins(_ p: Plugins, key: ResourceKey, resolve: Resolve) throws -> [PluginConfig] {
        var out: [PluginConfig] = []
        func value(_ s: Sensitive, _ plugin: String, _ path: String) throws -> [UInt8] {
            do {
                return try resolve(s, key, path)
            } catch {
                throw PluginError(description: "plugin \(plugin): \(error)", reason: .secretUnavailable)
            }
        }
        if let k = p.keyAuth {
            var digests: [[UInt8]] = []
            for (i, s) in k.keys.enumerated() {
                var plain = try value(s, "key-auth", "spec.plugins.key-auth.keys[\(i)]")
                if plain.isEmpty { throw PluginError(description: "plugin key-auth: keys[\(i)] is empty") }
                digests.append(KeyAuthConfig.digest(plain))
                wipe(&plain)
            }
            out.append(.keyAuth(KeyAuthConfig(header: k.header, query: k.query, keyDigests: digests)))
        }
        if let users = p.basicAuth {
            var compiled: [BasicAuthUserConfig] = []
            for (i, u) in users.enumerated() {
                guard !u.username.isEmpty, !u.username.contains(":") else {
                    throw PluginError(description: "plugin basic-auth: users[\(i)].username must be non-empty without ':'")
                }
                var plain = try value(u.password, "basic-auth", "spec.plugins.basic-auth.users[\(i)].password")
                defer { wipe(&plain) }
                compiled.append(try BasicAuthHashes.hash(username: u.username, password: plain, key: key))
            }
            out.append(.basicAuth(compiled))
        }
        if let l = p.limitCount {
            let lk: LimitKey
            if l.key == "remote_addr" { lk = .remoteAddr }
            else if l.key == "consumer" { lk = .consumer }
            else if l.key.hasPrefix("header:"), l.key.count > 7 { lk = .header(String(l.key.dropFirst(7))) }
            else { throw PluginError(description: "plugin limit-count: key must be remote_addr, consumer or header:NAME") }
            var redis: RedisConfig?
            switch l.policy {
            case "local":
                break
            case "redis":
                guard let r = l.redis else { throw PluginError(description: "plugin limit-count: policy redis needs redis settings") }
                if r.tls { throw PluginError(description: "plugin limit-count: redis tls is not supported by this build") }
                let pw = try r.password.map { SecretValue(try value($0, "limit-count", "spec.plugins.limit-count.redis.password")) }
                redis = RedisConfig(host: r.host.isEmpty ? "127.0.0.1" : r.host, port: r.port, password: pw, database: r.database)
            default:
                throw PluginError(description: "plugin limit-count: policy must be local or redis")
            }
            out.append(.limitCount(LimitCountConfig(count: l.count, windowMs: l.windowMs, key: lk, redis: redis, failOpen: l.failOpen)))
        }
        return out
    }

    static func wipe(_ b: inout [UInt8]) {
        for i in b.indices { b[i] = 0 }
    }

    static func pairs(_ l: HeaderList?) -> [HeaderPair] { (l?.items ?? []).map { HeaderPair(name: $0.name, value: $0.value) } }
}

/// basic-auth password hashes made while building snapshots. PBKDF2 (with a fresh random salt) runs
/// once per (route, user, password) in this process, not on every rebuild: the hash is remembered
/// under HMAC-SHA256(per-process random key, route + user + password), which reveals nothing about
/// the password outside this process. Bounded; cleared when full.
enum BasicAuthHashes {
    static let macKey = Random.bytes(32)
    static let maxEntries = 10_000
    static let memo = Mutex<[[UInt8]: String]>([:])

    static func hash(username: String, password: [UInt8], key: ResourceKey) throws -> BasicAuthUserConfig {
        var msg = Array("\(key)".utf8) + [0] + Array(username.utf8) + [0] + password
        let mac = HMAC.sha256(key: macKey, message: msg)
        SnapshotBuilder.wipe(&msg)
        if let h = memo.withLock({ $0[mac] }) { return BasicAuthUserConfig(username: username, passwordHash: h) }
        let made = try BasicAuthUserConfig.hashing(username: username, password: password)
        memo.withLock { m in
            if m.count >= maxEntries { m.removeAll() }
            m[mac] = made.passwordHash
        }
        return made
    }
}

private extension Result {
    /// `.some(value)` on success (value may itself be nil), nil on failure: `try?` would flatten the two.
    var ok: Success? {
        if case .success(let v) = self { return .some(v) }
        return nil
    }
}
