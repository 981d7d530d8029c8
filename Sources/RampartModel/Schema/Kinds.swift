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
            Field("header", .string(.token), default: D.s("apikey"), doc: "the request header that carries the key"),
            Field("query", .string(), default: D.s("apikey"), doc: "the query parameter that carries the key"),
            Field("keys", .array(.sensitive, minItems: 1), required: true, doc: "the accepted API keys"),
        ]), doc: "401 without a valid API key"),
        Field("basic-auth", .object([
            Field("users", .array(.object([
                Field("username", .string(), required: true),
                Field("password", .sensitive, required: true, doc: "the user's password, compared as a PBKDF2 hash"),
            ]), minItems: 1), required: true, doc: "the accepted users"),
        ]), doc: "HTTP Basic authentication; passwords compared as PBKDF2 hashes"),
        Field("ip-restriction", .object([
            Field("allow", .array(.string(.cidr)), doc: "client networks admitted; absent = every address"),
            Field("deny", .array(.string(.cidr)), doc: "client networks refused, even when allow admits them"),
        ]), doc: "403 unless the client address is allowed and not denied"),
        Field("limit-count", .object([
            Field("count", .integer(min: Bounds.limitCountCount.lowerBound, max: Bounds.limitCountCount.upperBound), required: true),
            Field("window", .string(.duration(Bounds.limitCountWindow)), required: true),
            Field("key", .string(.limitKey), default: D.s("remote_addr")),
            Field("policy", .string(.oneOf(["local", "redis"])), default: D.s("local"), doc: "local: counters in this process; redis: counters shared through Redis"),
            Field("redis", .object([
                Field("host", .string(.host), required: true),
                Field("port", .integer(min: 1, max: 65535), default: D.i(6379)),
                Field("password", .sensitive),
                Field("database", .integer(min: 0, max: 15), default: D.i(0)),
                Field("tls", .boolean, default: D.b(false)),
            ]), doc: "the Redis server of policy redis"),
            Field("failOpen", .boolean, default: D.b(true), doc: "when Redis cannot be reached: true admits the request, false answers 503"),
        ]), doc: "429 past count requests per window"),
        Field("proxy-rewrite", .object([
            Field("uri", .string(), doc: "replace the path sent upstream"),
            Field("regexUri", .array(.string(), minItems: 2), doc: "[regular expression, replacement]: rewrite the path sent upstream"),
            Field("host", .string(), doc: "replace the Host header sent upstream"),
            Field("headers", headerOps),
        ]), doc: "rewrite the upstream request"),
        Field("response-headers", headerOps, doc: "change response headers"),
        Field("cors", .object([
            Field("allowOrigins", .array(.string()), doc: "origins answered with CORS headers; * = any origin (not with allowCredentials)"),
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
        Field("methods", .array(.string(.oneOf(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"]))), doc: "absent = any method"),
        Field("headers", .array(.object([
            Field("name", .string(.token), required: true),
            Field("value", .string(), required: true),
        ])), doc: "exact-match conditions, all must match"),
        Field("priority", .integer(min: -1_000_000, max: 1_000_000), default: D.i(0), doc: "higher wins among equally specific matches"),
        Field("upstreamRef", Reference.schema, doc: "the Upstream to proxy to"),
        Field("upstream", upstream, doc: "an inline Upstream spec"),
        Field("timeout", timeout, doc: "overrides the Upstream's timeouts"),
        Field("websocket", .boolean, default: D.b(false), doc: "allow Upgrade: websocket tunnelling"),
        Field("plugins", plugins, doc: "run in a fixed order before proxying; all optional"),
    ])

    public static let upstream: Schema = .object([
        Field("nodes", .array(.object([
            Field("host", .string(.host), required: true),
            Field("port", .integer(min: 1, max: 65535), required: true),
            Field("weight", .integer(min: 0, max: 10_000), default: D.i(1), doc: "share of requests relative to the other nodes; 0 = none"),
        ])), doc: "the backend addresses; at least one unless service is given"),
        Field("service", .object([
            Field("name", .string(.dns1123), required: true),
            Field("port", .integer(min: 1, max: 65535), required: true),
        ]), doc: "Kubernetes source only: nodes from EndpointSlices"),
        Field("loadBalancer", .object([
            Field("type", .string(.oneOf(["roundrobin", "least_conn", "chash", "ewma"])), default: D.s("roundrobin"), doc: "how a node is picked for a request"),
            Field("hashOn", .string(.hashKey), doc: "what chash hashes on (required with chash)"),
        ])),
        Field("scheme", .string(.oneOf(["http", "https"])), default: D.s("http"), doc: "https: TLS to the nodes, per tls"),
        Field("tls", .object([
            Field("sni", .string(.hostPattern), doc: "server name sent and verified (default: the node's host)"),
            Field("verify", .boolean, default: D.b(true), doc: "verify the upstream's certificate"),
            Field("caRef", Reference.schema, doc: "an SSL whose certificate is the CA bundle to verify against (default: the system store)"),
            Field("clientCertRef", Reference.schema, doc: "an SSL whose certificate and key are presented to the upstream (mTLS)"),
        ]), doc: "upstream TLS, when scheme is https"),
        Field("healthCheck", .object([
            Field("active", .object([
                Field("path", .string(.routePath), default: D.s("/healthz")),
                Field("interval", .string(.duration(Bounds.healthCheckInterval)), default: D.s("5s")),
                Field("timeout", .string(.duration(Bounds.healthCheckTimeout)), default: D.s("1s")),
                Field("healthyAfter", .integer(min: 1, max: 100), default: D.i(2)),
                Field("unhealthyAfter", .integer(min: 1, max: 100), default: D.i(3), doc: "consecutive failed probes before a node is taken out"),
                Field("expectStatus", .array(.integer(min: 100, max: 599)), default: D.list([D.i(200)]), doc: "statuses a probe counts as healthy"),
            ]), doc: "probe each node's path"),
            Field("passive", .object([
                Field("unhealthyAfter", .integer(min: 1, max: 100), default: D.i(3), doc: "consecutive failures before a node is taken out"),
                Field("on", .array(.intOrString), default: D.list([D.i(502), D.i(503), D.i(504), D.s("connect-failure"), D.s("timeout")]), doc: "statuses and errors (connect-failure, timeout) that count as failures"),
            ]), doc: "judge nodes by the responses to real requests"),
        ])),
        Field("retries", .integer(min: 0, max: 10), default: D.i(1), doc: "further tries on another node after a connect failure"),
        Field("keepalive", .object([
            Field("maxIdle", .integer(min: 0, max: 100_000), default: D.i(64)),
            Field("idleTimeout", .string(.duration(Bounds.keepaliveIdleTimeout)), default: D.s("60s")),
        ])),
        Field("timeout", timeout, doc: "upstream timeouts; a Route's timeout overrides them"),
    ])

    public static let ssl: Schema = .object([
        Field("type", .string(.oneOf(["server", "client"])), default: D.s("server"), doc: "server: terminates downstream TLS; client: a certificate presented to upstreams, or a CA bundle"),
        Field("snis", .array(.string(.hostPattern)), doc: "host names this certificate serves (server type: at least one)"),
        Field("certificate", .sensitive, required: true, doc: "PEM chain"),
        Field("privateKey", .sensitive, doc: "PEM key (required for server certificates and client certificates presented to upstreams)"),
        Field("clientAuth", .object([
            Field("ca", .sensitive, required: true, doc: "PEM CA bundle that client certificates must chain to"),
            Field("mode", .string(.oneOf(["require", "optional"])), default: D.s("require"), doc: "require: no handshake without a valid client certificate; optional: admitted as anonymous without one"),
            Field("depth", .integer(min: 1, max: 10), default: D.i(2), doc: "longest accepted client certificate chain"),
        ]), doc: "downstream mTLS, for the server type"),
        Field("minVersion", .string(.tlsVersion), default: D.s("TLSv1.2"), doc: "lowest TLS version accepted"),
    ])

    public static let keyring: Schema = .object([
        Field("keys", .array(.object([
            Field("id", .string(.token), required: true, doc: "the key id, named in every ciphertext it makes"),
            Field("material", .sensitive, required: true, doc: "32 random bytes in base64, or a passphrase stretched with PBKDF2-SHA256"),
        ]), minItems: 1), required: true, doc: "first = primary (encrypts); every key decrypts"),
    ])

    public static let secretRef: Schema = .object([
        Field("provider", .string(.oneOf(["vault", "aws", "kubernetes", "env", "file"])), required: true),
        Field("refreshInterval", .string(.duration(Bounds.secretRefreshInterval)), default: D.s("5m")),
        Field("vault", .object([
            Field("address", .string(.url), required: true, doc: "the Vault server"),
            Field("path", .string(), required: true, doc: "the KV path as in the HTTP API (v2: secret/data/NAME; v1: secret/NAME)"),
            Field("kvVersion", .integer(min: 1, max: 2), default: D.i(2)),
            Field("namespace", .string(), doc: "sent as X-Vault-Namespace"),
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
            ]), required: true, doc: "exactly one of token, kubernetes, appRole"),
            Field("tls", .object([
                Field("ca", .sensitive),
                Field("insecureSkipVerify", .boolean, default: D.b(false)),
            ])),
        ])),
        Field("aws", .object([
            Field("region", .string(), required: true),
            Field("secretId", .string(), required: true),
            Field("versionStage", .string(), default: D.s("AWSCURRENT"), doc: "the version stage read"),
            Field("endpoint", .string(.url), doc: "an endpoint override (VPC endpoints, tests)"),
            Field("credentials", .object([
                Field("fromEnvironment", .boolean),
                Field("accessKeyId", .sensitive),
                Field("secretAccessKey", .sensitive),
                Field("sessionToken", .sensitive),
                Field("webIdentity", .object([
                    Field("roleArn", .string(), required: true),
                    Field("tokenFile", .string(), required: true),
                ])),
            ]), doc: "exactly one way; absent = the process environment"),
        ]), doc: "AWS Secrets Manager"),
        Field("kubernetes", .object([
            Field("secretName", .string(.dns1123), required: true),
            Field("namespace", .string(.dns1123)),
        ]), doc: "a Secret read from the Kubernetes API"),
        Field("env", .object([Field("name", .string(), required: true)]), doc: "an environment variable of the rampart process"),
        Field("file", .object([Field("path", .string(), required: true)]), doc: "the content of a file"),
    ])

    public static let alertRule: Schema = .object([
        Field("condition", .object([
            Field("type", .string(.oneOf(AlertConditionType.allCases.map(\.rawValue))), required: true, doc: "what the condition watches"),
            Field("threshold", .intOrString),
            Field("window", .string(.duration(Bounds.alertWindow)), default: D.s("5m")),
            Field("scope", .string(.oneOf(AlertScope.allCases.map(\.rawValue))), default: D.s(AlertScope.route.rawValue),
                  doc: "errorRate, latency: one alert per route, or one over all selected routes together"),
            Field("selector", .object([
                Field("routes", .array(.string())),
                Field("upstreams", .array(.string())),
                Field("snis", .array(.string(.hostPattern))),
            ])),
        ]), required: true, doc: "what makes the alert fire"),
        Field("severity", .string(.oneOf(["critical", "warning", "info"])), default: D.s("warning")),
        Field("interval", .string(.duration(Bounds.alertInterval)), default: D.s("30s")),
        Field("for", .string(.duration(Bounds.alertFor)), default: D.s("0s")),
        Field("repeatInterval", .string(.duration(Bounds.alertRepeatInterval)), default: D.s("4h")),
        Field("labels", .map(.string())),
        Field("message", .string(), doc: "the notification text; {{name}} placeholders take the condition's facts"),
        Field("contactPoints", .array(Reference.schema, minItems: 1), required: true, doc: "who is notified"),
    ])

    public static let contactPoint: Schema = .object([
        Field("type", .string(.oneOf(["webhook", "alertmanager", "slack"])), required: true, doc: "the kind of endpoint"),
        Field("url", .string(.url), required: true, doc: "where notifications are posted (alertmanager: its base URL)"),
        Field("headers", .map(.sensitive), doc: "extra request headers, such as Authorization"),
        Field("hmacSecret", .sensitive),
        Field("timeout", .string(.duration(Bounds.contactPointTimeout)), default: D.s("5s")),
    ])
}
