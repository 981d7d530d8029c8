import RampartYAML

/// The seven resource kinds of `rampart.io/v1alpha1`.
public enum Kind: String, Sendable, CaseIterable, Hashable, Comparable {
    case route = "Route"
    case upstream = "Upstream"
    case ssl = "SSL"
    case keyring = "Keyring"
    case secretRef = "SecretRef"
    case alertRule = "AlertRule"
    case contactPoint = "ContactPoint"

    public static func < (a: Kind, b: Kind) -> Bool {
        (allCases.firstIndex(of: a) ?? 0) < (allCases.firstIndex(of: b) ?? 0)
    }
}

public let apiGroup = "rampart.io"
public let apiVersion = "rampart.io/v1alpha1"
public let gatewayGroupLabel = "rampart.io/gateway-group"
public let defaultCertLabel = "rampart.io/default-cert"

/// A resource's identity: kind, namespace and name.
public struct ResourceKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var kind: Kind
    public var namespace: String
    public var name: String

    public init(_ kind: Kind, _ namespace: String, _ name: String) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
    }

    /// `Route shop/orders`
    public var description: String { "\(kind.rawValue) \(namespace)/\(name)" }

    public static func < (a: ResourceKey, b: ResourceKey) -> Bool {
        (a.kind, a.namespace, a.name) < (b.kind, b.namespace, b.name)
    }
}

/// A reference `{name, namespace?}`, resolved in the referrer's namespace by default.
public struct Reference: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var namespace: String

    public init(name: String, namespace: String) {
        self.name = name
        self.namespace = namespace
    }

    public var description: String { "\(namespace)/\(name)" }

    static let schema: Schema = .object([
        Field("name", .string(.dns1123), required: true),
        Field("namespace", .string(.dns1123)),
    ])

    static func decode(_ node: Node?, namespace: String) -> Reference? {
        guard let node, let name = node["name"]?.scalar?.text else { return nil }
        return Reference(name: name, namespace: node["namespace"]?.scalar?.text ?? namespace)
    }
}

/// Standard object metadata.
public struct Metadata: Sendable, Hashable {
    public var name: String
    public var namespace: String
    public var labels: [String: String]
    public var annotations: [String: String]
    public var generation: Int?
    public var resourceVersion: String?

    public init(name: String, namespace: String = "default", labels: [String: String] = [:], annotations: [String: String] = [:],
                generation: Int? = nil, resourceVersion: String? = nil) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
        self.generation = generation
        self.resourceVersion = resourceVersion
    }

    /// The gateway group this resource belongs to (`default` when unlabelled).
    public var gatewayGroup: String { labels[gatewayGroupLabel] ?? "default" }

    static let kubernetesSets = "set by Kubernetes; accepted and ignored"

    static let schema: Schema = .object([
        Field("name", .string(.dns1123), required: true, doc: "unique per kind and namespace"),
        Field("namespace", .string(.dns1123), default: D.s("default"), doc: "references without a namespace resolve in this one"),
        Field("labels", .map(.string()), doc: "\(gatewayGroupLabel) names the gateway group (absent: default); \(defaultCertLabel): \"true\" marks an SSL as the certificate for handshakes no SNI matches"),
        Field("annotations", .map(.string())),
        Field("generation", .integer(min: 0), doc: "set by Kubernetes"),
        Field("resourceVersion", .string(), doc: "set by Kubernetes"),
        // Fields Kubernetes sets on objects read from the API server; accepted and ignored.
        Field("uid", .string(), doc: kubernetesSets),
        Field("creationTimestamp", .string(), doc: kubernetesSets),
        Field("managedFields", .array(.any), doc: kubernetesSets),
        Field("finalizers", .array(.string()), doc: kubernetesSets),
        Field("ownerReferences", .array(.any), doc: kubernetesSets),
        Field("deletionTimestamp", .string(), doc: kubernetesSets),
        Field("deletionGracePeriodSeconds", .integer(), doc: kubernetesSets),
        Field("generateName", .string(), doc: kubernetesSets),
        Field("selfLink", .string(), doc: kubernetesSets),
    ])
}
