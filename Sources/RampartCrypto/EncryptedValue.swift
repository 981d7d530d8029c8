/// A stored ciphertext `$enc:v2:KEYID:BASE64(nonce(12) || ciphertext || tag(16))` (API.md 4.1).
/// BASE64 is the standard alphabet with `=` padding. The version says what the AEAD additional data binds:
/// `v2` the key id, the resource (kind, namespace, name) and the field path (`additionalData(keyID:binding:)`);
/// `v1` is the legacy binding, key id and field path only, which let a value be copied into another
/// resource's same field. `v1` is read only to re-bind what an older `state.json` holds.
public struct EncryptedValue: Sendable, Equatable, CustomStringConvertible, LosslessStringConvertible {
    /// What the additional data of a ciphertext binds.
    public enum Version: String, Sendable, Equatable {
        /// Legacy: `UTF-8(KEYID) || 0x00 || UTF-8(fieldPath)`.
        case v1
        /// Key id, resource and field path, each length-prefixed.
        case v2
    }

    /// The prefix of values made now.
    public static let prefix = "$enc:v2:"
    /// The prefix of legacy values (bound to the field only).
    public static let legacyPrefix = "$enc:v1:"
    /// Longest `$enc:` string accepted by `parse` (a few MiB; PEM bundles are the largest sensitive values).
    public static let maxEncodedLength = 8 << 20

    public let version: Version
    /// Id of the key that encrypted this value (`[A-Za-z0-9._-]{1,64}`).
    public let keyID: String
    /// `nonce(12) || ciphertext || tag(16)`.
    public let sealed: [UInt8]

    /// Wraps already-sealed bytes; validates the key id and minimum length.
    public init(keyID: String, sealed: [UInt8], version: Version = .v2) throws {
        try Self.validate(keyID: keyID)
        guard sealed.count >= AEAD.nonceByteCount + AEAD.tagByteCount else {
            throw CryptoError(.malformed, "encrypted value: payload is \(sealed.count) bytes, shorter than nonce + tag (28)",
                              keyID: keyID)
        }
        self.version = version
        self.keyID = keyID
        self.sealed = sealed
    }

    /// `LosslessStringConvertible`: nil for anything `parse` rejects.
    public init?(_ description: String) {
        guard let v = try? Self.parse(description) else { return nil }
        self = v
    }

    /// Parses and validates `$enc:v2:KEYID:BASE64` or the legacy `$enc:v1:` (prefix, key id charset and
    /// length, canonical base64, 28+ bytes). Callers decide whether a legacy value is acceptable.
    public static func parse(_ text: String) throws -> EncryptedValue {
        func bad(_ why: String) -> CryptoError { CryptoError(.malformed, "encrypted value: \(why)") }
        guard text.utf8.count <= maxEncodedLength else { throw bad("longer than \(maxEncodedLength) characters") }
        guard text.hasPrefix("$enc:") else { throw bad("must start with \(prefix)") }
        let version: Version
        if text.hasPrefix(prefix) { version = .v2 } else if text.hasPrefix(legacyPrefix) { version = .v1 } else {
            throw bad("unsupported version (only \(prefix) and the legacy \(legacyPrefix) are known)")
        }
        let rest = text.dropFirst(prefix.count)
        guard let colon = rest.firstIndex(of: ":") else { throw bad("expected KEYID:BASE64 after \(prefix)") }
        let keyID = String(rest[..<colon])
        try validate(keyID: keyID)
        let body = String(rest[rest.index(after: colon)...])
        guard !body.isEmpty else { throw bad("empty ciphertext") }
        guard let bytes = Base64.decode(body, padding: true) else {
            throw CryptoError(.malformed, "encrypted value: ciphertext is not valid padded base64", keyID: keyID)
        }
        return try EncryptedValue(keyID: keyID, sealed: bytes, version: version)
    }

    /// True when `text` looks like an `$enc:` value (prefix only; use `parse` to validate).
    public static func hasPrefix(_ text: String) -> Bool { text.hasPrefix("$enc:") }

    public var description: String {
        (version == .v2 ? Self.prefix : Self.legacyPrefix) + keyID + ":" + Base64.encode(sealed, padding: true)
    }

    /// Domain label that opens every v2 additional data (so it can never equal another protocol's bytes).
    static let bindingLabel = "rampart/enc/v2"

    /// v2 additional data: the label, key id, kind, namespace, name and field path, each as an 8-byte
    /// big-endian length then its UTF-8 bytes. Length prefixes make the encoding injective: no two
    /// distinct tuples give the same bytes, whatever characters (`/`, NUL, ...) the parts hold.
    public static func additionalData(keyID: String, binding: EncryptionBinding) -> [UInt8] {
        var out: [UInt8] = []
        for part in [bindingLabel, keyID, binding.kind, binding.namespace, binding.name, binding.fieldPath] {
            let bytes = Array(part.utf8)
            let length = UInt64(bytes.count)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: length >> UInt64(shift))) }
            out += bytes
        }
        return out
    }

    /// Legacy (v1) additional data `UTF-8(KEYID) || 0x00 || UTF-8(fieldPath)`: the NUL cannot occur in a key id.
    public static func legacyAdditionalData(keyID: String, fieldPath: String) -> [UInt8] {
        Array(keyID.utf8) + [0] + Array(fieldPath.utf8)
    }

    /// Throws unless `id` matches `[A-Za-z0-9._-]{1,64}`.
    public static func validate(keyID id: String) throws {
        guard isValid(keyID: id) else {
            // The id is safe to echo only when short and printable; otherwise describe it.
            throw CryptoError(.malformed, "key id must match [A-Za-z0-9._-]{1,64} (got \(id.utf8.count) bytes)")
        }
    }

    /// True when `id` matches `[A-Za-z0-9._-]{1,64}`.
    public static func isValid(keyID id: String) -> Bool {
        let u = id.utf8
        guard (1...64).contains(u.count) else { return false }
        return u.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
        }
    }
}

/// Where a ciphertext may be decrypted: one field of one resource. A value made for one binding does
/// not decrypt under any other, so it cannot be copied into a resource that sends it elsewhere.
public struct EncryptionBinding: Sendable, Hashable, CustomStringConvertible {
    /// The resource kind (`SecretRef`), or a state-dir file's pseudo kind.
    public var kind: String
    public var namespace: String
    public var name: String
    /// The field path with list positions dropped (`spec.plugins.key-auth.keys[]`).
    public var fieldPath: String

    public init(kind: String, namespace: String, name: String, fieldPath: String) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.fieldPath = fieldPath
    }

    /// `SecretRef prod/vault spec.vault.auth.token`
    public var description: String { "\(kind) \(namespace)/\(name) \(fieldPath)" }
}
