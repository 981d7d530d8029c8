import Foundation
import RampartCrypto

/// A resolved secret: a string, or a JSON object whose fields are kept as strings. Printing it shows `***`.
public struct SecretValue: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The secret as one string (an object: its JSON text with sorted keys).
    private let text: String
    /// The object's fields (numbers and booleans as their JSON text), nil for a plain string.
    private let fields: [String: String]?
    /// The SecretRef ("namespace/name") it came from, named in errors.
    public let ref: String

    public static func string(_ s: String, ref: String = "") -> SecretValue {
        SecretValue(text: s, fields: nil, ref: ref)
    }

    public static func object(_ fields: [String: String], ref: String = "") -> SecretValue {
        SecretValue(text: JSONText.encodeObject(fields), fields: fields, ref: ref)
    }

    /// A string that is a JSON object becomes an object; anything else stays a string.
    public static func parsing(_ s: String, ref: String = "") -> SecretValue {
        let trimmed = s.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("{"), let obj = JSONText.object(Array(trimmed.utf8)) {
            return SecretValue(text: s, fields: JSONText.stringFields(obj), ref: ref)
        }
        return .string(s, ref: ref)
    }

    /// The same value named after another SecretRef.
    public func named(_ ref: String) -> SecretValue { SecretValue(text: text, fields: fields, ref: ref) }

    /// Whether the secret is a JSON object (so `key` can pick a field).
    public var isObject: Bool { fields != nil }

    /// The field names of an object (never values).
    public var keys: [String] { (fields?.keys).map { $0.sorted() } ?? [] }

    /// The whole secret (key nil) or one field of an object secret.
    public func value(key: String?) throws -> String {
        guard let key else { return text }
        guard let fields else {
            throw SecretError(.missingKey, ref: ref, "key \"\(key)\" requested but the secret is not a JSON object")
        }
        guard let v = fields[key] else {
            throw SecretError(.missingKey, ref: ref, "the secret has no key \"\(key)\" (keys: \(keys.joined(separator: ", ")))")
        }
        return v
    }

    /// SHA-256 of the value, used to tell a changed secret without keeping another plaintext copy.
    public var digest: [UInt8] { SHA256.hash(text) }

    public var description: String { "***" }
    public var debugDescription: String { "***" }
    public var customMirror: Mirror { Mirror(self, children: ["ref": ref, "value": "***"], displayStyle: .struct) }
}

/// One fetch from a provider: the value and the store's version id (Vault KV version, AWS VersionId), if any.
public struct FetchedSecret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var value: SecretValue
    public var version: String?

    public init(value: SecretValue, version: String? = nil) {
        self.value = value
        self.version = version
    }

    public var description: String { "FetchedSecret(***, version: \(version ?? "none"))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["value": "***", "version": version ?? "none"], displayStyle: .struct) }
}

/// A secret-resolution failure: names the SecretRef and the provider's reason, never a secret value.
public struct SecretError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case config, unsupported, notFound, auth, provider, transport, missingKey, notResolved
    }

    public let kind: Kind
    public let ref: String
    public let message: String

    public init(_ kind: Kind, ref: String, _ message: String) {
        self.kind = kind
        self.ref = ref
        self.message = message
    }

    public var description: String { ref.isEmpty ? message : "SecretRef \(ref): \(message)" }
}
