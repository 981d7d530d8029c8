import RampartYAML
import Synchronization

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
    /// Every reference this resource makes, found once at decode (cross-checks run on every reconcile).
    public let references: [ResourceReference]
    /// For a Route: what makes two routes' matches identical, within its gateway group.
    public let matchKey: String?
    /// The sensitive fields whose value comes from a SecretRef, by field path (found once at decode:
    /// every reconcile asks what they resolve to).
    public let secretRefFields: [(path: String, ref: Reference, key: String?)]
    /// The controller's content digest of this object once it is computed (`DesiredState.digest`):
    /// the object never changes, so neither does its digest, and a reconcile need not look it up.
    public let digestMemo = Mutex<String?>(nil)

    public init(key: ResourceKey, metadata: Metadata, spec: Spec, document: Node, origin: Origin) {
        self.key = key
        self.metadata = metadata
        self.spec = spec
        self.document = document
        self.origin = origin
        references = ResourceReference.all(in: spec, document["spec"], kind: key.kind, namespace: key.namespace, fallback: origin.mark)
        if case .route(let r) = spec { matchKey = metadata.gatewayGroup + "|" + r.matchSignature } else { matchKey = nil }
        var fields: [(path: String, ref: Reference, key: String?)] = []
        if let node = document["spec"] {
            SchemaWalker.sensitiveNodes(node, KindSchemas.spec(key.kind), path: "spec") { path, n in
                if let value = Sensitive.decode(n, namespace: key.namespace), case .secretRef(let ref, let field) = value.source {
                    fields.append((path, ref, field))
                }
            }
        }
        secretRefFields = fields
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

    /// The same resource with `spec` in place of its spec node (a stored ciphertext re-bound, say);
    /// the caller passes a spec that the schema check already accepted in another form.
    public func replacingSpec(_ spec: Node) -> Resource {
        guard case .mapping(let pairs) = document.value else { return self }
        let doc = Node(.mapping(pairs.map { $0.key.scalar?.text == "spec" ? Pair(key: $0.key, value: spec) : $0 }),
                       mark: document.mark, tag: document.tag)
        return Resource(key: key, metadata: metadata, spec: Self.decodeSpec(kind, spec, namespace: key.namespace), document: doc, origin: origin)
    }

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

/// One reference from a resource to another, with the field path and mark that name it.
public struct ResourceReference: Sendable {
    public var path: String
    public var mark: Mark
    public var kind: Kind
    public var target: Reference

    static func all(in spec: Spec, _ node: Node?, kind: Kind, namespace ns: String, fallback: Mark) -> [ResourceReference] {
        var out: [ResourceReference] = []
        if let node {
            SchemaWalker.sensitiveNodes(node, KindSchemas.spec(kind), path: "spec") { path, n in
                if let ref = n["secretRef"], let name = ref.str("name") {
                    out.append(ResourceReference(path: path + ".secretRef", mark: ref.mark, kind: .secretRef,
                                                 target: Reference(name: name, namespace: ref.str("namespace") ?? ns)))
                }
            }
        }
        func tls(_ u: UpstreamSpec, _ path: String, _ n: Node?) {
            if let ca = u.tls?.caRef { out.append(ResourceReference(path: path + ".tls.caRef", mark: n?["tls"]?["caRef"]?.mark ?? fallback, kind: .ssl, target: ca)) }
            if let cc = u.tls?.clientCertRef {
                out.append(ResourceReference(path: path + ".tls.clientCertRef", mark: n?["tls"]?["clientCertRef"]?.mark ?? fallback, kind: .ssl, target: cc))
            }
        }
        switch spec {
        case .route(let r):
            if let ref = r.upstreamRef { out.append(ResourceReference(path: "spec.upstreamRef", mark: node?["upstreamRef"]?.mark ?? fallback, kind: .upstream, target: ref)) }
            if let u = r.upstream { tls(u, "spec.upstream", node?["upstream"]) }
        case .upstream(let u):
            tls(u, "spec", node)
        case .alertRule(let a):
            for (i, ref) in a.contactPoints.enumerated() {
                out.append(ResourceReference(path: "spec.contactPoints[\(i)]", mark: node?["contactPoints"]?.sequence?[safe: i]?.mark ?? fallback,
                                             kind: .contactPoint, target: ref))
            }
        default:
            break
        }
        return out
    }
}
