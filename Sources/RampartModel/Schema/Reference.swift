import RampartYAML

/// The schema tables in words: what `rampart explain` prints and the generated part of docs/reference.md.
/// Constraints are read from the CRD schema of a field, so the reference states exactly what is enforced.
public enum SchemaReference {
    /// One field as a reader sees it.
    public struct Facts: Sendable, Equatable {
        /// `spec.timeout.read`; list items add `[]` (`spec.nodes[].host`).
        public var path: String
        public var type: String
        public var required: Bool
        public var defaultValue: String?
        /// Ranges, item counts and lengths, e.g. `1 to 65535`, `at least 1 item`.
        public var bounds: [String]
        /// The accepted values of an enum (or of an enum's list items).
        public var values: [String]
        /// The field holds a sensitive value (itself, or as its list items or map values).
        public var sensitive: Bool
        /// A sensitive value can occur somewhere below this field.
        public var holdsSensitive: Bool
        /// How a formatted string is written (durations, host patterns, ...).
        public var format: String?
        public var doc: String
    }

    /// Why a query does not name a kind or a field; `suggestion` is the closest name, if one is close.
    public struct LookupError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var suggestion: String?
        public var description: String { message + (suggestion.map { "; did you mean \"\($0)\"?" } ?? "") }
    }

    // MARK: Kinds

    /// What each kind is for, in one line.
    public static func summary(_ kind: Kind) -> String {
        switch kind {
        case .route: return "which requests (hosts, paths, methods, headers) go to which upstream, through which plugins"
        case .upstream: return "backend nodes, load balancer, health checks, retries, keep-alive and timeouts"
        case .ssl: return "a certificate and key for TLS termination, a CA bundle, or a client certificate presented to upstreams"
        case .keyring: return "AES-256 keys that encrypt sensitive values at rest: the first key encrypts, every key decrypts"
        case .secretRef: return "where a secret comes from: vault, aws, kubernetes, env or file"
        case .alertRule: return "a condition (certificate expiry, upstream down, error rate, ...) and the contact points to tell"
        case .contactPoint: return "a webhook, Alertmanager or Slack endpoint that receives alerts"
        }
    }

    /// The kind a name means: its kind name, plural or short name, in any case (`route`, `Routes`, `rt`).
    public static func kind(named name: String) -> Result<Kind, LookupError> {
        let lower = name.lowercased()
        for kind in Kind.allCases {
            let names = CRDGenerator.names(kind)
            if ([kind.rawValue, names.plural] + names.shortNames).contains(where: { $0.lowercased() == lower }) { return .success(kind) }
        }
        return .failure(LookupError(message: "unknown kind \"\(name)\"; kinds are \(Kind.allCases.map(\.rawValue).joined(separator: ", "))",
                                    suggestion: Suggest.closest(name, among: Kind.allCases.map(\.rawValue))))
    }

    /// A whole resource of `kind`: the decoder's envelope with the kind's spec table in place of `spec`.
    public static func resource(_ kind: Kind) -> Schema {
        .object((ManifestDecoder.envelope.fields ?? []).map { field in
            guard field.name == "spec" else { return field }
            return Field("spec", KindSchemas.spec(kind), required: field.required, doc: "the desired state of the \(kind.rawValue)")
        })
    }

    // MARK: Lookup

    /// A schema reached by a field path, with the field that holds it (nil for the resource itself).
    public struct Target: Sendable {
        public var kind: Kind
        public var path: [String]
        public var field: Field?
        public var schema: Schema
    }

    /// Resolves `KIND[.field.path]`: the kind in any case, field names exactly; `[]` after a name is allowed.
    public static func lookup(_ query: String) -> Result<Target, LookupError> {
        let parts = query.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first, !first.isEmpty else { return .failure(LookupError(message: "no kind given", suggestion: nil)) }
        let kind: Kind
        switch self.kind(named: first) {
        case .success(let k): kind = k
        case .failure(let e): return .failure(e)
        }
        var target = Target(kind: kind, path: [], field: nil, schema: resource(kind))
        for raw in parts.dropFirst() {
            let name = raw.hasSuffix("[]") ? String(raw.dropLast(2)) : raw
            let here = target.path.isEmpty ? kind.rawValue : "\(kind.rawValue) \(target.path.joined(separator: "."))"
            guard let fields = children(target.schema) else {
                return .failure(LookupError(message: "\(here) is of type \(typeName(target.schema)) and has no fields", suggestion: nil))
            }
            guard let field = fields.first(where: { $0.name == name }) else {
                // A swapped pair of letters is two edits: allow that much even in a short name such as "read".
                return .failure(LookupError(message: "\(here) has no field \"\(name)\"",
                                            suggestion: Suggest.closest(name, among: fields.map(\.name), maxDistance: max(2, name.count / 3))))
            }
            target.path.append(name)
            target.field = field
            target.schema = field.schema
        }
        return .success(target)
    }

    /// The fields one level below a schema: an object's own, a list's or map's items', a sensitive value's three forms.
    public static func children(_ schema: Schema) -> [Field]? {
        switch schema {
        case .object(let fields): return fields
        case .array(let item, _), .map(let item): return children(item)
        case .sensitive: return sensitiveForms
        default: return nil
        }
    }

    /// The three ways to write a sensitive value (exactly one of them).
    static let sensitiveForms: [Field] = [
        Field("secretRef", Sensitive.refSchema, doc: "read the value from the SecretRef `name`; `key` picks a field of a JSON or map secret"),
        Field("value", .string(), doc: "inline plaintext; accepted with a validation warning outside --dev"),
        Field("encrypted", .string(), doc: "`$enc:v1:KEYID:BASE64` made by `rampart encrypt` with the gateway group's Keyring"),
    ]

    // MARK: Facts

    public static func facts(_ field: Field, path: String) -> Facts {
        let crd = CRDGenerator.openAPI(field.schema)
        return Facts(path: path, type: typeName(field.schema), required: field.required,
                     defaultValue: field.defaultValue.map(text), bounds: bounds(field.schema, crd), values: values(crd),
                     sensitive: isSensitiveValue(field.schema), holdsSensitive: field.holdsSensitive,
                     format: format(of: field.schema).flatMap(formatHint), doc: field.doc)
    }

    /// Every field below `schema`, depth first in table order, with its full path. A field that holds another
    /// kind's whole spec (a Route's inline `upstream`) is not expanded when `collapse` is set: the doc names the kind.
    public static func allFacts(_ schema: Schema, prefix: String, collapse: Bool = false) -> [Facts] {
        var out: [Facts] = []
        for field in children(schema) ?? [] {
            let path = prefix.isEmpty ? field.name : "\(prefix).\(field.name)"
            var row = facts(field, path: path)
            if isSensitiveValue(field.schema) { out.append(row); continue }  // its forms are described once, not per field
            let below = allFacts(field.schema, prefix: "")
            if collapse, !below.isEmpty, let kind = Kind.allCases.first(where: { allFacts(KindSchemas.spec($0), prefix: "") == below }) {
                row.doc += (row.doc.isEmpty ? "" : "; ") + "the fields of \(kind.rawValue) `spec`"
                out.append(row)
                continue
            }
            out.append(row)
            out += allFacts(field.schema, prefix: path + itemSuffix(field.schema), collapse: collapse)
        }
        return out
    }

    /// `[]` for a list of objects, `.NAME` for a map of objects, nothing otherwise.
    static func itemSuffix(_ schema: Schema) -> String {
        switch schema {
        case .array(let item, _): return "[]" + itemSuffix(item)
        case .map(let value): return ".NAME" + itemSuffix(value)
        default: return ""
        }
    }

    public static func typeName(_ schema: Schema) -> String {
        switch schema {
        case .object: return "object"
        case .array(let item, _): return "[]" + typeName(item)
        case .map(let value): return "map[string]" + typeName(value)
        case .string(let f): return formatName(f)
        case .integer: return "integer"
        case .number: return "number"
        case .boolean: return "boolean"
        case .intOrString: return "integer or string"
        case .sensitive: return "sensitive"
        case .any: return "any"
        }
    }

    static func formatName(_ format: StringFormat) -> String {
        switch format {
        case .any, .oneOf: return "string"
        case .duration: return "duration"
        case .size: return "size"
        case .cidr: return "CIDR"
        case .host: return "host"
        case .hostPattern: return "host pattern"
        case .routePath: return "route path"
        case .dns1123: return "DNS-1123 name"
        case .token: return "HTTP token"
        case .url: return "URL"
        case .hashKey: return "hash key"
        case .limitKey: return "limit key"
        case .tlsVersion: return "TLS version"
        }
    }

    /// How a value of a string format is written; nil for plain strings and enums (their values say it).
    public static func formatHint(_ format: StringFormat) -> String? {
        switch format {
        case .any, .oneOf, .tlsVersion: return nil
        case .duration: return "a number and a unit (ms, s, m, h, d) or a sum of such: 250ms, 30s, 5m, 1h30m, 7d"
        case .size: return "bytes, or a number with Ki, Mi, Gi (powers of 1024) or k, M, G (powers of 1000): 512, 8Ki, 1Mi"
        case .cidr: return "an IPv4 or IPv6 network (10.0.0.0/8, 2001:db8::/32); a bare address is a /32 or /128"
        case .host: return "a host name or an IP address"
        case .hostPattern: return "an exact host name, or one leading wildcard label (*.example.com matches a.example.com only)"
        case .routePath: return "/exact or a prefix ending /* (/api/*), written in the path normal form requests are matched in"
        case .dns1123: return "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"
        case .token: return "an HTTP token (RFC 9110): letters, digits and the symbols !#$%&'*+-.^_|~ and backtick"
        case .url: return "an http:// or https:// URL"
        case .hashKey: return "remote_addr, uri, header:NAME or cookie:NAME"
        case .limitKey: return "remote_addr, consumer or header:NAME"
        }
    }

    /// The formatted string types the kinds use, each once, in order of first use: name and how to write it.
    static func formatsInUse() -> [(name: String, hint: String)] {
        var out: [(name: String, hint: String)] = []
        func visit(_ schema: Schema) {
            if let f = format(of: schema), let hint = formatHint(f), !out.contains(where: { $0.name == formatName(f) }) {
                out.append((formatName(f), hint))
            }
            for field in children(schema) ?? [] { visit(field.schema) }
        }
        for kind in Kind.allCases { visit(resource(kind)) }
        return out
    }

    static func format(of schema: Schema) -> StringFormat? {
        switch schema {
        case .string(let f): return f
        case .array(let item, _), .map(let item): return format(of: item)
        default: return nil
        }
    }

    static func isSensitiveValue(_ schema: Schema) -> Bool {
        switch schema {
        case .sensitive: return true
        case .array(let item, _), .map(let item): return isSensitiveValue(item)
        default: return false
        }
    }

    /// Ranges and counts as the CRD enforces them; for a list, its items' too.
    static func bounds(_ schema: Schema, _ crd: Node) -> [String] {
        var out: [String] = []
        if let r = range(crd) { out.append(r) }
        if let n = crd["minItems"]?.scalar?.text { out.append("at least \(n) item\(n == "1" ? "" : "s")") }
        if let n = crd["maxLength"]?.scalar?.text { out.append("at most \(n) characters") }
        if let items = crd["items"] {
            if let r = range(items) { out.append("each \(r)") }
            if let d = boundText(items) { out.append("each \(d)") }
        } else if let d = boundText(crd) {
            out.append(d)
        }
        return out
    }

    /// What the CRD's description adds beyond the type of a field whose own doc is left out (a duration's range, say).
    static func boundText(_ crd: Node) -> String? {
        guard crd["type"]?.scalar?.text != "object" else { return nil }
        return crd["description"]?.scalar?.text
    }

    static func range(_ crd: Node) -> String? {
        switch (crd["minimum"]?.scalar?.text, crd["maximum"]?.scalar?.text) {
        case (let lo?, let hi?): return "\(lo) to \(hi)"
        case (let lo?, nil): return "at least \(lo)"
        case (nil, let hi?): return "at most \(hi)"
        case (nil, nil): return nil
        }
    }

    static func values(_ crd: Node) -> [String] {
        (crd["enum"] ?? crd["items"]?["enum"])?.sequence?.compactMap { $0.scalar?.text } ?? []
    }

    /// A default as written in a manifest: `60s`, `[200]`.
    static func text(_ node: Node) -> String {
        if let s = node.scalar { return s.text }
        if let items = node.sequence { return "[" + items.map(text).joined(separator: ", ") + "]" }
        return (node.mapping ?? []).isEmpty ? "{}" : "{...}"
    }
}
