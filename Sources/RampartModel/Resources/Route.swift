import RampartYAML

/// How requests are matched and where they go (API.md 1.1).
public struct RouteSpec: Sendable, Hashable {
    public var hosts: [String]
    public var paths: [String]
    public var methods: [String]
    public var headers: HeaderList
    public var priority: Int
    public var upstreamRef: Reference?
    public var upstream: UpstreamSpec?
    public var timeout: Timeouts?
    public var websocket: Bool
    public var plugins: Plugins

    static func decode(_ n: Node, namespace: String) -> RouteSpec {
        RouteSpec(
            hosts: n.strings("hosts"), paths: n.strings("paths"), methods: n.strings("methods"),
            headers: HeaderList((n["headers"]?.sequence ?? []).map { ($0.str("name") ?? "", $0.str("value") ?? $0["value"]?.scalar?.text ?? "") }),
            priority: n.int("priority") ?? SchemaDefaults.priority,
            upstreamRef: Reference.decode(n["upstreamRef"], namespace: namespace),
            upstream: n["upstream"].map { UpstreamSpec.decode($0, namespace: namespace) },
            timeout: Timeouts.decode(n["timeout"]), websocket: n.bool("websocket") ?? SchemaDefaults.websocket,
            plugins: Plugins.decode(n["plugins"], namespace: namespace))
    }

    /// Whether a Route whose errors are at these field paths still has a valid identity and match
    /// (hosts, paths, methods, headers, priority): its errors are only in what it does (plugins,
    /// upstream, ...), so it can keep its place in the router as not served.
    public static func matchIsIntact(errorPaths: [String]) -> Bool {
        let match = ["spec.hosts", "spec.paths", "spec.methods", "spec.headers", "spec.priority"]
        return errorPaths.allSatisfy { path in
            guard path.hasPrefix("spec.") else { return false }   // the envelope, metadata, or the spec as a whole
            return !match.contains { path == $0 || path.hasPrefix($0 + "[") || path.hasPrefix($0 + ".") }
        }
    }

    /// What this Route matches and nothing of what it does: no upstream, no plugins.
    public var matchOnly: RouteSpec {
        RouteSpec(hosts: hosts, paths: paths, methods: methods, headers: headers, priority: priority,
                  upstreamRef: nil, upstream: nil, timeout: nil, websocket: false, plugins: Plugins())
    }

    /// What makes two routes' matches identical (a validation error).
    public var matchSignature: String {
        var s = hosts.sorted().joined(separator: ",")
        s += "|" + paths.sorted().joined(separator: ",")
        s += "|" + methods.sorted().joined(separator: ",")
        s += "|" + headers.items.map { $0.name.lowercased() + "=" + $0.value }.sorted().joined(separator: ",")
        return s + "|" + String(priority)
    }
}

/// Request/response header edits.
public struct HeaderOps: Sendable, Hashable {
    public var set: HeaderList
    public var add: HeaderList
    public var remove: [String]

    static func decode(_ n: Node?) -> HeaderOps? {
        guard let n else { return nil }
        return HeaderOps(set: HeaderList(n.stringMap("set")), add: HeaderList(n.stringMap("add")), remove: n.strings("remove"))
    }
}

/// The plugins a Route may enable; each nil when off.
public struct Plugins: Sendable, Hashable {
    public struct KeyAuth: Sendable, Hashable { public var header: String; public var query: String; public var keys: [Sensitive] }
    public struct BasicAuthUser: Sendable, Hashable { public var username: String; public var password: Sensitive }
    public struct IPRestriction: Sendable, Hashable { public var allow: [CIDR]; public var deny: [CIDR] }
    public struct Redis: Sendable, Hashable {
        public var host: String; public var port: Int; public var password: Sensitive?; public var database: Int; public var tls: Bool
    }
    public struct LimitCount: Sendable, Hashable {
        public var count: Int; public var windowMs: Int; public var key: String; public var policy: String
        public var redis: Redis?; public var failOpen: Bool
    }
    public struct ProxyRewrite: Sendable, Hashable {
        public var uri: String?; public var regexUri: (pattern: String, replacement: String)?; public var host: String?; public var headers: HeaderOps?
        public static func == (a: ProxyRewrite, b: ProxyRewrite) -> Bool {
            a.uri == b.uri && a.regexUri?.pattern == b.regexUri?.pattern && a.regexUri?.replacement == b.regexUri?.replacement
                && a.host == b.host && a.headers == b.headers
        }
        public func hash(into h: inout Hasher) { h.combine(uri); h.combine(host); h.combine(regexUri?.pattern) }
    }
    public struct CORS: Sendable, Hashable {
        public var allowOrigins: [String]; public var allowMethods: [String]; public var allowHeaders: [String]
        public var exposeHeaders: [String]; public var maxAgeMs: Int; public var allowCredentials: Bool
    }

    public var keyAuth: KeyAuth?
    public var basicAuth: [BasicAuthUser]?
    public var ipRestriction: IPRestriction?
    public var limitCount: LimitCount?
    public var proxyRewrite: ProxyRewrite?
    public var responseHeaders: HeaderOps?
    public var cors: CORS?

    static func decode(_ n: Node?, namespace ns: String) -> Plugins {
        guard let n else { return Plugins() }
        var p = Plugins()
        if let k = n["key-auth"] {
            p.keyAuth = KeyAuth(header: k.str("header") ?? SchemaDefaults.keyAuthHeader, query: k.str("query") ?? SchemaDefaults.keyAuthQuery,
                                keys: (k["keys"]?.sequence ?? []).compactMap { Sensitive.decode($0, namespace: ns) })
        }
        if let b = n["basic-auth"] {
            p.basicAuth = (b["users"]?.sequence ?? []).compactMap { u in
                Sensitive.decode(u["password"], namespace: ns).map { BasicAuthUser(username: u.str("username") ?? "", password: $0) }
            }
        }
        if let r = n["ip-restriction"] {
            p.ipRestriction = IPRestriction(allow: r.strings("allow").compactMap(CIDR.init), deny: r.strings("deny").compactMap(CIDR.init))
        }
        if let l = n["limit-count"] {
            p.limitCount = LimitCount(
                count: l.int("count") ?? 1, windowMs: l.ms("window") ?? 60_000, key: l.str("key") ?? SchemaDefaults.limitKey,
                policy: l.str("policy") ?? SchemaDefaults.limitPolicy,
                redis: l["redis"].map { Redis(host: $0.str("host") ?? "", port: $0.int("port") ?? SchemaDefaults.redisPort,
                                              password: Sensitive.decode($0["password"], namespace: ns),
                                              database: $0.int("database") ?? SchemaDefaults.redisDatabase,
                                              tls: $0.bool("tls") ?? SchemaDefaults.redisTLS) },
                failOpen: l.bool("failOpen") ?? SchemaDefaults.limitFailOpen)
        }
        if let r = n["proxy-rewrite"] {
            let re = r.strings("regexUri")
            p.proxyRewrite = ProxyRewrite(uri: r.str("uri"), regexUri: re.count == 2 ? (re[0], re[1]) : nil,
                                          host: r.str("host"), headers: HeaderOps.decode(r["headers"]))
        }
        p.responseHeaders = HeaderOps.decode(n["response-headers"])
        if let c = n["cors"] {
            p.cors = CORS(allowOrigins: c.strings("allowOrigins"), allowMethods: c.strings("allowMethods"),
                          allowHeaders: c.strings("allowHeaders"), exposeHeaders: c.strings("exposeHeaders"),
                          maxAgeMs: c.ms("maxAge") ?? SchemaDefaults.corsMaxAgeMs,
                          allowCredentials: c.bool("allowCredentials") ?? SchemaDefaults.corsAllowCredentials)
        }
        return p
    }

    /// Every sensitive value the plugins hold.
    public var sensitiveValues: [Sensitive] {
        (keyAuth?.keys ?? []) + (basicAuth ?? []).map(\.password) + [limitCount?.redis?.password].compactMap { $0 }
    }
}
