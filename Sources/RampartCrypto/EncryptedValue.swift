/// A stored ciphertext `$enc:v1:KEYID:BASE64(nonce(12) || ciphertext || tag(16))` (API.md 4.1).
/// BASE64 is the standard alphabet with `=` padding. The additional data is
/// `UTF-8(KEYID) || 0x00 || UTF-8(fieldPath)`: the NUL cannot occur in a key id, so the split is unambiguous
/// (without it, id `k1` + path `.x` and id `k1.` + path `x` would authenticate the same bytes).
public struct EncryptedValue: Sendable, Equatable, CustomStringConvertible, LosslessStringConvertible {
    public static let prefix = "$enc:v1:"
    /// Longest `$enc:` string accepted by `parse` (a few MiB; PEM bundles are the largest sensitive values).
    public static let maxEncodedLength = 8 << 20

    /// Id of the key that encrypted this value (`[A-Za-z0-9._-]{1,64}`).
    public let keyID: String
    /// `nonce(12) || ciphertext || tag(16)`.
    public let sealed: [UInt8]

    /// Wraps already-sealed bytes; validates the key id and minimum length.
    public init(keyID: String, sealed: [UInt8]) throws {
        try Self.validate(keyID: keyID)
        guard sealed.count >= AEAD.nonceByteCount + AEAD.tagByteCount else {
            throw CryptoError(.malformed, "encrypted value: payload is \(sealed.count) bytes, shorter than nonce + tag (28)",
                              keyID: keyID)
        }
        self.keyID = keyID
        self.sealed = sealed
    }

    /// `LosslessStringConvertible`: nil for anything `parse` rejects.
    public init?(_ description: String) {
        guard let v = try? Self.parse(description) else { return nil }
        self = v
    }

    /// Parses and validates `$enc:v1:KEYID:BASE64` (prefix, key id charset and length, canonical base64, 28+ bytes).
    public static func parse(_ text: String) throws -> EncryptedValue {
        func bad(_ why: String) -> CryptoError { CryptoError(.malformed, "encrypted value: \(why)") }
        guard text.utf8.count <= maxEncodedLength else { throw bad("longer than \(maxEncodedLength) characters") }
        guard text.hasPrefix("$enc:") else { throw bad("must start with \(prefix)") }
        guard text.hasPrefix(prefix) else { throw bad("unsupported version (only \(prefix) is known)") }
        let rest = text.dropFirst(prefix.count)
        guard let colon = rest.firstIndex(of: ":") else { throw bad("expected KEYID:BASE64 after \(prefix)") }
        let keyID = String(rest[..<colon])
        try validate(keyID: keyID)
        let body = String(rest[rest.index(after: colon)...])
        guard !body.isEmpty else { throw bad("empty ciphertext") }
        guard let bytes = Base64.decode(body, padding: true) else {
            throw CryptoError(.malformed, "encrypted value: ciphertext is not valid padded base64", keyID: keyID)
        }
        return try EncryptedValue(keyID: keyID, sealed: bytes)
    }

    /// True when `text` looks like an `$enc:` value (prefix only; use `parse` to validate).
    public static func hasPrefix(_ text: String) -> Bool { text.hasPrefix("$enc:") }

    public var description: String { Self.prefix + keyID + ":" + Base64.encode(sealed, padding: true) }

    /// AEAD additional data binding a ciphertext to its key id and field path.
    public static func additionalData(keyID: String, fieldPath: String) -> [UInt8] {
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
