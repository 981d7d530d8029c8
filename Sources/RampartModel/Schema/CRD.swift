import RampartYAML

extension Kind {
    /// The API's plural resource name (`routes`), as in the CRDs and request paths.
    public var plural: String { CRDGenerator.names(self).plural }
}

/// Generates `apiextensions.k8s.io/v1` CustomResourceDefinitions from the same field tables the decoder uses.
public enum CRDGenerator {
    struct Names {
        var plural: String
        var shortNames: [String]
        var columns: [(name: String, type: String, path: String)]
    }

    static let ready = (name: "Ready", type: "string", path: ".status.conditions[?(@.type==\"Ready\")].status")
    static let age = (name: "Age", type: "date", path: ".metadata.creationTimestamp")

    static func names(_ k: Kind) -> Names {
        switch k {
        case .route: return Names(plural: "routes", shortNames: ["rt"], columns: [
            ("Hosts", "string", ".spec.hosts"), ("Paths", "string", ".spec.paths"), ("Upstream", "string", ".spec.upstreamRef.name"), ready, age])
        case .upstream: return Names(plural: "upstreams", shortNames: ["ups"], columns: [
            ("Balancer", "string", ".spec.loadBalancer.type"), ("Scheme", "string", ".spec.scheme"), ready, age])
        case .ssl: return Names(plural: "ssls", shortNames: ["rssl"], columns: [
            ("Type", "string", ".spec.type"), ("SNIs", "string", ".spec.snis"), ready, age])
        case .keyring: return Names(plural: "keyrings", shortNames: ["kr"], columns: [ready, age])
        case .secretRef: return Names(plural: "secretrefs", shortNames: ["sref"], columns: [
            ("Provider", "string", ".spec.provider"), ready, age])
        case .alertRule: return Names(plural: "alertrules", shortNames: ["ar"], columns: [
            ("Condition", "string", ".spec.condition.type"), ("Severity", "string", ".spec.severity"), ready, age])
        case .contactPoint: return Names(plural: "contactpoints", shortNames: ["cp"], columns: [
            ("Type", "string", ".spec.type"), ("URL", "string", ".spec.url"), ready, age])
        }
    }

    /// All seven CRDs as one multi-document YAML stream.
    public static func yaml() -> String {
        Emitter.emit(Kind.allCases.map(crd))
    }

    public static func crd(_ kind: Kind) -> Node {
        let n = names(kind)
        let columns = n.columns.map { c in
            obj([("name", s(c.name)), ("type", s(c.type)), ("jsonPath", s(c.path))])
        }
        let root = obj([
            ("type", s("object")),
            ("required", list([s("spec")])),
            ("properties", obj([
                ("apiVersion", obj([("type", s("string"))])),
                ("kind", obj([("type", s("string"))])),
                ("metadata", obj([("type", s("object"))])),
                ("spec", openAPI(KindSchemas.spec(kind), doc: "\(kind.rawValue) spec; every field is in docs/reference.md and `rampart explain \(kind.rawValue.lowercased()).spec`")),
                ("status", status),
            ])),
        ])
        return obj([
            ("apiVersion", s("apiextensions.k8s.io/v1")),
            ("kind", s("CustomResourceDefinition")),
            ("metadata", obj([
                ("name", s("\(n.plural).\(apiGroup)")),
                ("labels", obj([("app.kubernetes.io/name", s("rampart")), ("app.kubernetes.io/part-of", s("rampart"))])),
            ])),
            ("spec", obj([
                ("group", s(apiGroup)),
                ("names", obj([
                    ("kind", s(kind.rawValue)),
                    ("listKind", s(kind.rawValue + "List")),
                    ("plural", s(n.plural)),
                    ("singular", s(kind.rawValue.lowercased())),
                    ("shortNames", list(n.shortNames.map(s))),
                    ("categories", list([s("rampart")])),
                ])),
                ("scope", s("Namespaced")),
                ("versions", list([obj([
                    ("name", s("v1alpha1")),
                    ("served", b(true)),
                    ("storage", b(true)),
                    ("subresources", obj([("status", obj([]))])),
                    ("additionalPrinterColumns", list(columns)),
                    ("schema", obj([("openAPIV3Schema", root)])),
                ])])),
            ])),
        ])
    }

    static let condition = obj([
        ("type", s("object")),
        ("required", list([s("type"), s("status")])),
        ("properties", obj([
            ("type", obj([("type", s("string"))])),
            ("status", obj([("type", s("string")), ("enum", list([s("True"), s("False"), s("Unknown")]))])),
            ("reason", obj([("type", s("string"))])),
            ("message", obj([("type", s("string"))])),
            ("lastTransitionTime", obj([("type", s("string")), ("format", s("date-time"))])),
            ("observedGeneration", obj([("type", s("integer")), ("format", s("int64"))])),
        ])),
    ])

    static let status = obj([
        ("type", s("object")),
        ("x-kubernetes-preserve-unknown-fields", b(true)),
        ("properties", obj([
            ("observedGeneration", obj([("type", s("integer")), ("format", s("int64"))])),
            ("conditions", obj([
                ("type", s("array")),
                ("items", condition),
                ("x-kubernetes-list-type", s("map")),
                ("x-kubernetes-list-map-keys", list([s("type")])),
            ])),
        ])),
    ])

    /// What the CRD says of a duration or size bound that an OpenAPI `maximum` cannot carry (strings).
    static func boundText(_ schema: Schema) -> String? {
        switch schema {
        case .string(.duration(let r)): return "a duration from \(Values.format(r, as: .duration))"
        case .string(.size(let r)): return "a size from \(Values.format(r, as: .size))"
        default: return nil
        }
    }

    /// The syntax the parser accepts (digit count and part count capped as in `Values`), so the API server refuses what `Values` would.
    static let durationPattern = "^([0-9]{1,\(Values.maxDigits)}(ms|s|m|h|d)){1,\(Values.maxDurationParts)}$"
    static let sizePattern = "^[0-9]{1,\(Values.maxDigits)}(Ki|Mi|Gi|k|M|G)?$"

    static func openAPI(_ schema: Schema, doc: String = "") -> Node {
        var p: [(String, Node)] = []
        let doc = boundText(schema).map { doc.isEmpty ? $0 : "\(doc); \($0)" } ?? doc
        if !doc.isEmpty { p.append(("description", s(doc))) }
        switch schema {
        case .object(let fields):
            p.append(("type", s("object")))
            let req = fields.filter(\.required).map(\.name).sorted()
            if !req.isEmpty { p.append(("required", list(req.map(s)))) }
            p.append(("properties", obj(fields.sorted { $0.name < $1.name }.map { f in
                var sub = openAPI(f.schema, doc: f.doc)
                if let d = f.defaultValue, case .mapping(var pairs) = sub.value {
                    pairs.append(Pair(key: s("default"), value: d))
                    sub = Node(.mapping(pairs))
                }
                return (f.name, sub)
            })))
        case .array(let item, let minItems):
            p.append(("type", s("array")))
            p.append(("items", openAPI(item)))
            if minItems > 0 { p.append(("minItems", i(minItems))) }
        case .map(let value):
            p.append(("type", s("object")))
            p.append(("additionalProperties", openAPI(value)))
        case .string(let format):
            p.append(("type", s("string")))
            switch format {
            case .oneOf(let values): p.append(("enum", list(values.map(s))))
            case .duration: p.append(("pattern", s(durationPattern)))
            case .size: p.append(("pattern", s(sizePattern)))
            case .dns1123: p.append(("pattern", s("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"))); p.append(("maxLength", i(253)))
            case .hostPattern: p.append(("pattern", s("^(\\*\\.)?[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$")))
            case .routePath: p.append(("pattern", s("^(/[^*?#]*|/([^*?#]*/)?\\*)$")))
            case .tlsVersion: p.append(("enum", list([s("TLSv1.2"), s("TLSv1.3")])))
            case .hashKey: p.append(("pattern", s("^(remote_addr|uri|header:.+|cookie:.+)$")))
            case .limitKey: p.append(("pattern", s("^(remote_addr|consumer|header:.+)$")))
            case .url: p.append(("pattern", s("^https?://.+")))
            case .token: p.append(("pattern", s("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")))
            case .any, .cidr, .host: break
            }
        case .integer(let lo, let hi):
            p.append(("type", s("integer")))
            if let lo { p.append(("minimum", i(lo))) }
            if let hi { p.append(("maximum", i(hi))) }
        case .number(let lo, let hi):
            p.append(("type", s("number")))
            if let lo { p.append(("minimum", Node(.scalar(Scalar(String(lo)))))) }
            if let hi { p.append(("maximum", Node(.scalar(Scalar(String(hi)))))) }
        case .boolean:
            p.append(("type", s("boolean")))
        case .intOrString:
            // The decoder takes any number (0.05 as a ratio) or string; x-kubernetes-int-or-string would
            // refuse a fraction at the API server, so the CRD leaves the scalar to Rampart's own check.
            p.append(("x-kubernetes-preserve-unknown-fields", b(true)))
        case .sensitive:
            p.append(("type", s("object")))
            if doc.isEmpty { p.append(("description", s("sensitive value: exactly one of secretRef, value, encrypted"))) }
            p.append(("minProperties", i(1)))
            p.append(("maxProperties", i(1)))
            p.append(("properties", obj([
                ("secretRef", openAPI(Sensitive.refSchema)),
                ("value", obj([("type", s("string")), ("description", s("inline plaintext (warned outside --dev)"))])),
                ("encrypted", obj([("type", s("string")), ("pattern", s("^\\$enc:v2:[A-Za-z0-9._-]+:[A-Za-z0-9+/=]+$"))])),
            ])))
        case .any:
            p.append(("x-kubernetes-preserve-unknown-fields", b(true)))
        }
        return obj(p)
    }

    static func s(_ v: String) -> Node { .string(v) }
    static func i(_ v: Int) -> Node { Node(.scalar(Scalar(String(v)))) }
    static func b(_ v: Bool) -> Node { Node(.scalar(Scalar(v ? "true" : "false"))) }
    static func list(_ v: [Node]) -> Node { Node(.sequence(v)) }
    static func obj(_ pairs: [(String, Node)]) -> Node { Node(.mapping(pairs.map { Pair(key: .string($0.0), value: $0.1) })) }
}
