import COpenSSL
import Foundation

/// PBKDF2-HMAC-SHA256 (PKCS5_PBKDF2_HMAC).
public enum PBKDF2 {
    public static func sha256(password: [UInt8], salt: [UInt8], iterations: Int, length: Int = 32) -> [UInt8]? {
        guard iterations > 0, length > 0 else { return nil }
        var out = [UInt8](repeating: 0, count: length)
        let ok = password.withUnsafeBytes { p in
            salt.withUnsafeBytes { s in
                out.withUnsafeMutableBytes { o in
                    PKCS5_PBKDF2_HMAC(p.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(p.count),
                                      s.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(s.count), Int32(iterations),
                                      EVP_sha256(), Int32(length), o.baseAddress?.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
        return ok == 1 ? out : nil
    }
}

/// Self-describing password hashes: `$pbkdf2-sha256$i=600000$SALT$HASH` (salt and hash: unpadded standard base64).
public struct PasswordHash: Sendable, Hashable {
    public var iterations: Int
    public var salt: [UInt8]
    public var hash: [UInt8]

    public static let defaultIterations = 600_000
    /// Caps the work a crafted hash string can demand.
    public static let maxIterations = 10_000_000

    public struct Malformed: Error, CustomStringConvertible {
        public var description: String
    }

    public static func make(password: String, iterations: Int = defaultIterations) -> PasswordHash? {
        let salt = Random.bytes(16)
        guard let h = PBKDF2.sha256(password: Array(password.utf8), salt: salt, iterations: iterations) else { return nil }
        return PasswordHash(iterations: iterations, salt: salt, hash: h)
    }

    public var encoded: String {
        "$pbkdf2-sha256$i=\(iterations)$\(Self.b64(salt))$\(Self.b64(hash))"
    }

    public init(iterations: Int, salt: [UInt8], hash: [UInt8]) {
        self.iterations = iterations
        self.salt = salt
        self.hash = hash
    }

    public init(parsing s: String) throws {
        let parts = s.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "pbkdf2-sha256", parts[2].hasPrefix("i="),
              let i = Int(parts[2].dropFirst(2)), i >= 1, i <= Self.maxIterations,
              let salt = Self.unb64(String(parts[3])), salt.count >= 8, let hash = Self.unb64(String(parts[4])), hash.count >= 16 else {
            throw Malformed(description: "not a $pbkdf2-sha256$i=N$SALT$HASH hash (iterations 1-\(Self.maxIterations))")
        }
        self.init(iterations: i, salt: salt, hash: hash)
    }

    /// Constant-time check of a password against this hash.
    public func verify(_ password: String) -> Bool {
        guard let h = PBKDF2.sha256(password: Array(password.utf8), salt: salt, iterations: iterations, length: hash.count) else { return false }
        return ConstantTime.equals(h, hash)
    }

    static func b64(_ b: [UInt8]) -> String {
        Data(b).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    static func unb64(_ s: String) -> [UInt8]? {
        let padded = s + String(repeating: "=", count: (4 - s.count % 4) % 4)
        return Data(base64Encoded: padded).map { [UInt8]($0) }
    }
}
