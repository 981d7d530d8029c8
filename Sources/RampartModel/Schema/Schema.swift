import RampartYAML

/// The shape of a field: one table per kind drives decoding checks, defaults, masking and CRD schemas.
public indirect enum Schema: Sendable {
    case object([Field])
    case array(Schema, minItems: Int = 0)
    /// A map with arbitrary string keys.
    case map(Schema)
    case string(StringFormat = .any)
    case integer(min: Int? = nil, max: Int? = nil)
    case number(min: Double? = nil, max: Double? = nil)
    case boolean
    /// A scalar that may be written as an integer or a string (Kubernetes int-or-string).
    case intOrString
    /// `{secretRef: {name, namespace?, key?}} | {value} | {encrypted}`: never printed.
    case sensitive
    /// Anything (Kubernetes-managed fields we keep but do not interpret).
    case any
}

/// A string's accepted form.
public enum StringFormat: Sendable {
    case any
    case oneOf([String])
    /// Milliseconds within the range (`Bounds`).
    case duration(ClosedRange<Int>)
    /// Bytes within the range (`Bounds`).
    case size(ClosedRange<Int>)
    case cidr
    case host
    case hostPattern
    case routePath
    case dns1123
    case token
    case url
    case hashKey       // remote_addr | header:NAME | cookie:NAME | uri
    case limitKey      // remote_addr | header:NAME | consumer
    case tlsVersion
}

/// One named field of an object schema.
public struct Field: Sendable {
    public var name: String
    public var schema: Schema
    public var required: Bool
    public var defaultValue: Node?
    public var doc: String
    /// Whether a sensitive value can occur at or below this field (walks skip the rest).
    public let holdsSensitive: Bool

    public init(_ name: String, _ schema: Schema, required: Bool = false, default defaultValue: Node? = nil, doc: String = "") {
        holdsSensitive = schema.containsSensitive
        self.name = name
        self.schema = schema
        self.required = required
        self.defaultValue = defaultValue
        self.doc = doc
    }
}

extension Schema {
    var fields: [Field]? {
        if case .object(let f) = self { return f }
        return nil
    }
}

/// Default-value node constructors for the schema tables.
enum D {
    static func s(_ v: String) -> Node { Node(.scalar(Scalar(v, style: .doubleQuoted))) }
    static func i(_ v: Int) -> Node { Node(.scalar(Scalar(String(v)))) }
    static func b(_ v: Bool) -> Node { Node(.scalar(Scalar(v ? "true" : "false"))) }
    static func list(_ v: [Node]) -> Node { Node(.sequence(v)) }
}
