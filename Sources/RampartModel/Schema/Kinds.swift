import RampartYAML

/// The field tables of every kind's `spec`: the one source of truth for checks, defaults, masking and CRDs.
public enum KindSchemas {
    public static func spec(_ kind: Kind) -> Schema {
        switch kind {
        case .route: return route
        case .upstream: return upstream
        case .ssl: return ssl
        case .keyring: return keyring
        case .secretRef: return secretRef
        case .alertRule: return alertRule
        case .contactPoint: return contactPoint
        }
    }

    static let timeout: Schema = .object([
        Field("connect", .string(.duration(Bounds.upstreamTimeout)), default: D.s("5s"), doc: "upstream connect timeout"),
        Field("send", .string(.duration(Bounds.upstreamTimeout)), default: D.s("60s"), doc: "upstream send timeout"),
        Field("read", .string(.duration(Bounds.upstreamTimeout)), default: D.s("60s"), doc: "upstream read timeout"),
    ])

    static let headerOps: Schema = .object([
        Field("set", .map(.string()), doc: "replace these headers"),
        Field("add", .map(.string()), doc: "append these headers"),
        Field("remove", .array(.string(.token)), doc: "remove these headers"),
    ])

    static let plugins: Schema = .object([
        Field("key-auth", .object([
            Field("header", .string(.token), default: D.s("apikey")),
            Field("query", .string(), default: D.s("apikey")),
            Field("keys", .array(.sensitive, minItems: 1), required: true),
        ]), doc: "401 without a valid API key"),
        Field("basic-auth", .object([
            Field("users", .array(.object([
                Field("username", .string(), required: true),
                Field("password", .sensitive, required: true),
            ]), minItems: 1), required: true),
        ]), doc: "HTTP Basic authentication; passwords compared as PBKDF2 hashes"),
        Field("ip-restriction", .object([
            Field("allow", .array(.string(.cidr))),
            Field("deny", .array(.string(.cidr))),
        ]), doc: "403 unless the client address is allowed and not denied"),
        Field("limit-count", .object([
            Field("count", .integer(min: Bounds.limitCountCount.lowerBound, max: Bounds.limitCountCount.upperBound), required: true),
            Field("window", .string(.duration(Bounds.limitCountWindow)), required: true),
            Field("key", .string(.limitKey), default: D.s("remote_addr")),
            Field("policy", .string(.oneOf(["local", "redis"])), default: D.s("local")),
            Field("redis", .object([
                Field("host", .string(.host), required: true),
                Field("port", .integer(min: 1, max: 65535), default: D.i(6379)),
                Field("password", .sensitive),
                Field("database", .integer(min: 0, max: 15), default: D.i(0)),
                Field("tls", .boolean, default: D.b(false)),
            ])),
            Field("failOpen", .boolean, default: D.b(true)),
        ]), doc: "429 past count requests per window"),
        Field("proxy-rewrite", .object([
            Field("uri", .string()),
            Field("regexUri", .array(.string(), minItems: 2)),
            Field("host", .string()),
            Field("headers", headerOps),
        ]), doc: "rewrite the upstream request"),
        Field("response-headers", headerOps, doc: "change response headers"),
        Field("cors", .object([
            Field("allowOrigins", .array(.string())),
            Field("allowMethods", .array(.string(.token))),
            Field("allowHeaders", .array(.string(.token))),
            Field("exposeHeaders", .array(.string(.token))),
            Field("maxAge", .string(.duration(Bounds.corsMaxAge)), default: D.s("5s")),
            Field("allowCredentials", .boolean, default: D.b(false)),
        ]), doc: "CORS preflight and response headers"),
    ])

    public static let route: Schema = .object([
        Field("hosts", .array(.string(.hostPattern)), doc: "exact or one leading wildcard label; absent = any host"),
        Field("paths", .array(.string(.routePath), minItems: 1), required: true, doc: "exact, or prefix ending /*"),
        Field("methods", .array(.string(.oneOf(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"])))),
        Field("headers", .array(.object([
            Field("name", .string(.token), required: true),
            Field("value", .string(), required: true),
        ])), doc: "exact-match conditions, all must match"),
        Field("priority", .integer(min: -1_000_000, max: 1_000_000), default: D.i(0)),
        Field("upstreamRef", Reference.schema, doc: "the Upstream to proxy to"),
        Field("upstream", upstream, doc: "an inline Upstream spec"),
        Field("timeout", timeout),
        Field("websocket", .boolean, default: D.b(false)),
        Field("plugins", plugins),
    ])

    public static let upstream: Schema = .object([
        Field("nodes", .array(.object([
            Field("host", .string(.host), required: true),
            Field("port", .integer(min: 1, max: 65535), required: true),
            Field("weight", .integer(min: 0, max: 10_000), default: D.i(1)),
        ]))),
        Field("service", .object([
            Field("name", .string(.dns1123), required: true),
            Field("port", .integer(min: 1, max: 65535), required: true),
        ]), doc: "Kubernetes source only: nodes from EndpointSlices"),
        Field("loadBalancer", .object([
            Field("type", .string(.oneOf(["roundrobin", "least_conn", "chash", "ewma"])), default: D.s("roundrobin")),
            Field("hashOn", .string(.hashKey)),
        ])),
        Field("scheme", .string(.oneOf(["http", "https"])), default: D.s("http")),
        Field("tls", .object([
            Field("sni", .string(.hostPattern)),
            Field("verify", .boolean, default: D.b(true)),
            Field("caRef", Reference.schema),
            Field("clientCertRef", Reference.schema),
        ])),
        Field("healthCheck", .object([
            Field("active", .object([
                Field("path", .string(.routePath), default: D.s("/healthz")),
                Field("interval", .string(.duration(Bounds.healthCheckInterval)), default: D.s("5s")),
                Field("timeout", .string(.duration(Bounds.healthCheckTimeout)), default: D.s("1s")),
                Field("healthyAfter", .integer(min: 1, max: 100), default: D.i(2)),
                Field("unhealthyAfter", .integer(min: 1, max: 100), default: D.i(3)),
                Field("expectStatus", .array(.integer(min: 100, max: 599)), default: D.list([D.i(200)])),
            ])),
            Field("passive", .object([
                Field("unhealthyAfter", .integer(min: 1, max: 100), default: D.i(3)),
                Field("on", .array(.intOrString), default: D.list([D.i(502), D.i(503), D.i(504), D.s("connect-failure"), D.s("timeout")])),
            ])),
        ])),
        Field("retries", .integer(min: 0, max: 10), default: D.i(1)),
        Field("keepalive", .object([
            Field("maxIdle", .integer(min: 0, max: 100_000), default: D.i(64)),
            Field("idleTimeout", .string(.duration(Bounds.keepaliveIdleTimeout)), default: D.s("60s")),
        ])),
        Field("timeout", timeout),
    ])

    public static let ssl: Schema = .object([
        Field("type", .string(.oneOf(["server", "client"])), default: D.s("server")),
        Field("snis", .array(.string(.hostPattern))),
        Field("certificate", .sensitive, required: true, doc: "PEM chain"),
        Field("privateKey", .sensitive, doc: "PEM key (required for server certificates and client certificates presented to upstreams)"),
        Field("clientAuth", .object([
            Field("ca", .sensitive, required: true),
            Field("mode", .string(.oneOf(["require", "optional"])), default: D.s("require")),
            Field("depth", .integer(min: 1, max: 10), default: D.i(2)),
        ])),
        Field("minVersion", .string(.tlsVersion), default: D.s("TLSv1.2")),
    ])

    public static let keyring: Schema = .object([
        Field("keys", .array(.object([
            Field("id", .string(.token), required: true),
            Field("material", .sensitive, required: true),
        ]), minItems: 1), required: true, doc: "first = primary (encrypts); every key decrypts"),
    ])

    public static let secretRef: Schema = .object([
        Field("provider", .string(.oneOf(["vault", "aws", "kubernetes", "env", "file"])), required: true),
        Field("refreshInterval", .string(.duration(Bounds.secretRefreshInterval)), default: D.s("5m")),
        Field("vault", .object([
            Field("address", .string(.url), required: true),
            Field("path", .string(), required: true),
            Field("kvVersion", .integer(min: 1, max: 2), default: D.i(2)),
            Field("namespace", .string()),
            Field("auth", .object([
                Field("token", .sensitive),
                Field("kubernetes", .object([
                    Field("role", .string(), required: true),
                    Field("mountPath", .string(), default: D.s("kubernetes")),
                    Field("tokenPath", .string(), default: D.s("/var/run/secrets/kubernetes.io/serviceaccount/token")),
                ])),
                Field("appRole", .object([
                    Field("roleId", .sensitive, required: true),
                    Field("secretId", .sensitive, required: true),
                    Field("mountPath", .string(), default: D.s("approle")),
                ])),
            ]), required: true),
            Field("tls", .object([
                Field("ca", .sensitive),
                Field("insecureSkipVerify", .boolean, default: D.b(false)),
            ])),
        ])),
        Field("aws", .object([
            Field("region", .string(), required: true),
            Field("secretId", .string(), required: true),
            Field("versionStage", .string(), default: D.s("AWSCURRENT")),
            Field("endpoint", .string(.url)),
            Field("credentials", .object([
                Field("fromEnvironment", .boolean),
                Field("accessKeyId", .sensitive),
                Field("secretAccessKey", .sensitive),
                Field("sessionToken", .sensitive),
                Field("webIdentity", .object([
                    Field("roleArn", .string(), required: true),
                    Field("tokenFile", .string(), required: true),
                ])),
            ])),
        ])),
        Field("kubernetes", .object([
            Field("secretName", .string(.dns1123), required: true),
            Field("namespace", .string(.dns1123)),
        ])),
        Field("env", .object([Field("name", .string(), required: true)])),
        Field("file", .object([Field("path", .string(), required: true)])),
    ])

    public static let alertRule: Schema = .object([
        Field("condition", .object([
            Field("type", .string(.oneOf(AlertConditionType.allCases.map(\.rawValue))), required: true),
            Field("threshold", .intOrString),
            Field("window", .string(.duration(Bounds.alertWindow)), default: D.s("5m")),
            Field("selector", .object([
                Field("routes", .array(.string())),
                Field("upstreams", .array(.string())),
                Field("snis", .array(.string(.hostPattern))),
            ])),
        ]), required: true),
        Field("severity", .string(.oneOf(["critical", "warning", "info"])), default: D.s("warning")),
        Field("interval", .string(.duration(Bounds.alertInterval)), default: D.s("30s")),
        Field("for", .string(.duration(Bounds.alertFor)), default: D.s("0s")),
        Field("repeatInterval", .string(.duration(Bounds.alertRepeatInterval)), default: D.s("4h")),
        Field("labels", .map(.string())),
        Field("message", .string()),
        Field("contactPoints", .array(Reference.schema, minItems: 1), required: true),
    ])

    public static let contactPoint: Schema = .object([
        Field("type", .string(.oneOf(["webhook", "alertmanager", "slack"])), required: true),
        Field("url", .string(.url), required: true),
        Field("headers", .map(.sensitive)),
        Field("hmacSecret", .sensitive),
        Field("timeout", .string(.duration(Bounds.contactPointTimeout)), default: D.s("5s")),
    ])
}
