import RampartYAML

/// The field tables' defaults as typed values, read from `KindSchemas` (where each is written once)
/// for the decoders and the gateway's config types. `SchemaDefaultsTests` proves each one reaches
/// the compiled snapshot.
public enum SchemaDefaults {
    /// The default of the field at a dotted path below a schema (`"timeout.send"`), nil if none.
    public static func node(_ schema: Schema, _ path: String) -> Node? {
        var fields = schema.fields ?? []
        var found: Field?
        for name in path.split(separator: ".") {
            guard let field = fields.first(where: { $0.name == name }) else { return nil }
            found = field
            switch field.schema {
            case .object(let sub): fields = sub
            case .array(.object(let sub), _): fields = sub
            default: fields = []
            }
        }
        return found?.defaultValue
    }

    static func text(_ schema: Schema, _ path: String) -> String { node(schema, path)?.scalar?.text ?? "" }
    static func int(_ schema: Schema, _ path: String) -> Int { Int(text(schema, path)) ?? 0 }
    static func bool(_ schema: Schema, _ path: String) -> Bool { text(schema, path) == "true" }
    static func ms(_ schema: Schema, _ path: String) -> Int { Values.durationMs(text(schema, path)) ?? 0 }
    static func list(_ schema: Schema, _ path: String) -> [String] {
        (node(schema, path)?.sequence ?? []).map { $0.scalar?.text ?? "" }
    }

    // Upstream (and Route) timeouts.
    public static let connectTimeoutMs = ms(KindSchemas.upstream, "timeout.connect")
    public static let sendTimeoutMs = ms(KindSchemas.upstream, "timeout.send")
    public static let readTimeoutMs = ms(KindSchemas.upstream, "timeout.read")

    // Upstream.
    public static let nodeWeight = int(KindSchemas.upstream, "nodes.weight")
    public static let loadBalancer = text(KindSchemas.upstream, "loadBalancer.type")
    public static let scheme = text(KindSchemas.upstream, "scheme")
    public static let tlsVerify = bool(KindSchemas.upstream, "tls.verify")
    public static let activePath = text(KindSchemas.upstream, "healthCheck.active.path")
    public static let activeIntervalMs = ms(KindSchemas.upstream, "healthCheck.active.interval")
    public static let activeTimeoutMs = ms(KindSchemas.upstream, "healthCheck.active.timeout")
    public static let activeHealthyAfter = int(KindSchemas.upstream, "healthCheck.active.healthyAfter")
    public static let activeUnhealthyAfter = int(KindSchemas.upstream, "healthCheck.active.unhealthyAfter")
    public static let activeExpectStatus = list(KindSchemas.upstream, "healthCheck.active.expectStatus").compactMap { Int($0) }
    public static let passiveUnhealthyAfter = int(KindSchemas.upstream, "healthCheck.passive.unhealthyAfter")
    /// Statuses and `connect-failure` / `timeout`.
    public static let passiveOn = list(KindSchemas.upstream, "healthCheck.passive.on")
    public static let retries = int(KindSchemas.upstream, "retries")
    public static let keepaliveMaxIdle = int(KindSchemas.upstream, "keepalive.maxIdle")
    public static let keepaliveIdleTimeoutMs = ms(KindSchemas.upstream, "keepalive.idleTimeout")

    // Route and its plugins.
    public static let priority = int(KindSchemas.route, "priority")
    public static let websocket = bool(KindSchemas.route, "websocket")
    public static let keyAuthHeader = text(KindSchemas.route, "plugins.key-auth.header")
    public static let keyAuthQuery = text(KindSchemas.route, "plugins.key-auth.query")
    public static let limitKey = text(KindSchemas.route, "plugins.limit-count.key")
    public static let limitPolicy = text(KindSchemas.route, "plugins.limit-count.policy")
    public static let redisPort = int(KindSchemas.route, "plugins.limit-count.redis.port")
    public static let redisDatabase = int(KindSchemas.route, "plugins.limit-count.redis.database")
    public static let redisTLS = bool(KindSchemas.route, "plugins.limit-count.redis.tls")
    public static let limitFailOpen = bool(KindSchemas.route, "plugins.limit-count.failOpen")
    public static let corsMaxAgeMs = ms(KindSchemas.route, "plugins.cors.maxAge")
    public static let corsAllowCredentials = bool(KindSchemas.route, "plugins.cors.allowCredentials")

    // SSL.
    public static let sslType = text(KindSchemas.ssl, "type")
    public static let clientAuthMode = text(KindSchemas.ssl, "clientAuth.mode")
    public static let clientAuthDepth = int(KindSchemas.ssl, "clientAuth.depth")
    public static let minTLSVersion = text(KindSchemas.ssl, "minVersion")

    // SecretRef, AlertRule, ContactPoint.
    public static let refreshIntervalMs = ms(KindSchemas.secretRef, "refreshInterval")
    public static let alertWindowMs = ms(KindSchemas.alertRule, "condition.window")
    public static let alertScope = text(KindSchemas.alertRule, "condition.scope")
    public static let alertSeverity = text(KindSchemas.alertRule, "severity")
    public static let alertIntervalMs = ms(KindSchemas.alertRule, "interval")
    public static let alertForMs = ms(KindSchemas.alertRule, "for")
    public static let alertRepeatIntervalMs = ms(KindSchemas.alertRule, "repeatInterval")
    public static let contactPointTimeoutMs = ms(KindSchemas.contactPoint, "timeout")
}
