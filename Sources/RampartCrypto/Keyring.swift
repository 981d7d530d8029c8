import Foundation

/// An ordered set of AES-256 keys (API.md 1.4): the first (primary) encrypts, every key decrypts.
/// A value type; key bytes live in wiped-on-release storage and are never printed or reflected.
public struct Keyring: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Iterations used to stretch a passphrase into a key (API.md 1.4).
    public static let passphraseIterations = 600_000

    /// One named 32-byte key. Prints as `Key(id: ID, ***)`.
    public struct Key: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        public let id: String
        let secret: SecretBytes

        /// From a material string: base64 of exactly 32 bytes is the key itself; anything else is a
        /// passphrase stretched by PBKDF2-HMAC-SHA256, 600,000 iterations, salt = UTF-8 of `id`.
        public init(id: String, material: String) throws {
            try EncryptedValue.validate(keyID: id)
            guard !material.isEmpty else {
                throw CryptoError(.invalidArgument, "keyring: key \(id) has empty material", keyID: id)
            }
            if var raw = Base64.decode(material, padding: true), raw.count == AEAD.keyByteCount {
                secret = SecretBytes(raw)
                wipe(&raw)
            } else {
                var pass = Array(material.utf8)
                defer { wipe(&pass) }
                var derived = try PBKDF2.sha256(password: pass, salt: Array(id.utf8),
                                                iterations: Keyring.passphraseIterations, length: AEAD.keyByteCount)
                secret = SecretBytes(derived)
                wipe(&derived)
            }
            self.id = id
        }

        /// From raw key bytes (exactly 32).
        public init(id: String, rawKey: [UInt8]) throws {
            try EncryptedValue.validate(keyID: id)
            guard rawKey.count == AEAD.keyByteCount else {
                throw CryptoError(.invalidArgument, "keyring: key \(id) must be \(AEAD.keyByteCount) bytes, got \(rawKey.count)",
                                  keyID: id)
            }
            self.id = id
            secret = SecretBytes(rawKey)
        }

        /// A fresh random key (for `rampart keyring new` and tests).
        public static func random(id: String) throws -> Key {
            var bytes = Random.bytes(AEAD.keyByteCount)
            defer { wipe(&bytes) }
            return try Key(id: id, rawKey: bytes)
        }

        public var description: String { "Key(id: \(id), ***)" }
        public var debugDescription: String { description }
        public var customMirror: Mirror { Mirror(self, children: ["id": id, "key": "***"], displayStyle: .struct) }
    }

    /// Keys in order; `keys[0]` is primary.
    public let keys: [Key]

    /// Builds a keyring; needs at least one key and unique ids.
    public init(keys: [Key]) throws {
        guard !keys.isEmpty else { throw CryptoError(.invalidArgument, "keyring: needs at least one key") }
        var seen = Set<String>()
        for k in keys where !seen.insert(k.id).inserted {
            throw CryptoError(.invalidArgument, "keyring: duplicate key id \(k.id)", keyID: k.id)
        }
        self.keys = keys
    }

    /// Builds a keyring from `(id, material)` pairs, first = primary; see `Key.init(id:material:)`.
    public init(materials: [(id: String, material: String)]) throws {
        try self.init(keys: materials.map { try Key(id: $0.id, material: $0.material) })
    }

    /// Id of the primary (encrypting) key.
    public var primaryKeyID: String { keys[0].id }
    /// All key ids in order.
    public var keyIDs: [String] { keys.map(\.id) }

    /// True when the keyring holds a key named `id`.
    public func contains(keyID id: String) -> Bool { keys.contains { $0.id == id } }

    /// A new keyring with `key` as primary in front of the existing keys (rotation).
    public func rotated(to key: Key) throws -> Keyring { try Keyring(keys: [key] + keys) }

    /// Encrypts with the primary key, bound to `fieldPath`; returns `$enc:v1:KEYID:BASE64`.
    public func encrypt(plaintext: [UInt8], fieldPath: String) throws -> String {
        let key = keys[0]
        let ad = EncryptedValue.additionalData(keyID: key.id, fieldPath: fieldPath)
        let sealed = try key.secret.withUnsafeBytes {
            try AEAD.seal(plaintext, rawKey: $0, additionalData: ad, nonce: Random.bytes(AEAD.nonceByteCount))
        }
        return try EncryptedValue(keyID: key.id, sealed: sealed).description
    }

    /// UTF-8 convenience for `encrypt(plaintext:fieldPath:)`.
    public func encrypt(_ plaintext: String, fieldPath: String) throws -> String {
        try encrypt(plaintext: Array(plaintext.utf8), fieldPath: fieldPath)
    }

    /// Decrypts an `$enc:` string with the key it names. Errors name the key id and field path, never data.
    public func decrypt(_ enc: String, fieldPath: String) throws -> [UInt8] {
        let value = try EncryptedValue.parse(enc)
        guard let key = keys.first(where: { $0.id == value.keyID }) else {
            throw CryptoError(.unknownKey, "keyring: no key with id \(value.keyID) (keyring holds \(keyIDs.joined(separator: ", ")))",
                              keyID: value.keyID)
        }
        let ad = EncryptedValue.additionalData(keyID: key.id, fieldPath: fieldPath)
        do {
            return try key.secret.withUnsafeBytes { try AEAD.open(value.sealed, rawKey: $0, additionalData: ad) }
        } catch let e as CryptoError where e.kind == .authenticationFailed {
            throw CryptoError(.authenticationFailed,
                              "keyring: value for field \(fieldPath) does not decrypt with key \(key.id) "
                                  + "(wrong key material, moved from another field, or altered)",
                              keyID: key.id)
        }
    }

    /// UTF-8 convenience for `decrypt(_:fieldPath:)`; throws `.malformed` if the plaintext is not UTF-8.
    public func decryptString(_ enc: String, fieldPath: String) throws -> String {
        var bytes = try decrypt(enc, fieldPath: fieldPath)
        defer { wipe(&bytes) }
        guard let s = String(bytes: bytes, encoding: .utf8) else {
            throw CryptoError(.malformed, "keyring: decrypted value for field \(fieldPath) is not UTF-8")
        }
        return s
    }

    /// The key id an `$enc:` string names (parses it; no decryption).
    public func keyID(of enc: String) throws -> String { try EncryptedValue.parse(enc).keyID }

    /// Re-encrypts `enc` under the primary key; returns it unchanged if it already uses the primary.
    public func reencrypt(_ enc: String, fieldPath: String) throws -> String {
        if try keyID(of: enc) == primaryKeyID { return enc }
        var plain = try decrypt(enc, fieldPath: fieldPath)
        defer { wipe(&plain) }
        return try encrypt(plaintext: plain, fieldPath: fieldPath)
    }

    public var description: String { "Keyring(keys: [\(keys.map { "\($0.id): ***" }.joined(separator: ", "))])" }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["keyIDs": keyIDs, "keys": "***"], displayStyle: .struct)
    }
}
