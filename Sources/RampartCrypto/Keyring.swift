import Foundation

/// An ordered set of AES-256 keys (API.md 1.4): the first (primary) encrypts, every key decrypts.
/// A value type; key bytes live in wiped-on-release storage and are never printed or reflected.
public struct Keyring: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Iterations used to stretch a passphrase into a key (API.md 1.4).
    public static let passphraseIterations = 600_000

    /// One named 32-byte key. Prints as `Key(id: ID, ***)`.
    public struct Key: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        public let id: String
        /// The key with its cipher contexts, shared by every copy of this Key (and of keyrings holding it).
        let cipher: AEADKey

        /// From a material string: base64 of exactly 32 bytes is the key itself; anything else is a
        /// passphrase stretched by PBKDF2-HMAC-SHA256, 600,000 iterations, salt = UTF-8 of `id`.
        public init(id: String, material: String) throws {
            try EncryptedValue.validate(keyID: id)
            guard !material.isEmpty else {
                throw CryptoError(.invalidArgument, "keyring: key \(id) has empty material", keyID: id)
            }
            if var raw = Base64.decode(material, padding: true), raw.count == AEAD.keyByteCount {
                cipher = try AEADKey(secret: SecretBytes(raw))
                wipe(&raw)
            } else {
                var pass = Array(material.utf8)
                defer { wipe(&pass) }
                var derived = try PBKDF2.sha256(password: pass, salt: Array(id.utf8),
                                                iterations: Keyring.passphraseIterations, length: AEAD.keyByteCount)
                cipher = try AEADKey(secret: SecretBytes(derived))
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
            cipher = try AEADKey(secret: SecretBytes(rawKey))
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

    /// Encrypts with the primary key, bound to `binding`; returns `$enc:v2:KEYID:BASE64`.
    public func encrypt(plaintext: [UInt8], binding: EncryptionBinding) throws -> String {
        try seal(plaintext, binding: binding, with: keys[0])
    }

    /// UTF-8 convenience for `encrypt(plaintext:binding:)`.
    public func encrypt(_ plaintext: String, binding: EncryptionBinding) throws -> String {
        try encrypt(plaintext: Array(plaintext.utf8), binding: binding)
    }

    private func seal(_ plaintext: [UInt8], binding: EncryptionBinding, with key: Key) throws -> String {
        let ad = EncryptedValue.additionalData(keyID: key.id, binding: binding)
        let sealed = try key.cipher.seal(plaintext, additionalData: ad)
        return try EncryptedValue(keyID: key.id, sealed: sealed).description
    }

    private func key(for value: EncryptedValue) throws -> Key {
        guard let key = keys.first(where: { $0.id == value.keyID }) else {
            throw CryptoError(.unknownKey, "keyring: no key with id \(value.keyID) (keyring holds \(keyIDs.joined(separator: ", ")))",
                              keyID: value.keyID)
        }
        return key
    }

    /// Decrypts an `$enc:v2:` string with the key it names, under `binding`. A legacy `$enc:v1:` value
    /// (bound to the field only) is refused: it could have been copied from another resource.
    /// Errors name the key id and the binding, never data.
    public func decrypt(_ enc: String, binding: EncryptionBinding) throws -> [UInt8] {
        let value = try EncryptedValue.parse(enc)
        guard value.version == .v2 else {
            throw CryptoError(.legacyBinding,
                              "keyring: value for \(binding) is a legacy \(EncryptedValue.legacyPrefix) value, bound to the field but not "
                                  + "to the resource; make it again with `rampart encrypt`", keyID: value.keyID)
        }
        let key = try key(for: value)
        let ad = EncryptedValue.additionalData(keyID: key.id, binding: binding)
        do {
            return try key.cipher.open(value.sealed, additionalData: ad)
        } catch let e as CryptoError where e.kind == .authenticationFailed {
            throw CryptoError(.authenticationFailed,
                              "keyring: value for \(binding) does not decrypt with key \(key.id) "
                                  + "(wrong key material, made for another field or resource, or altered)",
                              keyID: key.id)
        }
    }

    /// UTF-8 convenience for `decrypt(_:binding:)`; throws `.malformed` if the plaintext is not UTF-8.
    public func decryptString(_ enc: String, binding: EncryptionBinding) throws -> String {
        var bytes = try decrypt(enc, binding: binding)
        defer { wipe(&bytes) }
        guard let s = String(bytes: bytes, encoding: .utf8) else {
            throw CryptoError(.malformed, "keyring: decrypted value for \(binding) is not UTF-8")
        }
        return s
    }

    /// The key id an `$enc:` string names (parses it; no decryption).
    public func keyID(of enc: String) throws -> String { try EncryptedValue.parse(enc).keyID }

    /// Re-encrypts an `$enc:v2:` value under the primary key; returns it unchanged if it already uses the primary.
    public func reencrypt(_ enc: String, binding: EncryptionBinding) throws -> String {
        if try keyID(of: enc) == primaryKeyID, try EncryptedValue.parse(enc).version == .v2 { return enc }
        var plain = try decrypt(enc, binding: binding)
        defer { wipe(&plain) }
        return try encrypt(plaintext: plain, binding: binding)
    }

    /// Migration of a legacy `$enc:v1:` value that Rampart itself stored (`state.json`, the admin TLS key):
    /// opens it with the v1 additional data (`binding.fieldPath` only) and seals it again as `$enc:v2:`
    /// bound to `binding`, under the key that made it, or the primary with `toPrimary`. Never use it for
    /// manifest values: it would bind a copied value to the resource it was copied into.
    public func rebindLegacy(_ enc: String, binding: EncryptionBinding, toPrimary: Bool = false) throws -> String {
        let value = try EncryptedValue.parse(enc)
        guard value.version == .v1 else {
            throw CryptoError(.invalidArgument, "keyring: value for \(binding) is not a legacy value", keyID: value.keyID)
        }
        let key = try key(for: value)
        let ad = EncryptedValue.legacyAdditionalData(keyID: key.id, fieldPath: binding.fieldPath)
        var plain: [UInt8]
        do {
            plain = try key.cipher.open(value.sealed, additionalData: ad)
        } catch let e as CryptoError where e.kind == .authenticationFailed {
            throw CryptoError(.authenticationFailed,
                              "keyring: legacy value for \(binding) does not decrypt with key \(key.id) (wrong key material, or altered)",
                              keyID: key.id)
        }
        defer { wipe(&plain) }
        return try seal(plain, binding: binding, with: toPrimary ? keys[0] : key)
    }

    public var description: String { "Keyring(keys: [\(keys.map { "\($0.id): ***" }.joined(separator: ", "))])" }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["keyIDs": keyIDs, "keys": "***"], displayStyle: .struct)
    }
}
