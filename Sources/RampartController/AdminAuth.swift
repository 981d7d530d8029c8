import Foundation
import RampartCrypto
import Synchronization

/// Bearer-token check for the admin API. Tokens are kept only as PBKDF2 hashes; a verified token is
/// remembered by its HMAC under a per-process key, so PBKDF2 runs once per token, not per request.
public final class AdminAuth: Sendable {
    private let hashes: [PasswordHash]
    private let cacheKey = Random.bytes(32)
    private let verified = Mutex<Set<[UInt8]>>([])

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(hashes: [PasswordHash]) {
        self.hashes = hashes
    }

    /// From `--admin-token-file` (one hash per line; `#` comments), or else the state dir's generated token.
    public static func load(tokenFile: String?, stateDir: StateDir, log: Log) throws -> AdminAuth {
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw Failure(description: "cannot read --admin-token-file \(tokenFile)")
            }
            var hashes: [PasswordHash] = []
            for (i, line) in text.split(separator: "\n").enumerated() {
                let t = line.trimmingCharacters(in: .whitespaces)
                if t.isEmpty || t.hasPrefix("#") { continue }
                do { hashes.append(try PasswordHash.parse(t)) } catch {
                    throw Failure(description: "\(tokenFile):\(i + 1): \(error)")
                }
            }
            guard !hashes.isEmpty else { throw Failure(description: "\(tokenFile) holds no token hashes") }
            return AdminAuth(hashes: hashes)
        }
        if let stored = stateDir.read("admin-token.hash"), let h = try? PasswordHash.parse(String(decoding: stored, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) {
            return AdminAuth(hashes: [h])
        }
        let token = "rmp_" + Hex.encode(Random.bytes(24))
        let encoded = try PasswordHash.make(password: token)
        let h = try PasswordHash.parse(encoded)
        try stateDir.writeAtomically("admin-token", Array((token + "\n").utf8))
        try stateDir.writeAtomically("admin-token.hash", Array((encoded + "\n").utf8))
        log.info("generated an admin token; read it once from the state dir and keep it safe", ["file": stateDir.file("admin-token")])
        return AdminAuth(hashes: [h])
    }

    /// Whether an `Authorization` header value carries a valid bearer token.
    public func check(authorization: String?) -> Bool {
        guard let a = authorization, a.hasPrefix("Bearer ") else { return false }
        let token = String(a.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty, token.utf8.count <= 512 else { return false }
        let id = HMAC.sha256(key: cacheKey, message: Array(token.utf8))
        if verified.withLock({ $0.contains(id) }) { return true }
        guard hashes.contains(where: { $0.matches(password: Array(token.utf8)) }) else { return false }
        verified.withLock { if $0.count < 1024 { $0.insert(id) } }
        return true
    }
}
