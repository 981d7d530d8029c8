import RampartYAML

/// A kind's typed spec.
public enum Spec: Sendable {
    case route(RouteSpec)
    case upstream(UpstreamSpec)
    case ssl(SSLSpec)
    case keyring(KeyringSpec)
    case secretRef(SecretRefSpec)
    case alertRule(AlertRuleSpec)
    case contactPoint(ContactPointSpec)
}

/// Where a resource was read from.
public struct Origin: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var mark: Mark

    public init(file: String, mark: Mark) {
        self.file = file
        self.mark = mark
    }

    public var description: String { "\(file):\(mark)" }
}

/// One decoded, schema-checked resource with its source document.
///
/// A final class: resources are immutable once decoded and pass through sets of thousands,
/// so sharing one reference beats copying every field.
public final class Resource: Sendable {
    public let key: ResourceKey
    public let metadata: Metadata
    public let spec: Spec
    /// The whole document as read; canonical form and diffs are made from it.
    public let document: Node
    public let origin: Origin

    public init(key: ResourceKey, metadata: Metadata, spec: Spec, document: Node, origin: Origin) {
        self.key = key
        self.metadata = metadata
        self.spec = spec
        self.document = document
        self.origin = origin
    }

    public var kind: Kind { key.kind }
    public var specNode: Node? { document["spec"] }

    public var route: RouteSpec? { if case .route(let s) = spec { return s }; return nil }
    public var upstream: UpstreamSpec? { if case .upstream(let s) = spec { return s }; return nil }
    public var ssl: SSLSpec? { if case .ssl(let s) = spec { return s }; return nil }
    public var keyring: KeyringSpec? { if case .keyring(let s) = spec { return s }; return nil }
    public var secretRef: SecretRefSpec? { if case .secretRef(let s) = spec { return s }; return nil }
    public var alertRule: AlertRuleSpec? { if case .alertRule(let s) = spec { return s }; return nil }
    public var contactPoint: ContactPointSpec? { if case .contactPoint(let s) = spec { return s }; return nil }

    static func decodeSpec(_ kind: Kind, _ n: Node, namespace ns: String) -> Spec {
        switch kind {
        case .route: return .route(RouteSpec.decode(n, namespace: ns))
        case .upstream: return .upstream(UpstreamSpec.decode(n, namespace: ns))
        case .ssl: return .ssl(SSLSpec.decode(n, namespace: ns))
        case .keyring: return .keyring(KeyringSpec.decode(n, namespace: ns))
        case .secretRef: return .secretRef(SecretRefSpec.decode(n))
        case .alertRule: return .alertRule(AlertRuleSpec.decode(n, namespace: ns))
        case .contactPoint: return .contactPoint(ContactPointSpec.decode(n, namespace: ns))
        }
    }
}
