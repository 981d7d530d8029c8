import RampartCrypto

/// One basic-auth user as the gateway receives it: the password only as a PBKDF2-SHA256 hash
/// (PHC string `$pbkdf2-sha256$i=N$SALT$HASH`).
///
/// Iterations: `BasicAuthUserConfig.iterations` (10,000, about 2 ms here), not the 600,000 of admin
/// tokens at rest: every new credential costs one PBKDF2 on the verifier threads
/// (`CredentialVerifier`), and a loop's budget of pending checks is what a guessing flood uses up.
/// A verified (or refused) credential is then cached per loop (see `CompiledBasicAuth`).
public struct BasicAuthUserConfig: Sendable, Equatable {
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

/// What basic-auth knows about a request's credential without running PBKDF2.
enum BasicAuthCheck {
    /// Verified before: this user index.
    case user(Int)
    /// No usable credential, or one refused before.
    case denied
    /// Needs a PBKDF2 check (`CredentialVerifier`); the result goes into the loop's cache.
    case verify(CredentialJob.Credential)
}

/// basic-auth compiled for the loops. Request hook `basicAuthUser` (below); no per-exchange state
/// (a request waiting for its PBKDF2 check is parked, Access.swift).
final class CompiledBasicAuth: Sendable {
    let users: [(name: [UInt8], hash: PasswordHash)]
    let caches: [BasicAuthLoopCache]
    /// What an unknown user's password is checked against: random salt and hash with the parameters
    /// of the users' hashes, so an unknown name costs one PBKDF2 like a known one and a response's
    /// timing does not tell which names exist. It matches no password.
    let dummy: PasswordHash

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
        dummy = try CompiledBasicAuth.dummyHash(like: out.first?.hash)
    }

    static func dummyHash(like model: PasswordHash?) throws -> PasswordHash {
        let iterations = model?.iterations ?? BasicAuthUserConfig.iterations
        let salt = Random.bytes(model?.salt.count ?? 16)
        let hash = Random.bytes(model?.hash.count ?? 32)
        do {
            return try PasswordHash.parse("$pbkdf2-sha256$i=\(iterations)$\(Base64.encode(salt, padding: false))$\(Base64.encode(hash, padding: false))")
        } catch {
            throw GatewayError.invalidConfig("basic-auth: cannot make the unknown-user hash: \(error)")
        }
    }

    /// Looks an `Authorization` header value up in the loop's cache. A known and an unknown user
    /// take the same path: MAC, cache, then one PBKDF2 (against the dummy hash for an unknown user).
    func check(_ p: UnsafePointer<UInt8>, _ n: Int, loop: Int) -> BasicAuthCheck {
        // "Basic" 1*SP token68
        guard n > 6, bytesEqualsLower(p, 5, "basic"), p[5] == ASCII.sp else { return .denied }
        var s = 6
        while s < n && p[s] == ASCII.sp { s += 1 }
        var e = n
        while e > s && (p[e - 1] == ASCII.sp || p[e - 1] == ASCII.tab) { e -= 1 }
        guard e > s, e - s <= 4096 else { return .denied }
        let b64 = String(decoding: UnsafeBufferPointer(start: p + s, count: e - s), as: UTF8.self)
        guard var cred = Base64.decode(b64) else { return .denied }
        defer { for i in cred.indices { cred[i] = 0 } }
        guard let colon = cred.firstIndex(of: UInt8(ascii: ":")) else { return .denied }
        let name = cred[..<colon]
        let idx = users.firstIndex { $0.name.elementsEqual(name) } ?? -1
        let mac = HMAC.sha256(key: PluginKeys.credentialMAC, message: cred)
        let cache = caches[loop < caches.count ? loop : 0]
        if let u = cache.verified[mac] { return .user(u) }
        if cache.refused.contains(mac) { return .denied }
        return .verify(CredentialJob.Credential(hash: idx >= 0 ? users[idx].hash : dummy, password: Array(cred[(colon + 1)...]),
                                                user: idx, mac: mac, auth: self))
    }

    /// Stores a verification's result in the loop's cache; the user index, or -1.
    func learn(_ mac: [UInt8], user: Int, matched: Bool, loop: Int) -> Int {
        let cache = caches[loop < caches.count ? loop : 0]
        if matched && user >= 0 && user < users.count {
            cache.remember(mac, user: user)
            return user
        }
        cache.refuse(mac)
        return -1
    }
}

extension EventLoop {
    /// The basic-auth user of a request, or -1 when it was answered (401, 429) or parked for a PBKDF2 check.
    func basicAuthUser(_ c: ClientConn, _ ba: CompiledBasicAuth, _ h: RequestHead, _ p: UnsafePointer<UInt8>,
                       limitCount: Int?) -> Int {
        var check = BasicAuthCheck.denied
        for hd in h.headers where bytesEqualsLower(p + Int(hd.nameStart), Int(hd.nameLen), "authorization") {
            check = ba.check(p + Int(hd.valueStart), Int(hd.valueLen), loop: index)
            break
        }
        switch check {
        case .user(let u):
            return u
        case .denied:
            rejectHead(c, 401, keepAlive: true) { o in o.append("WWW-Authenticate: Basic realm=\"rampart\"\r\n") }
            return -1
        case .verify(var cred):
            guard pendingVerifications < BasicAuthBudget.maxPendingPerLoop else {
                for i in cred.password.indices { cred.password[i] = 0 }
                counters.count(.basicAuthOverloads)
                rejectHead(c, 429, keepAlive: true) { o in
                    o.append("Retry-After: ")
                    o.appendDecimal(BasicAuthBudget.retryAfterSeconds)
                    o.append("\r\n")
                }
                return -1
            }
            counters.count(.basicAuthVerifications)
            let job = CredentialJob(credential: cred, limitCount: limitCount, loop: shared, fd: c.fd, serial: c.serial)
            if CredentialVerifier.shared.submit(job) {
                pendingVerifications += 1
                parkRequest(c, timeoutMs: BasicAuthBudget.parkTimeoutMs)
                return -1
            }
            // No verifier thread could start: check here rather than not at all.
            let user = ba.learn(cred.mac, user: cred.user, matched: CredentialVerifier.verify(&cred), loop: index)
            if user < 0 {
                rejectHead(c, 401, keepAlive: true) { o in o.append("WWW-Authenticate: Basic realm=\"rampart\"\r\n") }
            }
            return user
        }
    }
}
