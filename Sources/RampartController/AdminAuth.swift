import Foundation
import RampartCrypto
import Synchronization

/// Bearer-token check for the admin API. Tokens are kept only as PBKDF2 hashes; a verified token is
/// remembered by its HMAC under a per-process key, so PBKDF2 runs once per token, not per request.
/// A refused token is remembered the same way (bounded), so repeating a wrong token costs nothing,
/// and PBKDF2 for tokens not seen before runs under a budget (`Budget`): a few at once in all and a
/// rate per client address; past it the caller answers 429 with `Retry-After` instead of queuing
/// 600,000-iteration derivations without bound, and one guessing client cannot use up another's share.
public final class AdminAuth: Sendable {
    /// How much PBKDF2 work unverified tokens may cause.
    public struct Budget: Sendable {
        /// Verifications running at once, from all clients (each takes a CPU for about a third of a
        /// second at 600,000 iterations).
        public var concurrent = 2
        /// Verifications one client address may start per second (a token bucket), and its burst.
        public var perClientPerSecond = 1.0
        public var perClientBurst = 2.0
        /// Client addresses whose buckets are kept; past it full buckets are dropped.
        public var maxClients = 4096
        public init() {}
    }

    /// What `check` decided.
    public enum Decision: Sendable, Equatable {
        case allowed
        case denied
        /// Over the budget: ask again after this many seconds.
        case retryLater(seconds: Int)
    }

    struct Bucket {
        var tokens: Double
        var refilledNs: UInt64
    }

    struct State {
        var verified: Set<[UInt8]> = []
        var refused: Set<[UInt8]> = []
        var running = 0
        var clients: [String: Bucket] = [:]
        var verifications = 0
        var throttled = 0
    }

    static let maxRemembered = 1024
    private let hashes: [PasswordHash]
    private let budget: Budget
    private let cacheKey = Random.bytes(32)
    private let state: Mutex<State>

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(hashes: [PasswordHash], budget: Budget = Budget()) {
        self.hashes = hashes
        self.budget = budget
        state = Mutex(State())
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

    /// Whether an `Authorization` header value carries a valid bearer token; `client` is the
    /// peer address the budget is kept for.
    public func check(authorization: String?, client: String = "") -> Decision {
        guard let a = authorization, a.hasPrefix("Bearer ") else { return .denied }
        let token = String(a.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty, token.utf8.count <= 512 else { return .denied }
        let id = HMAC.sha256(key: cacheKey, message: Array(token.utf8))
        let admitted = state.withLock { s -> Decision? in
            if s.verified.contains(id) { return .allowed }
            if s.refused.contains(id) { return .denied }
            let now = DispatchTime.now().uptimeNanoseconds
            var bucket = s.clients[client].map { refill($0, now) } ?? Bucket(tokens: budget.perClientBurst, refilledNs: now)
            guard s.running < budget.concurrent, bucket.tokens >= 1 else {
                s.throttled += 1
                return .retryLater(seconds: 1)
            }
            bucket.tokens -= 1
            if s.clients[client] == nil && s.clients.count >= budget.maxClients {
                s.clients = s.clients.filter { refill($0.value, now).tokens < budget.perClientBurst }
                if s.clients.count >= budget.maxClients { s.clients.removeAll() }
            }
            s.clients[client] = bucket
            s.running += 1
            s.verifications += 1
            return nil
        }
        if let admitted { return admitted }
        let ok = hashes.contains { $0.matches(password: Array(token.utf8)) }
        state.withLock { s in
            s.running -= 1
            if ok {
                if s.verified.count >= AdminAuth.maxRemembered { s.verified.removeAll() }
                s.verified.insert(id)
            } else {
                if s.refused.count >= AdminAuth.maxRemembered { s.refused.removeAll() }
                s.refused.insert(id)
            }
        }
        return ok ? .allowed : .denied
    }

    private func refill(_ b: Bucket, _ now: UInt64) -> Bucket {
        let elapsed = Double(now &- b.refilledNs) / 1e9
        return Bucket(tokens: min(budget.perClientBurst, b.tokens + elapsed * budget.perClientPerSecond), refilledNs: now)
    }

    /// Prometheus text: PBKDF2 verifications run and requests refused for the budget.
    public func metricsText() -> String {
        let (v, t) = state.withLock { ($0.verifications, $0.throttled) }
        return """
        # HELP rampart_admin_token_verifications_total Admin bearer tokens checked with PBKDF2 (not seen before).
        # TYPE rampart_admin_token_verifications_total counter
        rampart_admin_token_verifications_total \(v)
        # HELP rampart_admin_token_throttled_total Admin requests answered 429 because the PBKDF2 budget was spent.
        # TYPE rampart_admin_token_throttled_total counter
        rampart_admin_token_throttled_total \(t)

        """
    }
}
