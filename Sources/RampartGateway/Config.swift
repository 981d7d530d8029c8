// Public configuration and snapshot types: what the controller compiles manifests into.
// Init defaults are the manifest schema's (`SchemaDefaults`), for tests that build configs by hand.

import RampartModel

public enum AccessLogTarget: Sendable, Equatable {
    case off
    case stdout
    case file(String)
}

public struct GatewayConfig: Sendable {
    public var listen: [String]
    /// TLS listeners: certificates come from the snapshot (`GatewaySnapshot.certificates`), chosen by SNI.
    public var listenTLS: [String]
    public var workers: Int
    public var maxHeaderBytes: Int
    public var maxURIBytes: Int
    public var maxConnections: Int?
    public var headerTimeoutMs: Int
    public var idleTimeoutMs: Int
    public var bodyTimeoutMs: Int
    public var accessLog: AccessLogTarget
    public var trustedProxies: [String]
    /// Where the data plane reports problems worth a log line (nil: standard error).
    public var log: GatewayLogger?

    public init(
        listen: [String] = ["0.0.0.0:8080"],
        listenTLS: [String] = [],
        workers: Int = 1,
        maxHeaderBytes: Int = 32 * 1024,
        maxURIBytes: Int = 8 * 1024,
        maxConnections: Int? = nil,
        headerTimeoutMs: Int = 10_000,
        idleTimeoutMs: Int = 60_000,
        bodyTimeoutMs: Int = 60_000,
        accessLog: AccessLogTarget = .off,
        trustedProxies: [String] = [],
        log: GatewayLogger? = nil
    ) {
        self.listen = listen
        self.listenTLS = listenTLS
        self.log = log
        self.workers = workers
        self.maxHeaderBytes = maxHeaderBytes
        self.maxURIBytes = maxURIBytes
        self.maxConnections = maxConnections
        self.headerTimeoutMs = headerTimeoutMs
        self.idleTimeoutMs = idleTimeoutMs
        self.bodyTimeoutMs = bodyTimeoutMs
        self.accessLog = accessLog
        self.trustedProxies = trustedProxies
    }
}

public struct GatewaySnapshot: Sendable {
    public var generation: Int
    public var routes: [RouteConfig]
    public var upstreams: [String: UpstreamConfig]
    /// Certificates for the TLS listeners (SSL resources of type server).
    public var certificates: [ServerCertificate]
    /// Server SSLs with `clientAuth.mode: require` that are not served: their names stay bound (421).
    public var withheldClientAuth: [WithheldClientAuth]
    public init(generation: Int, routes: [RouteConfig], upstreams: [String: UpstreamConfig],
                certificates: [ServerCertificate] = [], withheldClientAuth: [WithheldClientAuth] = []) {
        self.generation = generation
        self.routes = routes
        self.upstreams = upstreams
        self.certificates = certificates
        self.withheldClientAuth = withheldClientAuth
    }
}

/// A name/value pair (header condition, header to set/add, ...).
public struct HeaderPair: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

public struct Timeouts: Sendable, Equatable {
    public var connectMs: Int
    public var sendMs: Int
    public var readMs: Int
    public init(connectMs: Int = SchemaDefaults.connectTimeoutMs, sendMs: Int = SchemaDefaults.sendTimeoutMs,
                readMs: Int = SchemaDefaults.readTimeoutMs) {
        self.connectMs = connectMs
        self.sendMs = sendMs
        self.readMs = readMs
    }
}

/// One route as the gateway serves it. A route with `notServed` set keeps its match keys (hosts,
/// paths, methods, headers, priority) and answers 503 with that reason: failing closed means it
/// still shadows less specific routes instead of letting its traffic fall through to them.
///
/// Its fields live in one shared, immutable box (a change makes a new one): a copy is one retain,
/// not one per field, and an apply recognises an unchanged route by the box's identity before it
/// compares fields (Equatable, plugins and their credential digests included, so a rotated key is a change).
public struct RouteConfig: Sendable, Equatable {
    struct Fields: Sendable, Equatable {
        var id: String
        var hosts: [String]
        var paths: [String]
        var methods: [String]
        var headers: [HeaderPair]
        var priority: Int
        var upstream: String
        var timeout: Timeouts?
        var websocket: Bool
        var plugins: [PluginConfig]
        var notServed: NotServedReason?
    }

    final class Box: Sendable {
        let fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var box: Box

    public var id: String { get { box.fields.id } set { change { $0.id = newValue } } }
    public var hosts: [String] { get { box.fields.hosts } set { change { $0.hosts = newValue } } }
    public var paths: [String] { get { box.fields.paths } set { change { $0.paths = newValue } } }
    public var methods: [String] { get { box.fields.methods } set { change { $0.methods = newValue } } }
    public var headers: [HeaderPair] { get { box.fields.headers } set { change { $0.headers = newValue } } }
    public var priority: Int { get { box.fields.priority } set { change { $0.priority = newValue } } }
    public var upstream: String { get { box.fields.upstream } set { change { $0.upstream = newValue } } }
    public var timeout: Timeouts? { get { box.fields.timeout } set { change { $0.timeout = newValue } } }
    public var websocket: Bool { get { box.fields.websocket } set { change { $0.websocket = newValue } } }
    public var plugins: [PluginConfig] { get { box.fields.plugins } set { change { $0.plugins = newValue } } }
    /// Why this route cannot be served (nil: served).
    public var notServed: NotServedReason? { get { box.fields.notServed } set { change { $0.notServed = newValue } } }

    public init(
        id: String, hosts: [String] = [], paths: [String], methods: [String] = [],
        headers: [HeaderPair] = [], priority: Int = SchemaDefaults.priority, upstream: String,
        timeout: Timeouts? = nil, websocket: Bool = SchemaDefaults.websocket, plugins: [PluginConfig] = [], notServed: NotServedReason? = nil
    ) {
        box = Box(Fields(id: id, hosts: hosts, paths: paths, methods: methods, headers: headers, priority: priority, upstream: upstream,
                         timeout: timeout, websocket: websocket, plugins: plugins, notServed: notServed))
    }

    private mutating func change(_ edit: (inout Fields) -> Void) {
        var fields = box.fields
        edit(&fields)
        box = Box(fields)
    }

    /// True when both are copies of one value (no field was changed since): equal without a look at the fields.
    func isSameValue(as other: RouteConfig) -> Bool { box === other.box }

    public static func == (lhs: RouteConfig, rhs: RouteConfig) -> Bool {
        lhs.box === rhs.box || lhs.box.fields == rhs.box.fields
    }

    /// A route that keeps its place in the router and answers 503 `reason` (no upstream, no plugins).
    public static func notServed(id: String, hosts: [String] = [], paths: [String], methods: [String] = [],
                                 headers: [HeaderPair] = [], priority: Int = 0, reason: NotServedReason) -> RouteConfig {
        RouteConfig(id: id, hosts: hosts, paths: paths, methods: methods, headers: headers, priority: priority,
                    upstream: "", notServed: reason)
    }
}

/// Why a route is not served: the code clients see in the 503 body. The full message (which may
/// name internal hosts or files) goes to the resource's status and the log only.
public enum NotServedReason: String, Sendable, Equatable {
    /// A sensitive value of a plugin (a key, a password) does not resolve.
    case secretUnavailable = "SecretUnavailable"
    /// A plugin cannot be enforced as configured (the gateway refused it, or this build lacks it).
    case pluginInvalid = "PluginInvalid"
    /// The Upstream (named or inline) is not served.
    case upstreamNotServed = "UpstreamNotServed"
    /// The Route failed validation and has no earlier version to serve.
    case invalid = "Invalid"
}

public struct UpstreamNode: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var weight: Int
    public init(host: String, port: Int, weight: Int = SchemaDefaults.nodeWeight) {
        self.host = host
        self.port = port
        self.weight = weight
    }
}

public enum HashOn: Sendable, Equatable {
    case remoteAddr
    case header(String)
    case cookie(String)
    case uri
}

public enum LoadBalancerType: Sendable, Equatable {
    case roundrobin
    case leastConn
    case chash(hashOn: HashOn)
    case ewma
}

public struct ActiveHealthCheck: Sendable, Equatable {
    public var path: String
    public var intervalMs: Int
    public var timeoutMs: Int
    public var healthyAfter: Int
    public var unhealthyAfter: Int
    public var expectStatus: [Int]
    public init(path: String = SchemaDefaults.activePath, intervalMs: Int = SchemaDefaults.activeIntervalMs,
                timeoutMs: Int = SchemaDefaults.activeTimeoutMs, healthyAfter: Int = SchemaDefaults.activeHealthyAfter,
                unhealthyAfter: Int = SchemaDefaults.activeUnhealthyAfter, expectStatus: [Int] = SchemaDefaults.activeExpectStatus) {
        self.path = path
        self.intervalMs = intervalMs
        self.timeoutMs = timeoutMs
        self.healthyAfter = healthyAfter
        self.unhealthyAfter = unhealthyAfter
        self.expectStatus = expectStatus
    }
}

public struct PassiveHealthCheck: Sendable, Equatable {
    public var unhealthyAfter: Int
    public var statuses: [Int]
    public var onConnectFailure: Bool
    public var onTimeout: Bool
    /// How long a passively failed node stays out when no active check brings it back.
    public var downMs: Int
    public init(unhealthyAfter: Int = SchemaDefaults.passiveUnhealthyAfter, statuses: [Int] = SchemaDefaults.passiveOn.compactMap { Int($0) },
                onConnectFailure: Bool = SchemaDefaults.passiveOn.contains("connect-failure"),
                onTimeout: Bool = SchemaDefaults.passiveOn.contains("timeout"), downMs: Int = 10_000) {
        self.unhealthyAfter = unhealthyAfter
        self.statuses = statuses
        self.onConnectFailure = onConnectFailure
        self.onTimeout = onTimeout
        self.downMs = downMs
    }
}

public struct HealthCheckConfig: Sendable, Equatable {
    public var active: ActiveHealthCheck?
    public var passive: PassiveHealthCheck?
    public init(active: ActiveHealthCheck? = nil, passive: PassiveHealthCheck? = nil) {
        self.active = active
        self.passive = passive
    }
}

public struct KeepaliveConfig: Sendable, Equatable {
    public var maxIdle: Int
    public var idleTimeoutMs: Int
    public init(maxIdle: Int = SchemaDefaults.keepaliveMaxIdle, idleTimeoutMs: Int = SchemaDefaults.keepaliveIdleTimeoutMs) {
        self.maxIdle = maxIdle
        self.idleTimeoutMs = idleTimeoutMs
    }
}

/// Equatable so that an apply can keep an unchanged upstream's compiled form, and with it the
/// loops' pooled connections to its nodes and its TLS client context.
public struct UpstreamConfig: Sendable, Equatable {
    public var id: String
    public var nodes: [UpstreamNode]
    public var loadBalancer: LoadBalancerType
    public var scheme: String
    public var healthCheck: HealthCheckConfig?
    public var retries: Int
    public var keepalive: KeepaliveConfig
    public var timeout: Timeouts
    /// TLS settings when `scheme` is `https` (nil there: verify against the system store, SNI = node host).
    public var tls: UpstreamTLSConfig?

    public init(
        id: String, nodes: [UpstreamNode], loadBalancer: LoadBalancerType = .roundrobin,
        scheme: String = SchemaDefaults.scheme, healthCheck: HealthCheckConfig? = nil, retries: Int = SchemaDefaults.retries,
        keepalive: KeepaliveConfig = KeepaliveConfig(), timeout: Timeouts = Timeouts(), tls: UpstreamTLSConfig? = nil
    ) {
        self.tls = tls
        self.id = id
        self.nodes = nodes
        self.loadBalancer = loadBalancer
        self.scheme = scheme
        self.healthCheck = healthCheck
        self.retries = retries
        self.keepalive = keepalive
        self.timeout = timeout
    }
}

public struct RegexRewrite: Sendable, Equatable {
    public var pattern: String
    public var replacement: String
    public init(pattern: String, replacement: String) {
        self.pattern = pattern
        self.replacement = replacement
    }
}

public struct CORSConfig: Sendable, Equatable {
    public var allowOrigins: [String]
    public var allowMethods: [String]
    public var allowHeaders: [String]
    public var exposeHeaders: [String]
    public var maxAgeSeconds: Int
    public var allowCredentials: Bool
    public init(allowOrigins: [String] = ["*"], allowMethods: [String] = [], allowHeaders: [String] = [],
                exposeHeaders: [String] = [], maxAgeSeconds: Int = SchemaDefaults.corsMaxAgeMs / 1000,
                allowCredentials: Bool = SchemaDefaults.corsAllowCredentials) {
        self.allowOrigins = allowOrigins
        self.allowMethods = allowMethods
        self.allowHeaders = allowHeaders
        self.exposeHeaders = exposeHeaders
        self.maxAgeSeconds = maxAgeSeconds
        self.allowCredentials = allowCredentials
    }
}

public enum PluginConfig: Sendable, Equatable {
    case ipRestriction(allow: [String], deny: [String])
    case responseHeaders(set: [HeaderPair], add: [HeaderPair], remove: [String])
    case proxyRewrite(uri: String?, regexUri: RegexRewrite?, host: String?,
                      setHeaders: [HeaderPair], addHeaders: [HeaderPair], removeHeaders: [String])
    case cors(CORSConfig)
    case keyAuth(KeyAuthConfig)
    case basicAuth([BasicAuthUserConfig])
    case limitCount(LimitCountConfig)
}

public enum GatewayError: Error, CustomStringConvertible, Sendable {
    case invalidAddress(String)
    case system(String, Int32)
    case invalidConfig(String)

    public var description: String {
        switch self {
        case .invalidAddress(let a): return "invalid listen address \(a)"
        case .system(let what, let e): return "\(what): \(String(cString: strerror(e)))"
        case .invalidConfig(let m): return "invalid gateway config: \(m)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
