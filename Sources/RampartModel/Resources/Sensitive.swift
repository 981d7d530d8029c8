import RampartYAML

/// A sensitive field's value source. Printing, reflecting or encoding it always yields `***`.
public struct Sensitive: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable, Encodable {
    public enum Source: Sendable, Hashable {
        case secretRef(Reference, key: String?)
        case inline(String)
        case encrypted(String)
        /// `{digest: "hmac-sha256:HEX"}`: only in Rampart's own `state.json`, where a value that could not be
        /// stored encrypted left its keyed digest; it tells a changed value from an unchanged one and never resolves.
        case digest(String)
    }

    public var source: Source

    public init(_ source: Source) {
        self.source = source
    }

    public static let mask = "***"

    /// `{encrypted: ...}` values made now: bound to their resource and field (RampartCrypto's `EncryptedValue.prefix`).
    public static let encryptedPrefix = "$enc:v2:"
    /// Legacy values, bound to the field only: refused in manifests, read only from an older `state.json`.
    public static let legacyEncryptedPrefix = "$enc:v1:"

    public var description: String { Self.mask }
    public var debugDescription: String { Self.mask }
    public var customMirror: Mirror { Mirror(self, children: ["value": Self.mask]) }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(Self.mask)
    }

    /// The SecretRef this value reads from, if any.
    public var secretRef: Reference? {
        if case .secretRef(let r, _) = source { return r }
        return nil
    }

    /// The schema of `secretRef: {...}`.
    static let refSchema: Schema = .object([
        Field("name", .string(.dns1123), required: true, doc: "SecretRef name"),
        Field("namespace", .string(.dns1123), doc: "SecretRef namespace (default: the referrer's)"),
        Field("key", .string(), doc: "field of a JSON/map secret"),
    ])

    /// Decodes a node already checked against `.sensitive`.
    public static func decode(_ node: Node?, namespace: String) -> Sensitive? {
        guard let node, let pair = node.mapping?.first, let key = pair.key.scalar?.text else { return nil }
        switch key {
        case "secretRef":
            let name = pair.value["name"]?.scalar?.text ?? ""
            let ns = pair.value["namespace"]?.scalar?.text ?? namespace
            return Sensitive(.secretRef(Reference(name: name, namespace: ns), key: pair.value["key"]?.scalar?.text))
        case "value": return Sensitive(.inline(pair.value.scalar?.text ?? ""))
        case "encrypted": return Sensitive(.encrypted(pair.value.scalar?.text ?? ""))
        case "digest": return Sensitive(.digest(pair.value.scalar?.text ?? ""))
        default: return nil
        }
    }
}
