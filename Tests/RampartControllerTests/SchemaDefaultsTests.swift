import RampartGateway
import RampartModel
import RampartYAML
import XCTest
@testable import RampartController

/// Every default in the schema tables reaches what is served: a manifest that omits the field
/// compiles (or, for kinds the gateway does not serve, decodes) to the table's value.
final class SchemaDefaultsTests: XCTestCase {
    /// Dotted paths of every field with a default below `schema`, with the field.
    func defaulted(_ schema: Schema, _ prefix: String = "") -> [(String, Field)] {
        guard case .object(let fields) = schema else { return [] }
        var out: [(String, Field)] = []
        for f in fields {
            let path = prefix.isEmpty ? f.name : prefix + "." + f.name
            if f.defaultValue != nil { out.append((path, f)) }
            switch f.schema {
            case .object: out += defaulted(f.schema, path)
            case .array(let item, _): out += defaulted(item, path)
            default: break
            }
        }
        return out
    }

    /// A default as the compiled values below render it: durations in ms, lists joined by ",".
    func expected(_ field: Field) -> String {
        guard let node = field.defaultValue else { return "" }
        if let items = node.sequence { return items.map { $0.scalar?.text ?? "" }.joined(separator: ",") }
        let text = node.scalar?.text ?? ""
        if case .string(.duration) = field.schema { return Values.durationMs(text).map(String.init) ?? "unparsable \(text)" }
        return text
    }

    // Every object with a default below it is present and empty of defaulted fields.
    let manifests = """
    apiVersion: rampart.io/v1alpha1
    kind: Upstream
    metadata: {name: web, namespace: shop}
    spec:
      nodes: [{host: 127.0.0.1, port: 8080}]
      loadBalancer: {}
      tls: {}
      healthCheck: {active: {}, passive: {}}
      keepalive: {}
      timeout: {}
    ---
    apiVersion: rampart.io/v1alpha1
    kind: Route
    metadata: {name: api, namespace: shop}
    spec:
      paths: [/api/*]
      upstreamRef: {name: web}
      timeout: {}
      plugins:
        key-auth: {keys: [{value: k1}]}
        limit-count: {count: 5, window: 1s}
        cors: {}
    ---
    apiVersion: rampart.io/v1alpha1
    kind: Route
    metadata: {name: redis, namespace: shop}
    spec:
      paths: [/redis/*]
      upstreamRef: {name: web}
      plugins:
        limit-count: {count: 5, window: 1s, policy: redis, redis: {host: 127.0.0.1}}
    ---
    apiVersion: rampart.io/v1alpha1
    kind: Route
    metadata: {name: inline, namespace: shop}
    spec:
      paths: [/inline/*]
      upstream: {nodes: [{host: 127.0.0.1, port: 8081}]}
    """

    func testEveryRouteAndUpstreamDefaultIsTheCompiledValue() throws {
        let decoded = ManifestDecoder(dev: true).decode(file: "t.yaml", bytes: Array(manifests.utf8))
        XCTAssertEqual(decoded.diagnostics.filter { $0.severity == .error }.map(\.description), [])
        let state = DesiredState(generation: 1, origin: "test", resources: Dictionary(decoded.resources.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a }))
        let out = SnapshotBuilder.build(state)
        XCTAssertEqual(out.notServed, [:])
        let snapshot = out.snapshot
        let upstream = try XCTUnwrap(snapshot.upstreams["shop/web"])
        let inline = try XCTUnwrap(snapshot.upstreams["route:shop/inline"])
        let api = try XCTUnwrap(snapshot.routes.first { $0.id == "shop/api" })
        let redisRoute = try XCTUnwrap(snapshot.routes.first { $0.id == "shop/redis" })
        let active = try XCTUnwrap(upstream.healthCheck?.active), passive = try XCTUnwrap(upstream.healthCheck?.passive)
        let timeout = try XCTUnwrap(api.timeout)
        var keyAuth: KeyAuthConfig?, limit: LimitCountConfig?, redisLimit: LimitCountConfig?, cors: CORSConfig?
        for p in api.plugins {
            if case .keyAuth(let k) = p { keyAuth = k }
            if case .limitCount(let l) = p { limit = l }
            if case .cors(let c) = p { cors = c }
        }
        for case .limitCount(let l) in redisLimit == nil ? redisRoute.plugins : [] { redisLimit = l }
        let webSpec = try XCTUnwrap(decoded.resources.first { $0.key.name == "web" }?.upstream)
        func key(_ k: LimitKey?) -> String {
            switch k { case .remoteAddr: return "remote_addr"; case .consumer: return "consumer"; case .header(let h): return "header:" + h; case nil: return "" }
        }
        let lb: String
        switch upstream.loadBalancer { case .roundrobin: lb = "roundrobin"; case .leastConn: lb = "least_conn"; case .chash: lb = "chash"; case .ewma: lb = "ewma" }
        let compiled: [String: String] = [
            "upstream.nodes.weight": String(upstream.nodes.first?.weight ?? -1),
            "upstream.loadBalancer.type": lb,
            "upstream.scheme": upstream.scheme,
            "upstream.tls.verify": String(webSpec.tls?.verify ?? false),   // served only for https
            "upstream.healthCheck.active.path": active.path,
            "upstream.healthCheck.active.interval": String(active.intervalMs),
            "upstream.healthCheck.active.timeout": String(active.timeoutMs),
            "upstream.healthCheck.active.healthyAfter": String(active.healthyAfter),
            "upstream.healthCheck.active.unhealthyAfter": String(active.unhealthyAfter),
            "upstream.healthCheck.active.expectStatus": active.expectStatus.map(String.init).joined(separator: ","),
            "upstream.healthCheck.passive.unhealthyAfter": String(passive.unhealthyAfter),
            "upstream.healthCheck.passive.on": (passive.statuses.map(String.init) + (passive.onConnectFailure ? ["connect-failure"] : [])
                                                + (passive.onTimeout ? ["timeout"] : [])).joined(separator: ","),
            "upstream.retries": String(upstream.retries),
            "upstream.keepalive.maxIdle": String(upstream.keepalive.maxIdle),
            "upstream.keepalive.idleTimeout": String(upstream.keepalive.idleTimeoutMs),
            "upstream.timeout.connect": String(upstream.timeout.connectMs),
            "upstream.timeout.send": String(upstream.timeout.sendMs),
            "upstream.timeout.read": String(upstream.timeout.readMs),
            "route.priority": String(api.priority),
            "route.websocket": String(api.websocket),
            "route.timeout.connect": String(timeout.connectMs),
            "route.timeout.send": String(timeout.sendMs),
            "route.timeout.read": String(timeout.readMs),
            "route.plugins.key-auth.header": keyAuth?.header ?? "",
            "route.plugins.key-auth.query": keyAuth?.query ?? "",
            "route.plugins.limit-count.key": key(limit?.key),
            "route.plugins.limit-count.policy": limit.map { $0.redis == nil ? "local" : "redis" } ?? "",
            "route.plugins.limit-count.redis.port": String(redisLimit?.redis?.port ?? -1),
            "route.plugins.limit-count.redis.database": String(redisLimit?.redis?.database ?? -1),
            "route.plugins.limit-count.redis.tls": redisLimit?.redis == nil ? "" : "false",   // tls: true is not served
            "route.plugins.limit-count.failOpen": String(limit?.failOpen ?? false),
            "route.plugins.cors.maxAge": String((cors?.maxAgeSeconds ?? -1) * 1000),
            "route.plugins.cors.allowCredentials": String(cors?.allowCredentials ?? true),
        ]
        // The inline upstream of a Route gets the very same defaults as a named one.
        XCTAssertEqual(inline.timeout, upstream.timeout)
        XCTAssertEqual(inline.retries, upstream.retries)
        XCTAssertEqual(inline.keepalive, upstream.keepalive)
        var checked = 0
        for (kind, schema) in [("upstream", KindSchemas.upstream), ("route", KindSchemas.route)] {
            for (path, field) in defaulted(schema) {
                // A Route's inline `upstream` is the Upstream table again, checked above.
                if path.hasPrefix("upstream.") && kind == "route" { continue }
                let full = kind + "." + path
                XCTAssertEqual(compiled[full], expected(field), "\(full): the compiled value is not the schema default")
                checked += 1
            }
        }
        XCTAssertEqual(checked, compiled.count, "every checked default is a default of the table")
    }

    /// The gateway's config types, built without arguments (as tests do), carry the schema's defaults too.
    func testGatewayConfigInitDefaultsAreTheSchemas() {
        XCTAssertEqual(ActiveHealthCheck().path, "/healthz")
        XCTAssertEqual(ActiveHealthCheck().path, SchemaDefaults.activePath)
        XCTAssertEqual(RampartGateway.Timeouts(), RampartGateway.Timeouts(connectMs: 5_000, sendMs: 60_000, readMs: 60_000))
        XCTAssertEqual(KeepaliveConfig(), KeepaliveConfig(maxIdle: 64, idleTimeoutMs: 60_000))
        XCTAssertEqual(PassiveHealthCheck().statuses, [502, 503, 504])
        XCTAssertEqual(KeyAuthConfig(keyDigests: []).header, "apikey")
        XCTAssertEqual(UpstreamConfig(id: "u", nodes: []).retries, 1)
    }

    /// Kinds the gateway does not serve: the decoded value is the table's.
    func testOtherKindsDecodeToTheSchemaDefaults() throws {
        let yaml = """
        apiVersion: rampart.io/v1alpha1
        kind: AlertRule
        metadata: {name: a}
        spec: {condition: {type: reloadFailed}, contactPoints: [{name: c}]}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: ContactPoint
        metadata: {name: c}
        spec: {type: webhook, url: "https://hooks.example/x"}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: SecretRef
        metadata: {name: s}
        spec: {provider: env, env: {name: X}}
        """
        let r = ManifestDecoder(dev: true).decode(file: "t.yaml", bytes: Array(yaml.utf8))
        XCTAssertEqual(r.diagnostics.filter { $0.severity == .error }.map(\.description), [])
        let rule = try XCTUnwrap(r.resources.compactMap(\.alertRule).first)
        let fields = Dictionary(defaulted(KindSchemas.alertRule).map { ($0.0, expected($0.1)) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(String(rule.windowMs), fields["condition.window"])
        XCTAssertEqual(rule.severity, fields["severity"])
        XCTAssertEqual(rule.scope.rawValue, fields["condition.scope"])
        XCTAssertEqual(String(rule.intervalMs), fields["interval"])
        XCTAssertEqual(String(rule.forMs), fields["for"])
        XCTAssertEqual(String(rule.repeatIntervalMs), fields["repeatInterval"])
        let cp = try XCTUnwrap(r.resources.compactMap(\.contactPoint).first)
        XCTAssertEqual(String(cp.timeoutMs), defaulted(KindSchemas.contactPoint).first { $0.0 == "timeout" }.map { expected($0.1) })
        let sr = try XCTUnwrap(r.resources.compactMap(\.secretRef).first)
        XCTAssertEqual(String(sr.refreshIntervalMs), defaulted(KindSchemas.secretRef).first { $0.0 == "refreshInterval" }.map { expected($0.1) })
    }
}
