import Glibc
import RampartCrypto
import RampartModel
import Synchronization

/// A secret the gateway must hold in plaintext (the redis password for AUTH). Never printed:
/// descriptions, debug descriptions and mirrors show `***`.
/// Equatable (in constant time) so that an apply recompiles a route whose redis password rotated.
public struct SecretValue: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public static func == (lhs: SecretValue, rhs: SecretValue) -> Bool { ConstantTime.equals(lhs.bytes, rhs.bytes) }
    public var description: String { "***" }
    public var debugDescription: String { "***" }
    public var customMirror: Mirror { Mirror(self, children: ["value": "***"]) }
}

public enum LimitKey: Sendable, Equatable {
    case remoteAddr
    case header(String)
    /// The key-auth key index / basic-auth user; the client address when the route has no auth plugin.
    case consumer
}

public struct RedisConfig: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var password: SecretValue?
    public var database: Int
    /// Connect/read/write timeout of the redis client thread.
    public var timeoutMs: Int

    public init(host: String = "127.0.0.1", port: Int = SchemaDefaults.redisPort, password: SecretValue? = nil,
                database: Int = SchemaDefaults.redisDatabase, timeoutMs: Int = 500) {
        self.host = host
        self.port = port
        self.password = password
        self.database = database
        self.timeoutMs = timeoutMs
    }
}

/// limit-count: fixed windows of `windowMs` aligned on the wall clock (so that gateways sharing a
/// redis agree on them); `redis == nil` counts in this process (policy local).
public struct LimitCountConfig: Sendable, Equatable {
    public var count: Int
    public var windowMs: Int
    public var key: LimitKey
    public var redis: RedisConfig?
    public var failOpen: Bool

    public init(count: Int, windowMs: Int, key: LimitKey = .remoteAddr, redis: RedisConfig? = nil, failOpen: Bool = SchemaDefaults.limitFailOpen) {
        self.count = count
        self.windowMs = windowMs
        self.key = key
        self.redis = redis
        self.failOpen = failOpen
    }
}

/// Per-process fixed-window counters shared by every loop without locks: an open-addressed table of
/// 2^17 `Atomic<UInt64>` slots, each packing a 16-bit key fingerprint, the low 20 bits of the window
/// number and a 28-bit count, updated by compare-and-swap. A key probes 8 slots from its hash; a slot
/// whose window is over is reused. If all 8 hold live counters of other keys (far more than 100,000
/// distinct keys in one window), the request is admitted uncounted rather than charged to another key.
final class LocalCounters: @unchecked Sendable {
    // The slots are only accessed through their atomics; the table lives for the whole process.
    static let shared = LocalCounters(log2Slots: 17)
    static let probe = 8
    static let maxCount: UInt64 = (1 << 28) - 1

    let slots: UnsafeMutablePointer<Atomic<UInt64>>
    let mask: Int

    init(log2Slots: Int) {
        let n = 1 << log2Slots
        slots = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: n)
        for i in 0..<n { (slots + i).initialize(to: Atomic<UInt64>(0)) }
        mask = n - 1
    }

    /// Counts one hit of `hash` in `window`; returns the count including this hit.
    func hit(hash: UInt64, window: UInt64) -> Int {
        let fp = (hash >> 48) | 1
        let w = window & 0xFFFFF
        let fresh = fp << 48 | w << 28 | 1
        let base = Int(truncatingIfNeeded: hash) & mask
        while true {
            var cand = -1
            var candValue: UInt64 = 0
            var retry = false
            for k in 0..<LocalCounters.probe {
                let i = (base + k) & mask
                let v = slots[i].load(ordering: .relaxed)
                let vw = (v >> 28) & 0xFFFFF
                if v >> 48 == fp {
                    let n: UInt64
                    let next: UInt64
                    if vw == w {
                        n = min((v & LocalCounters.maxCount) + 1, LocalCounters.maxCount)
                        next = fp << 48 | w << 28 | n
                    } else {
                        n = 1
                        next = fresh
                    }
                    if slots[i].compareExchange(expected: v, desired: next, ordering: .relaxed).exchanged { return Int(n) }
                    retry = true
                    break
                }
                if cand < 0 && (v == 0 || vw != w) {
                    cand = i
                    candValue = v
                }
            }
            if retry { continue }
            if cand < 0 { return 1 }
            if slots[cand].compareExchange(expected: candValue, desired: fresh, ordering: .relaxed).exchanged { return 1 }
        }
    }
}

/// limit-count compiled for the loops. Request hook `applyLimit`, response hook `writeHeaders`;
/// per-exchange state `Exchange` (the RateLimit-* values, and the count of a parked request).
final class CompiledLimitCount: Sendable {
    struct Exchange {
        /// RateLimit-Remaining of this exchange, -1 when it was not counted (no RateLimit-* headers).
        var remaining = -1
        var resetSeconds = 0
        /// The count already taken for a request parked after counting (redis answered, or basic-auth
        /// parked it); used instead of counting again when it restarts.
        var decided: Int?
    }

    let limit: Int
    let windowMs: Int
    let key: LimitKey
    let headerLower: [UInt8]
    let failOpen: Bool
    let routeID: [UInt8]
    let redis: RedisLimiter?
    let limitText: [UInt8]

    init(_ c: LimitCountConfig, routeID: String) throws {
        guard c.count >= 1 else { throw GatewayError.invalidConfig("limit-count: count must be at least 1") }
        guard c.windowMs >= 1 else { throw GatewayError.invalidConfig("limit-count: window must be positive") }
        limit = c.count
        windowMs = c.windowMs
        key = c.key
        if case .header(let name) = c.key {
            guard !name.isEmpty, name.utf8.allSatisfy({ ASCII.tchar[Int($0)] }) else {
                throw GatewayError.invalidConfig("limit-count: invalid key header")
            }
            headerLower = lowerBytes(name)
        } else {
            headerLower = []
        }
        failOpen = c.failOpen
        self.routeID = Array(routeID.utf8)
        redis = try c.redis.map { try RedisLimiter.shared(for: $0) }
        limitText = Array(String(c.count).utf8)
    }

    /// The response hook (also the 429's lines): RateLimit-* when the exchange was counted.
    func writeHeaders(_ state: Exchange, _ o: ByteBuffer, retryAfter: Bool) {
        guard state.remaining >= 0 else { return }
        o.append("RateLimit-Limit: ")
        o.append(limitText)
        o.append("\r\nRateLimit-Remaining: ")
        o.appendDecimal(state.remaining)
        o.append("\r\nRateLimit-Reset: ")
        o.appendDecimal(state.resetSeconds)
        o.append("\r\n")
        if retryAfter {
            o.append("Retry-After: ")
            o.appendDecimal(state.resetSeconds)
            o.append("\r\n")
        }
    }

    /// Hash of (route, window length, key) for the local table; Swift's per-process seeded SipHash.
    func localHash(_ key: [UInt8]) -> UInt64 {
        var h = Hasher()
        h.combine(routeID.count)
        routeID.withUnsafeBytes { h.combine(bytes: $0) }
        h.combine(windowMs)
        key.withUnsafeBytes { h.combine(bytes: $0) }
        return UInt64(bitPattern: Int64(h.finalize()))
    }

    /// The redis key of `key` in `window`: binary safe, the same in every gateway.
    func redisKey(_ key: [UInt8], window: Int64) -> [UInt8] {
        var k = Array("rampart:lc:".utf8)
        k += routeID
        k.append(UInt8(ascii: ":"))
        k += Array(String(windowMs).utf8)
        k.append(UInt8(ascii: ":"))
        k += Array(String(window).utf8)
        k.append(UInt8(ascii: ":"))
        k += key.count <= 256 ? key : Array(Hex.encode(KeyAuthConfig.digest(key)).utf8)
        return k
    }
}

func realtimeMs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

extension EventLoop {
    /// Applies limit-count to a request. Returns the window's count to go on (-1: redis was not
    /// reachable and the route fails open); nil when the request was answered (429, 503) or parked
    /// waiting for redis (it is restarted by `resumeLimited`). `decided`: the count already taken for
    /// this request before it was parked (by redis, or by this function before basic-auth parked it).
    func applyLimit(_ c: ClientConn, _ lc: CompiledLimitCount, consumer: [UInt8], clientIP: [UInt8],
                    _ h: RequestHead, _ p: UnsafePointer<UInt8>, decided: Int?) -> Int? {
        var key: [UInt8]
        switch lc.key {
        case .remoteAddr:
            key = clientIP
        case .consumer:
            key = consumer.isEmpty ? clientIP : consumer
        case .header:
            key = clientIP
            for hd in h.headers where bytesEqualsLower(p + Int(hd.nameStart), Int(hd.nameLen), lc.headerLower) {
                key = [UInt8(ascii: "h")] + Array(UnsafeBufferPointer(start: p + Int(hd.valueStart), count: Int(hd.valueLen)))
                break
            }
        }
        let nowMs = realtimeMs()
        let window = nowMs / Int64(lc.windowMs)
        let resetMs = (window + 1) * Int64(lc.windowMs) - nowMs
        let count: Int
        if let d = decided {
            count = d
        } else if let redis = lc.redis {
            parkForRedis(c, redis, key: lc.redisKey(key, window: window), ttlMs: Int(Int64(lc.windowMs).addingSaturated(1000)))
            return nil
        } else {
            count = LocalCounters.shared.hit(hash: lc.localHash(key), window: UInt64(window))
        }
        if count < 0 {
            // Redis unreachable (logged once per outage by its client thread).
            if lc.failOpen { return count }
            rejectHead(c, 503, keepAlive: true)
            return nil
        }
        c.plugins.limitCount.remaining = max(0, lc.limit - count)
        c.plugins.limitCount.resetSeconds = Int(resetMs.addingSaturated(999) / 1000)
        if count > lc.limit {
            let state = c.plugins.limitCount
            rejectHead(c, 429, keepAlive: true) { o in lc.writeHeaders(state, o, retryAfter: true) }
            return nil
        }
        return count
    }

    /// Parks the request (`parkRequest`) until the redis client thread answers; the deadline only
    /// fires if it never does.
    func parkForRedis(_ c: ClientConn, _ redis: RedisLimiter, key: [UInt8], ttlMs: Int) {
        parkRequest(c, timeoutMs: redis.config.timeoutMs * 4 + 2000)
        redis.submit(RedisJob(key: key, ttlMs: ttlMs, loop: shared, fd: c.fd, serial: c.serial))
    }

    /// Restarts parked requests with redis's answer: `startRequest` uses the count instead of asking again.
    func resumeLimited(_ replies: [LimitReply]) {
        for r in replies { resumeParked(fd: r.fd, serial: r.serial, limitReply: r.count) }
    }
}
