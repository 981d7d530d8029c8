import RampartCrypto

/// One basic-auth user as the gateway receives it: the password only as a PBKDF2-SHA256 hash
/// (PHC string `$pbkdf2-sha256$i=N$SALT$HASH`).
///
/// Iterations: the gateway verifies a credential on the request path, on an event loop, so it uses
/// `BasicAuthUserConfig.iterations` (10,000, about 6 ms here), not the 600,000 of admin tokens at rest
/// (about 330 ms, which would stall every connection of the loop). A successful verification is then
/// cached per loop (see `CompiledBasicAuth`), so PBKDF2 runs once per credential per loop and snapshot.
public struct BasicAuthUserConfig: Sendable {
    public static let iterations = 10_000

    public var username: String
    public var passwordHash: String

    public init(username: String, passwordHash: String) {
        self.username = username
        self.passwordHash = passwordHash
    }

    /// Hashes `password` with a random salt (the plaintext is not kept).
    public static func hashing(username: String, password: [UInt8], iterations: Int = iterations) throws -> BasicAuthUserConfig {
        BasicAuthUserConfig(username: username, passwordHash: try PasswordHash.make(password: password, iterations: iterations))
    }
}

/// Keys for in-memory MACs of credentials; random per process, never leaves it.
enum PluginKeys {
    static let credentialMAC: [UInt8] = Random.bytes(32)
}

/// Per-loop memo of credentials already checked against the PBKDF2 hashes, keyed by
/// HMAC-SHA256(per-process key, "user:password"). Touched only by its own loop.
final class BasicAuthLoopCache: @unchecked Sendable {
    static let maxEntries = 1024
    var verified: [[UInt8]: Int] = [:]   // mac -> user index
    var refused: Set<[UInt8]> = []       // recently failed credentials: answered 401 without PBKDF2

    func remember(_ mac: [UInt8], user: Int) {
        if verified.count >= BasicAuthLoopCache.maxEntries { verified.removeAll(keepingCapacity: true) }
        verified[mac] = user
    }

    func refuse(_ mac: [UInt8]) {
        if refused.count >= BasicAuthLoopCache.maxEntries { refused.removeAll(keepingCapacity: true) }
        refused.insert(mac)
    }
}

/// basic-auth compiled for the loops.
final class CompiledBasicAuth: Sendable {
    let users: [(name: [UInt8], hash: PasswordHash)]
    let caches: [BasicAuthLoopCache]

    init(_ users: [BasicAuthUserConfig], loops: Int) throws {
        var out: [(name: [UInt8], hash: PasswordHash)] = []
        for u in users {
            guard !u.username.isEmpty, !u.username.utf8.contains(UInt8(ascii: ":")) else {
                throw GatewayError.invalidConfig("basic-auth: invalid username")
            }
            guard let h = try? PasswordHash.parse(u.passwordHash) else {
                throw GatewayError.invalidConfig("basic-auth: user \(u.username): password is not a PBKDF2 hash")
            }
            out.append((Array(u.username.utf8), h))
        }
        self.users = out
        caches = (0..<max(loops, 1)).map { _ in BasicAuthLoopCache() }
    }

    /// The user index for an `Authorization` header value, or -1.
    func verify(_ p: UnsafePointer<UInt8>, _ n: Int, loop: Int) -> Int {
        // "Basic" 1*SP token68
        guard n > 6, bytesEqualsLower(p, 5, "basic"), p[5] == ASCII.sp else { return -1 }
        var s = 6
        while s < n && p[s] == ASCII.sp { s += 1 }
        var e = n
        while e > s && (p[e - 1] == ASCII.sp || p[e - 1] == ASCII.tab) { e -= 1 }
        guard e > s, e - s <= 4096 else { return -1 }
        let b64 = String(decoding: UnsafeBufferPointer(start: p + s, count: e - s), as: UTF8.self)
        guard let cred = Base64.decode(b64), let colon = cred.firstIndex(of: UInt8(ascii: ":")) else { return -1 }
        let name = Array(cred[..<colon])
        guard let idx = users.firstIndex(where: { $0.name == name }) else { return -1 }
        let mac = HMAC.sha256(key: PluginKeys.credentialMAC, message: cred)
        let cache = caches[loop < caches.count ? loop : 0]
        if let u = cache.verified[mac] { return u }
        if cache.refused.contains(mac) { return -1 }
        let password = Array(cred[(colon + 1)...])
        if users[idx].hash.matches(password: password) {
            cache.remember(mac, user: idx)
            return idx
        }
        cache.refuse(mac)
        return -1
    }
}
