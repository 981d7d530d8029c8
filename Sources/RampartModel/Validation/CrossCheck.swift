import RampartYAML

/// Checks that need every resource at once: duplicates, dangling references, one Keyring per group, identical routes.
public enum CrossCheck {
    public struct Result: Sendable {
        public var diagnostics: [Diagnostic] = []
        /// Resources that must not be served because of a cross-resource error.
        public var invalid: Set<ResourceKey> = []
    }

    /// `alsoExisting`: keys of resources that exist but were rejected on their own (references to them are not dangling).
    /// `rejected`: documents that name a resource but failed their own checks; references to them are
    /// not dangling, and a valid resource with the same name is still a duplicate.
    public static func run(_ resources: [Resource], rejected: [(key: ResourceKey, origin: Origin)] = []) -> Result {
        var r = Result()
        var first: [ResourceKey: Resource] = [:]
        var seen: [ResourceKey: Origin] = [:]
        let named = (resources.map { (key: $0.key, origin: $0.origin, valid: true) } + rejected.map { (key: $0.key, origin: $0.origin, valid: false) })
            .sorted { ($0.origin.file, $0.origin.mark) < ($1.origin.file, $1.origin.mark) }
        for n in named {
            if let prev = seen[n.key] {
                r.diagnostics.append(Diagnostic(file: n.origin.file, mark: n.origin.mark, resource: n.key.description, path: "metadata.name",
                                                message: "duplicate \(n.key.kind.rawValue) \(n.key.namespace)/\(n.key.name); first defined at \(prev); this one is ignored"))
            } else {
                seen[n.key] = n.origin
            }
        }
        for res in resources where first[res.key] == nil && seen[res.key] == res.origin { first[res.key] = res }
        let alsoExisting = Set(rejected.map(\.key))
        let exists = Set(first.keys).union(alsoExisting)
        func dangling(_ res: Resource, _ path: String, _ mark: Mark?, _ kind: Kind, _ ref: Reference) {
            guard !exists.contains(ResourceKey(kind, ref.namespace, ref.name)) else { return }
            r.diagnostics.append(Diagnostic(file: res.origin.file, mark: mark ?? res.origin.mark, resource: res.key.description, path: path,
                                            message: "\(kind.rawValue) \(ref.namespace)/\(ref.name) does not exist"))
            r.invalid.insert(res.key)
        }
        var keyrings: [String: Resource] = [:]
        var routeMatches: [String: Resource] = [:]
        for res in resources {
            let spec = res.specNode
            let ns = res.key.namespace
            if let spec {
                SchemaWalker.sensitiveNodes(spec, KindSchemas.spec(res.kind), path: "spec") { path, node in
                    if let ref = node["secretRef"], let name = ref.str("name") {
                        dangling(res, "\(path).secretRef", ref.mark, .secretRef, Reference(name: name, namespace: ref.str("namespace") ?? ns))
                    }
                }
            }
            switch res.spec {
            case .route(let route):
                if let ref = route.upstreamRef { dangling(res, "spec.upstreamRef", spec?["upstreamRef"]?.mark, .upstream, ref) }
                if let u = route.upstream { upstreamRefs(res, u, "spec.upstream", spec?["upstream"], dangling) }
                let sig = "\(res.metadata.gatewayGroup)|\(route.matchSignature)"
                if let prev = routeMatches[sig] {
                    r.diagnostics.append(Diagnostic(file: res.origin.file, mark: spec?["paths"]?.mark ?? res.origin.mark, resource: res.key.description,
                                                    path: "spec", message: "matches exactly the same requests as \(prev.key) (\(prev.origin)); give one a different priority or condition"))
                    r.invalid.insert(res.key)
                } else {
                    routeMatches[sig] = res
                }
            case .upstream(let u):
                upstreamRefs(res, u, "spec", spec, dangling)
            case .alertRule(let a):
                for (i, ref) in a.contactPoints.enumerated() {
                    dangling(res, "spec.contactPoints[\(i)]", spec?["contactPoints"]?.sequence?[safe: i]?.mark, .contactPoint, ref)
                }
            case .keyring:
                let group = res.metadata.gatewayGroup
                if let prev = keyrings[group] {
                    r.diagnostics.append(Diagnostic(file: res.origin.file, mark: res.origin.mark, resource: res.key.description, path: "",
                                                    message: "gateway group \"\(group)\" already has Keyring \(prev.key.namespace)/\(prev.key.name) (\(prev.origin)); one Keyring per group"))
                    r.invalid.insert(res.key)
                } else {
                    keyrings[group] = res
                }
            default:
                break
            }
        }
        r.diagnostics.sort(by: Diagnostic.sourceOrder)
        return r
    }

    private static func upstreamRefs(_ res: Resource, _ u: UpstreamSpec, _ path: String, _ node: Node?,
                                     _ dangling: (Resource, String, Mark?, Kind, Reference) -> Void) {
        if let ca = u.tls?.caRef { dangling(res, "\(path).tls.caRef", node?["tls"]?["caRef"]?.mark, .ssl, ca) }
        if let cc = u.tls?.clientCertRef { dangling(res, "\(path).tls.clientCertRef", node?["tls"]?["clientCertRef"]?.mark, .ssl, cc) }
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { i >= 0 && i < count ? self[i] : nil }
}
