import COpenSSL

/// PBKDF2 (RFC 8018) with HMAC-SHA256 through `PKCS5_PBKDF2_HMAC`.
public enum PBKDF2 {
    /// Largest accepted output length in bytes.
    public static let maxLength = 1024

    /// Derives `length` bytes (1...1024) from `password` and `salt` with `iterations` (>= 1) rounds.
    public static func sha256(password: [UInt8], salt: [UInt8], iterations: Int, length: Int) throws -> [UInt8] {
        guard iterations >= 1, iterations <= Int(Int32.max) else {
            throw CryptoError(.invalidArgument, "PBKDF2: iterations \(iterations) out of range 1...\(Int32.max)")
        }
        guard length >= 1, length <= maxLength else {
            throw CryptoError(.invalidArgument, "PBKDF2: length \(length) out of range 1...\(maxLength)")
        }
        guard password.count <= Int(Int32.max), salt.count <= Int(Int32.max) else {
            throw CryptoError(.invalidArgument, "PBKDF2: password or salt too long")
        }
        var out = [UInt8](repeating: 0, count: length)
        // Empty buffers may have nil base addresses; hand OpenSSL a valid pointer with length 0.
        let pw = password.isEmpty ? [0] : password
        let sa = salt.isEmpty ? [0] : salt
        let rc = pw.withUnsafeBytes { p in
            sa.withUnsafeBytes { s in
                out.withUnsafeMutableBufferPointer { o in
                    PKCS5_PBKDF2_HMAC(p.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(password.count),
                                      s.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(salt.count),
                                      Int32(iterations), EVP_sha256(), Int32(length), o.baseAddress)
                }
            }
        }
        guard rc == 1 else { throw CryptoError.openSSL("PKCS5_PBKDF2_HMAC") }
        return out
    }
}

/// Password hashes in the PHC string format `$pbkdf2-sha256$i=ITER$SALT$HASH`.
/// SALT and HASH are standard-alphabet base64 (`+/`) without `=` padding, as PHC specifies.
public struct PasswordHash: Sendable, Equatable, CustomStringConvertible {
    /// Default (and API.md) iteration count, the OWASP 2023 figure for PBKDF2-HMAC-SHA256.
    public static let defaultIterations = 600_000
    /// Upper bound accepted from a stored hash: a crafted hash cannot make verification take minutes.
    public static let maxIterations = 10_000_000
    /// Longest hash string `parse` accepts.
    public static let maxEncodedLength = 512
    static let prefix = "$pbkdf2-sha256$"

    public let iterations: Int
    public let salt: [UInt8]
    public let hash: [UInt8]

    /// The PHC string (`$pbkdf2-sha256$i=...$...$...`). It holds no plaintext, only salt and hash.
    public var description: String {
        "\(Self.prefix)i=\(iterations)$\(Base64.encode(salt, padding: false))$\(Base64.encode(hash, padding: false))"
    }

    /// Hashes `password` (UTF-8) with a random 16-byte salt into a 32-byte PBKDF2-HMAC-SHA256 hash string.
    public static func make(password: String, iterations: Int = defaultIterations) throws -> String {
        try make(password: Array(password.utf8), iterations: iterations)
    }

    /// Hashes raw `password` bytes; see `make(password:iterations:)`.
    public static func make(password: [UInt8], iterations: Int = defaultIterations) throws -> String {
        guard iterations >= 1, iterations <= maxIterations else {
            throw CryptoError(.invalidArgument, "password hash: iterations \(iterations) out of range 1...\(maxIterations)")
        }
        let salt = Random.bytes(16)
        let hash = try PBKDF2.sha256(password: password, salt: salt, iterations: iterations, length: 32)
        return PasswordHash(iterations: iterations, salt: salt, hash: hash).description
    }

    /// True when `password` (UTF-8) matches `hashString`. Malformed hash strings never match.
    /// The final comparison is constant time.
    public static func verify(password: String, against hashString: String) -> Bool {
        verify(password: Array(password.utf8), against: hashString)
    }

    /// Raw-bytes form of `verify(password:against:)`.
    public static func verify(password: [UInt8], against hashString: String) -> Bool {
        guard let parsed = try? parse(hashString) else { return false }
        return parsed.matches(password: password)
    }

    /// True when `password` derives this hash.
    public func matches(password: [UInt8]) -> Bool {
        guard let derived = try? PBKDF2.sha256(password: password, salt: salt, iterations: iterations, length: hash.count)
        else { return false }
        return ConstantTime.equals(derived, hash)
    }

    /// Parses a PHC `$pbkdf2-sha256$i=N$SALT$HASH` string. Iterations 1...10,000,000, salt 8...64 bytes,
    /// hash 16...64 bytes; anything else is a `.malformed` error that names the offending part.
    public static func parse(_ text: String) throws -> PasswordHash {
        func bad(_ why: String) -> CryptoError { CryptoError(.malformed, "password hash: \(why)") }
        guard text.utf8.count <= maxEncodedLength else { throw bad("longer than \(maxEncodedLength) characters") }
        guard text.hasPrefix(prefix) else { throw bad("must start with \(prefix)") }
        let parts = text.dropFirst(prefix.count).split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw bad("expected i=ITERATIONS$SALT$HASH after the prefix") }
        let iterPart = parts[0]
        guard iterPart.hasPrefix("i=") else { throw bad("iterations must be written i=N") }
        let digits = iterPart.dropFirst(2)
        guard !digits.isEmpty, digits.count <= 9, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              !(digits.count > 1 && digits.hasPrefix("0")), let iterations = Int(digits) else {
            throw bad("iterations must be a decimal number")
        }
        guard iterations >= 1, iterations <= maxIterations else {
            throw bad("iterations \(iterations) out of range 1...\(maxIterations)")
        }
        guard let salt = Base64.decode(String(parts[1]), padding: false) else { throw bad("salt is not unpadded base64") }
        guard (8...64).contains(salt.count) else { throw bad("salt must be 8...64 bytes, got \(salt.count)") }
        guard let hash = Base64.decode(String(parts[2]), padding: false) else { throw bad("hash is not unpadded base64") }
        guard (16...64).contains(hash.count) else { throw bad("hash must be 16...64 bytes, got \(hash.count)") }
        return PasswordHash(iterations: iterations, salt: salt, hash: hash)
    }

    init(iterations: Int, salt: [UInt8], hash: [UInt8]) {
        self.iterations = iterations
        self.salt = salt
        self.hash = hash
    }
}
