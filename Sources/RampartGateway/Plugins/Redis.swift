import CLinux
import Glibc
import RampartCrypto
import Synchronization

/// One counter increment asked of redis by a loop for a parked request.
struct RedisJob: Sendable {
    let key: [UInt8]
    let ttlMs: Int
    let loop: LoopShared
    let fd: Int32
    let serial: UInt32
}

/// Redis's answer for a parked request: the window's count including it, or -1 when redis could
/// not be asked (down, timeout, error).
struct LimitReply: Sendable {
    let fd: Int32
    let serial: UInt32
    let count: Int
}

/// The limit-count redis client of one endpoint (host, port, database, password), shared by every
/// route and snapshot that names it, in this process.
///
/// Threading: a dedicated client thread per endpoint does blocking socket I/O with a short timeout
/// (`RedisConfig.timeoutMs`, default 500 ms), never a loop. Loops hand it jobs (a queue + eventfd
/// wake-up); it pipelines all queued jobs as `EVAL` (INCR, PEXPIRE on the first hit: atomic), then
/// posts each answer to the asking loop's inbox and wakes that loop through its eventfd. While redis
/// is down, it retries the connection at most once a second and answers -1 at once in between; the
/// outage is logged once (to stderr, without the password) and so is the recovery.
final class RedisLimiter: Sendable {
    let config: RedisConfig
    private let worker: RedisWorker

    private struct Weak: Sendable { weak var limiter: RedisLimiter? }
    private static let registry = Mutex<[String: Weak]>([:])

    static func shared(for config: RedisConfig) throws -> RedisLimiter {
        var id = "\(config.host)|\(config.port)|\(config.database)|\(config.timeoutMs)|"
        if let pw = config.password { id += Hex.encode(HMAC.sha256(key: PluginKeys.credentialMAC, message: pw.bytes)) }
        return try registry.withLock { reg in
            if let l = reg[id]?.limiter { return l }
            let l = try RedisLimiter(config)
            reg = reg.filter { $0.value.limiter != nil }
            reg[id] = Weak(limiter: l)
            return l
        }
    }

    private init(_ config: RedisConfig) throws {
        guard config.port > 0, config.port <= 65535, !config.host.isEmpty else {
            throw GatewayError.invalidConfig("limit-count: invalid redis address")
        }
        guard config.database >= 0 else { throw GatewayError.invalidConfig("limit-count: invalid redis database") }
        self.config = config
        worker = try RedisWorker(config)
        let w = worker
        // Never joined (a release on a loop thread must not wait for redis I/O): the thread detaches
        // itself and ends once `stop` is seen.
        let t = OSThread {
            pthread_detach(pthread_self())
            w.run()
        }
        try t.start()
    }

    func submit(_ job: RedisJob) { worker.submit(job) }

    deinit { worker.stop() }
}

private final class RedisWorker: Sendable {
    struct Queue {
        var jobs: [RedisJob] = []
        var stopped = false
    }
    let config: RedisConfig
    let wakeFd: Int32
    let queue = Mutex(Queue())

    init(_ config: RedisConfig) throws {
        self.config = config
        let fd = eventfd(0, Int32(EFD_CLOEXEC))
        if fd < 0 { throw GatewayError.system("eventfd", errno) }
        wakeFd = fd
    }

    deinit { close(wakeFd) }

    func submit(_ job: RedisJob) {
        queue.withLock { $0.jobs.append(job) }
        var one: UInt64 = 1
        _ = write(wakeFd, &one, 8)
    }

    func stop() {
        queue.withLock { $0.stopped = true }
        var one: UInt64 = 1
        _ = write(wakeFd, &one, 8)
    }

    var label: String { "\(config.host):\(config.port)" }

    func log(_ s: String) {
        let line = Array("rampart: limit-count: redis \(label) \(s)\n".utf8)
        line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }

    func run() {
        var conn: RedisConnection?
        var down = false
        var nextTry: Int64 = 0
        while true {
            var v: UInt64 = 0
            _ = read(wakeFd, &v, 8)
            let (jobs, stopped) = queue.withLock { q -> ([RedisJob], Bool) in
                let j = q.jobs
                q.jobs.removeAll()
                return (j, q.stopped)
            }
            if stopped {
                answer(jobs.map { LimitReply(fd: $0.fd, serial: $0.serial, count: -1) }, jobs)
                conn?.close()
                return
            }
            if jobs.isEmpty { continue }
            if conn == nil && monotonicMs() >= nextTry {
                do {
                    conn = try RedisConnection(config)
                    if down { log("is reachable again") }
                    down = false
                } catch {
                    nextTry = monotonicMs() + 1000
                    if !down { log("is unavailable (\(error)); limit-count routes fail open or answer 503 until it is back") }
                    down = true
                }
            }
            var counts = [Int](repeating: -1, count: jobs.count)
            if let c = conn {
                do {
                    try c.incrementAll(jobs, into: &counts)
                } catch {
                    c.close()
                    conn = nil
                    nextTry = monotonicMs() + 1000
                    if !down { log("is unavailable (\(error)); limit-count routes fail open or answer 503 until it is back") }
                    down = true
                }
            }
            answer(zip(jobs, counts).map { LimitReply(fd: $0.fd, serial: $0.serial, count: $1) }, jobs)
        }
    }

    func answer(_ replies: [LimitReply], _ jobs: [RedisJob]) {
        var byLoop: [ObjectIdentifier: (LoopShared, [LimitReply])] = [:]
        for (r, j) in zip(replies, jobs) {
            let id = ObjectIdentifier(j.loop)
            byLoop[id, default: (j.loop, [])].1.append(r)
        }
        for (_, (loop, list)) in byLoop {
            loop.inbox.withLock { $0.limitReplies.append(contentsOf: list) }
            loop.wake()
        }
    }
}

struct RedisError: Error, CustomStringConvertible {
    let description: String
}

/// A blocking RESP2 connection with send/receive timeouts, used only by a `RedisWorker` thread.
final class RedisConnection {
    static let script = Array("local c = redis.call('INCR', KEYS[1]) if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return c".utf8)

    let fd: Int32
    var buf: [UInt8] = []
    var pos = 0
    var closed = false

    init(_ config: RedisConfig) throws {
        guard let addr = SocketAddress.resolve(host: config.host, port: config.port) else {
            throw RedisError(description: "cannot resolve \(config.host)")
        }
        let r = Net.connect(addr)
        if r.fd < 0 { throw RedisError(description: "connect: \(String(cString: strerror(r.err)))") }
        fd = r.fd
        if !r.done {
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let n = poll(&pfd, 1, Int32(clamping: config.timeoutMs))
            if n <= 0 {
                close()
                throw RedisError(description: "connect: timed out")
            }
            let e = Net.socketError(fd)
            if e != 0 {
                close()
                throw RedisError(description: "connect: \(String(cString: strerror(e)))")
            }
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        var tv = timeval(tv_sec: config.timeoutMs / 1000, tv_usec: (config.timeoutMs % 1000) * 1000)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        do {
            if let pw = config.password {
                try send([RedisConnection.command([Array("AUTH".utf8), pw.bytes])])
                // Redis's error text names no password; it is still not repeated here.
                guard case .simple = try readReply() else { throw RedisError(description: "AUTH refused") }
            }
            if config.database != 0 {
                try send([RedisConnection.command([Array("SELECT".utf8), Array(String(config.database).utf8)])])
                guard case .simple = try readReply() else { throw RedisError(description: "SELECT \(config.database) refused") }
            }
        } catch {
            close()
            throw error
        }
    }

    func close() {
        if !closed {
            closed = true
            Glibc.close(fd)
        }
    }

    deinit { close() }

    /// One pipelined round trip: an EVAL per job; `counts[i]` gets job i's count (-1 on a redis error reply).
    func incrementAll(_ jobs: [RedisJob], into counts: inout [Int]) throws {
        var out: [UInt8] = []
        for j in jobs {
            out += RedisConnection.command([Array("EVAL".utf8), RedisConnection.script, Array("1".utf8), j.key,
                                            Array(String(j.ttlMs).utf8)])
        }
        try send([out])
        for i in 0..<jobs.count {
            if case .integer(let n) = try readReply() { counts[i] = n }
        }
    }

    static func command(_ args: [[UInt8]]) -> [UInt8] {
        var o = Array("*\(args.count)\r\n".utf8)
        for a in args {
            o += Array("$\(a.count)\r\n".utf8)
            o += a
            o += [ASCII.cr, ASCII.lf]
        }
        return o
    }

    func send(_ parts: [[UInt8]]) throws {
        for part in parts {
            var off = 0
            while off < part.count {
                let n = part.withUnsafeBytes { b -> Int in
                    guard let base = b.baseAddress else { return -1 }
                    return Glibc.send(fd, base + off, b.count - off, Int32(MSG_NOSIGNAL))
                }
                if n <= 0 {
                    if n < 0 && errno == EINTR { continue }
                    throw RedisError(description: n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? "write timed out" : "write failed")
                }
                off += n
            }
        }
    }

    enum Reply {
        case simple
        case error
        case integer(Int)
        case bulk
        case array
        case null
    }

    func readLine() throws -> [UInt8] {
        while true {
            if let cr = buf[pos...].firstIndex(of: ASCII.cr), cr + 1 < buf.count, buf[cr + 1] == ASCII.lf {
                let line = Array(buf[pos..<cr])
                pos = cr + 2
                return line
            }
            try fill()
        }
    }

    func fill() throws {
        if pos > 0 && pos == buf.count {
            buf.removeAll(keepingCapacity: true)
            pos = 0
        }
        if buf.count - pos > 1 << 20 { throw RedisError(description: "reply too large") }
        var tmp = [UInt8](repeating: 0, count: 16 * 1024)
        let n = tmp.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { throw RedisError(description: "connection closed") }
        if n < 0 {
            if errno == EINTR { return }
            throw RedisError(description: errno == EAGAIN || errno == EWOULDBLOCK ? "read timed out" : "read failed")
        }
        buf += tmp[0..<n]
    }

    /// Reads one reply, skipping the contents of bulk strings and arrays.
    func readReply(depth: Int = 0) throws -> Reply {
        guard depth < 8 else { throw RedisError(description: "reply nested too deep") }
        let line = try readLine()
        guard let t = line.first else { throw RedisError(description: "protocol error") }
        let rest = String(decoding: line.dropFirst(), as: UTF8.self)
        switch t {
        case UInt8(ascii: "+"): return .simple
        case UInt8(ascii: "-"): return .error
        case UInt8(ascii: ":"):
            guard let n = Int(rest) else { throw RedisError(description: "protocol error") }
            return .integer(n)
        case UInt8(ascii: "$"):
            guard let n = Int(rest), n <= 1 << 20 else { throw RedisError(description: "protocol error") }
            if n < 0 { return .null }
            while buf.count - pos < n + 2 { try fill() }
            pos += n + 2
            return .bulk
        case UInt8(ascii: "*"):
            guard let n = Int(rest), n <= 1024 else { throw RedisError(description: "protocol error") }
            if n < 0 { return .null }
            for _ in 0..<n { _ = try readReply(depth: depth + 1) }
            return .array
        default:
            throw RedisError(description: "protocol error")
        }
    }
}
