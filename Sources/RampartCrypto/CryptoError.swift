import COpenSSL

/// An error from RampartCrypto: what failed, why, and (where relevant) which key id.
/// Messages never contain plaintext, key material or passphrases.
public struct CryptoError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Broad class of failure, for callers that branch on it.
    public enum Kind: String, Sendable, Equatable {
        /// A caller passed a value outside the documented range (key length, iterations, ...).
        case invalidArgument
        /// Input text or bytes do not have the expected structure.
        case malformed
        /// AEAD tag check failed: wrong key, wrong resource or field, or tampered data.
        case authenticationFailed
        /// A legacy `$enc:v1:` value (bound to the field only) where a resource-bound one is required.
        case legacyBinding
        /// A ciphertext names a key id the keyring does not hold.
        case unknownKey
        /// OpenSSL reported a failure; `message` carries its error queue text.
        case openSSL
    }

    public let kind: Kind
    public let message: String
    /// The key id involved, when the error concerns one.
    public let keyID: String?

    public init(_ kind: Kind, _ message: String, keyID: String? = nil) {
        self.kind = kind
        self.message = message
        self.keyID = keyID
    }

    public var description: String { "crypto: \(kind.rawValue): \(message)" }

    /// Builds an `.openSSL` error for `operation`, draining OpenSSL's (thread-local) error queue.
    static func openSSL(_ operation: String) -> CryptoError {
        let detail = OpenSSLErrors.drain()
        return CryptoError(.openSSL, detail.isEmpty ? "\(operation) failed" : "\(operation) failed: \(detail)")
    }
}

/// Reads and clears OpenSSL's thread-local error queue.
enum OpenSSLErrors {
    /// All queued errors as text (`ERR_error_string_n`), joined by "; ". Empties the queue.
    static func drain() -> String {
        var parts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buf = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buf, buf.count)
            if parts.count < 8 { parts.append(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
        }
        return parts.joined(separator: "; ")
    }

    static func clear() { ERR_clear_error() }
}
