import RampartYAML

/// Turns manifest bytes into resources and findings; invalid documents are reported and left out alone.
public struct ManifestDecoder: Sendable {
    /// `--dev`: inline plaintext secrets are accepted without a warning.
    public var dev: Bool
    public var limits: Limits
    /// Accept legacy `$enc:v1:` values (bound to the field only). Only `state.json` is read this way: it
    /// is Rampart's own file and its legacy values are re-bound at start; manifests refuse them.
    public var acceptsLegacyEncrypted: Bool
    /// Accept `{digest: ...}` markers for values that were not stored: `state.json` only.
    public var acceptsDigestMarkers: Bool

    public init(dev: Bool = false, limits: Limits = .default, acceptsLegacyEncrypted: Bool = false, acceptsDigestMarkers: Bool = false) {
        self.dev = dev
        self.limits = limits
        self.acceptsLegacyEncrypted = acceptsLegacyEncrypted
        self.acceptsDigestMarkers = acceptsDigestMarkers
    }

    /// The result of decoding one file.
    public struct Result: Sendable {
        public var resources: [Resource] = []
        public var diagnostics: [Diagnostic] = []
        /// Keys of documents that named a resource but failed validation (keep their last good version).
        public var rejected: [ResourceKey] = []
        /// Where each rejected document was (duplicate names are found across valid and invalid documents).
        public var rejectedOrigins: [(key: ResourceKey, origin: Origin)] = []
        /// New Routes that failed validation only in what they do, never in what they match: just
        /// their match keys (`RouteSpec.matchOnly`), so that their requests can be answered 503
        /// instead of falling through to a less specific Route.
        public var closedRoutes: [Resource] = []
        /// The file could not be parsed at all.
        public var unreadable = false

        public init() {}
    }

    public func decode(file: String, bytes: [UInt8]) -> Result {
        var result = Result()
        let docs: [Node]
        do {
            docs = try Parser(limits: limits).parse(bytes: bytes)
        } catch {
            result.unreadable = true
            result.diagnostics.append(Diagnostic(file: file, mark: error.mark, resource: nil, path: "", message: error.message))
            return result
        }
        for doc in docs {
            decodeDocument(doc, file: file, into: &result)
        }
        return result
    }

    static let envelope: Schema = .object([
        Field("apiVersion", .string(), required: true, doc: "\(RampartModel.apiVersion); a document of another API group is skipped with a warning"),
        Field("kind", .string(), required: true, doc: "one of " + Kind.allCases.map(\.rawValue).joined(separator: ", ")),
        Field("metadata", Metadata.schema, required: true, doc: "name, namespace, labels and annotations"),
        Field("spec", .any, required: true),
        Field("status", .any, doc: "written by Rampart to the Kubernetes API: observedGeneration and the conditions Accepted, ResolvedRefs, Ready; ignored in a manifest"),
    ])

    private func decodeDocument(_ doc: Node, file: String, into result: inout Result) {
        if case .scalar = doc.value, doc.resolved == .null { return }  // empty document ("---" at the end)
        guard doc.mapping != nil else {
            result.diagnostics.append(Diagnostic(file: file, mark: doc.mark, resource: nil, path: "",
                                                 message: "expected a resource (a mapping with apiVersion, kind, metadata, spec), got \(doc.kindDescription)"))
            return
        }
        let apiVersion = doc.str("apiVersion")
        let kindName = doc.str("kind")
        let name = doc["metadata"]?.str("name")
        let namespace = doc["metadata"]?.str("namespace") ?? "default"
        if let apiVersion, !apiVersion.hasPrefix(apiGroup + "/") {
            result.diagnostics.append(Diagnostic(.warning, file: file, mark: doc.mark, resource: kindName.map { "\($0) \(namespace)/\(name ?? "?")" },
                                                 path: "apiVersion", message: "\"\(apiVersion)\" is not a rampart.io resource; ignored"))
            return
        }
        let kind = kindName.flatMap(Kind.init(rawValue:))
        let label = "\(kindName ?? "?") \(namespace)/\(name ?? "?")"
        var diags = Diagnostics(file: file, resource: label)
        var checker = SchemaChecker(diags: diags)
        checker.check(doc, Self.envelope, path: "")
        diags = checker.diags
        if let apiVersion, apiVersion != RampartModel.apiVersion {
            diags.error("apiVersion", "\"\(apiVersion)\" is not served; expected \(RampartModel.apiVersion)", at: doc["apiVersion"]?.mark ?? doc.mark)
        }
        if let kindName, kind == nil {
            var msg = "unknown kind \"\(kindName)\"; expected one of \(Kind.allCases.map(\.rawValue).joined(separator: ", "))"
            if let s = Suggest.closest(kindName, among: Kind.allCases.map(\.rawValue)) { msg += "; did you mean \"\(s)\"?" }
            diags.error("kind", msg, at: doc["kind"]?.mark ?? doc.mark)
        }
        guard let kind, let specNode = doc["spec"] else {
            result.diagnostics += diags.items
            return
        }
        checker = SchemaChecker(diags: diags, resource: "\(kind.rawValue)/\(namespace)/\(name ?? "NAME")",
                                acceptsLegacyEncrypted: acceptsLegacyEncrypted, acceptsDigestMarkers: acceptsDigestMarkers)
        checker.check(specNode, KindSchemas.spec(kind), path: "spec")
        diags = checker.diags
        KindRules.check(kind, specNode, dev: dev, into: &diags)
        let key = ResourceKey(kind, namespace, name ?? "")
        result.diagnostics += diags.items
        if diags.hasErrors {
            if name != nil {
                result.rejected.append(key)
                result.rejectedOrigins.append((key, Origin(file: file, mark: doc.mark)))
                if kind == .route, specNode.mapping != nil,
                   RouteSpec.matchIsIntact(errorPaths: diags.items.filter { $0.severity == .error }.map(\.path)) {
                    result.closedRoutes.append(Resource(key: key, metadata: Self.metadata(doc, name: name ?? "", namespace: namespace),
                                                        spec: .route(RouteSpec.decode(specNode, namespace: namespace).matchOnly),
                                                        document: doc, origin: Origin(file: file, mark: doc.mark)))
                }
            }
            return
        }
        result.resources.append(Resource(key: key, metadata: Self.metadata(doc, name: name ?? "", namespace: namespace),
                                         spec: Resource.decodeSpec(kind, specNode, namespace: namespace),
                                         document: doc, origin: Origin(file: file, mark: doc.mark)))
    }

    private static func metadata(_ doc: Node, name: String, namespace: String) -> Metadata {
        let meta = doc["metadata"]
        return Metadata(
            name: name, namespace: namespace,
            labels: Dictionary(meta?.stringMap("labels") ?? [], uniquingKeysWith: { a, _ in a }),
            annotations: Dictionary(meta?.stringMap("annotations") ?? [], uniquingKeysWith: { a, _ in a }),
            generation: meta?.int("generation"), resourceVersion: meta?.str("resourceVersion"))
    }
}
