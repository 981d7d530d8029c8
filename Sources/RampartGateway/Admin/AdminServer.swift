import CLinux
import COpenSSL
import Glibc
import Synchronization

public struct AdminRequest: Sendable {
    public var method: String
    public var path: String
    public var query: String
    public var headers: [HeaderPair]
    public var body: [UInt8]
    public var remoteAddress: String

    public init(method: String, path: String, query: String = "", headers: [HeaderPair] = [], body: [UInt8] = [],
                remoteAddress: String = "") {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
    }

    /// First value of a header, case-insensitive name.
    public func header(_ name: String) -> String? {
        let l = name.lowercased()
        return headers.first { $0.name.lowercased() == l }?.value
    }
}

public struct AdminResponse: Sendable {
    public var status: Int
    public var headers: [HeaderPair]
    public var body: [UInt8]

    public init(status: Int, headers: [HeaderPair] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ status: Int, _ s: String) -> AdminResponse {
        AdminResponse(status: status, headers: [HeaderPair(name: "Content-Type", value: "application/json")], body: Array(s.utf8))
    }

    public static func text(_ status: Int, _ s: String, contentType: String = "text/plain; charset=utf-8") -> AdminResponse {
        AdminResponse(status: status, headers: [HeaderPair(name: "Content-Type", value: contentType)], body: Array(s.utf8))
    }

    /// 429 or 503 with `Retry-After`: the server will not do this work now.
    public static func retryLater(_ status: Int, seconds: Int, _ reason: String) -> AdminResponse {
        AdminResponse(status: status, headers: [HeaderPair(name: "Retry-After", value: String(seconds)),
                                                HeaderPair(name: "Content-Type", value: "application/json")],
                      body: Array("{\"error\":\"\(reason)\"}".utf8))
    }
}

/// The admin listener's bounds: how many clients, for how long, and how much handler work may wait.
public struct AdminLimits: Sendable {
    /// Open connections in all; one more is closed at accept.
    public var maxConnections = 128
    /// Open connections from one client address: a single client cannot take every slot (a
    /// kubelet probing from the node address still gets in).
    public var maxConnectionsPerClient = 16
    /// From accept to the end of the request head, TLS handshake included: a client that connects
    /// and sends nothing, or half a head, is closed then. Connections carry one request, so this is
    /// also the idle timeout.
    public var headerTimeoutMs = 5_000
    /// From the end of the head to the end of the body.
    public var bodyTimeoutMs = 30_000
    /// For the response to be taken by the client.
    public var writeTimeoutMs = 10_000
    /// Threads running the handler for requests other than the probe paths.
    public var workers = 4
    /// Requests waiting for a worker; past it the answer is 503 with `Retry-After`.
    public var maxQueued = 32
    /// Answered on the I/O thread itself, never queued behind workers (so never behind authentication).
    public var probePaths: Set<String> = ["/healthz", "/readyz", "/metrics"]
    public static let maxHead = 64 * 1024
    public static let maxBody = 16 * 1024 * 1024

    public init() {}
}

/// The admin listener: one epoll I/O thread serves every connection (non-blocking, each phase under
/// a deadline, connections capped in all and per client address); probe paths are answered on that
/// thread, every other request runs on a small bounded pool of worker threads. One request per
/// connection.
public final class AdminServer: Sendable {
    let address: SocketAddress
    let handler: @Sendable (AdminRequest) -> AdminResponse
    let limits: AdminLimits
    let tls: AdminTLSContext?
    let stopFd: Int32
    let workers: AdminWorkers
    private let state = Mutex<(fd: Int32, bound: String, thread: OSThread?)>((-1, "", nil))

    /// `tls`: serve HTTPS only (a plain HTTP request fails the handshake and is closed); nil: plain HTTP.
    public init(listen: String, tls: AdminTLSConfig? = nil, limits: AdminLimits = AdminLimits(),
                handler: @escaping @Sendable (AdminRequest) -> AdminResponse) throws {
        guard let a = SocketAddress.parseListen(listen) else { throw GatewayError.invalidAddress(listen) }
        address = a
        self.tls = try tls.map { try AdminTLSContext($0) }
        self.handler = handler
        self.limits = limits
        let fd = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        if fd < 0 { throw GatewayError.system("eventfd", errno) }
        stopFd = fd
        workers = try AdminWorkers(maxQueued: limits.maxQueued)
    }

    deinit {
        close(stopFd)
        let fd = state.withLock { $0.fd }
        if fd >= 0 { close(fd) }
    }

    public func start() throws {
        let fd = try Net.listen(address, backlog: 128)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let bound = Net.localAddress(fd)?.description ?? address.description
        let io = try AdminIO(server: self, listenFd: fd)
        let t = OSThread { io.run() }
        state.withLock { $0 = (fd, bound, t) }
        try workers.start(count: max(1, limits.workers), handler: handler)
        try t.start()
    }

    public var boundAddress: String { state.withLock { $0.bound } }

    public func stop() {
        var one: UInt64 = 1
        _ = write(stopFd, &one, 8)
        let t = state.withLock { s -> OSThread? in
            let t = s.thread
            s.thread = nil
            return t
        }
        t?.join()
        workers.stop()
        state.withLock { s in
            if s.fd >= 0 { close(s.fd) }
            s.fd = -1
        }
    }

    /// The response's bytes: status line, headers (CR/LF in a header drops it), length, close.
    static func serialize(_ r: AdminResponse, head: Bool) -> [UInt8] {
        var out = "HTTP/1.1 \(r.status) \(String(describing: ResponseWriter.reason(r.status)))\r\n"
        for h in r.headers where !h.name.contains("\r") && !h.name.contains("\n") && !h.value.contains("\r") && !h.value.contains("\n") {
            out += "\(h.name): \(h.value)\r\n"
        }
        out += "Content-Length: \(r.body.count)\r\nConnection: close\r\n\r\n"
        return Array(out.utf8) + (head ? [] : r.body)
    }
}

/// A request handed to the worker threads, and its answer handed back to the I/O thread.
struct AdminJob: Sendable {
    let fd: Int32
    let serial: UInt32
    let request: AdminRequest
}

struct AdminDone: Sendable {
    let fd: Int32
    let serial: UInt32
    let bytes: [UInt8]
}

/// The admin worker threads: a bounded FIFO of requests (a semaphore eventfd counts them) and the
/// finished responses, which wake the I/O thread through `doneFd`.
final class AdminWorkers: Sendable {
    struct Queues {
        var jobs: [AdminJob] = []
        var done: [AdminDone] = []
        var stopped = false
    }
    let maxQueued: Int
    let semaphore: Int32
    let doneFd: Int32
    let queues = Mutex(Queues())
    private let threads = Mutex<Int>(0)

    init(maxQueued: Int) throws {
        self.maxQueued = maxQueued
        let s = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_SEMAPHORE))
        if s < 0 { throw GatewayError.system("eventfd", errno) }
        let d = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        if d < 0 {
            close(s)
            throw GatewayError.system("eventfd", errno)
        }
        semaphore = s
        doneFd = d
    }

    deinit {
        close(semaphore)
        close(doneFd)
    }

    func start(count: Int, handler: @escaping @Sendable (AdminRequest) -> AdminResponse) throws {
        for _ in 0..<count {
            // Never joined: a handler may be slow (a secret refresh); the thread ends once it sees `stopped`.
            let t = OSThread { [self] in
                pthread_detach(pthread_self())
                self.run(handler)
            }
            try t.start()
            threads.withLock { $0 += 1 }
        }
    }

    /// Queues a request; false when `maxQueued` are already waiting.
    func submit(_ job: AdminJob) -> Bool {
        let ok = queues.withLock { q -> Bool in
            if q.stopped || q.jobs.count >= maxQueued { return false }
            q.jobs.append(job)
            return true
        }
        if ok { post(semaphore) }
        return ok
    }

    func takeDone() -> [AdminDone] {
        queues.withLock { q in
            let d = q.done
            q.done.removeAll()
            return d
        }
    }

    func stop() {
        queues.withLock { q in
            q.stopped = true
            q.jobs.removeAll()
        }
        for _ in 0..<threads.withLock({ $0 }) { post(semaphore) }
    }

    private func post(_ fd: Int32) {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    private func run(_ handler: @Sendable (AdminRequest) -> AdminResponse) {
        while true {
            var v: UInt64 = 0
            if read(semaphore, &v, 8) != 8 { continue }
            let next = queues.withLock { q -> (AdminJob?, Bool) in
                if q.stopped { return (nil, true) }
                return (q.jobs.isEmpty ? nil : q.jobs.removeFirst(), false)
            }
            if next.1 { return }
            guard let job = next.0 else { continue }
            let bytes = AdminServer.serialize(handler(job.request), head: job.request.method == "HEAD")
            queues.withLock { $0.done.append(AdminDone(fd: job.fd, serial: job.serial, bytes: bytes)) }
            post(doneFd)
        }
    }
}

/// One admin connection, owned by the I/O thread.
final class AdminConn {
    enum Phase { case handshake, head, body, handling, writing }

    let fd: Int32
    let serial: UInt32
    let peer: String
    var ssl: OpaquePointer?
    var tlsState = TLSIOState()
    var phase: Phase
    var deadline: Int64
    var interest: UInt32 = 0
    let inBuf = ByteBuffer(capacity: 4096)
    var scanner = HeadScanner()
    var request = AdminRequest(method: "", path: "")
    var framing: Framing = .none
    var chunks = ChunkedParser()
    var out: [UInt8] = []
    var outOffset = 0
    var closeWhenWritten = false

    init(fd: Int32, serial: UInt32, peer: String, phase: Phase, deadline: Int64) {
        self.fd = fd
        self.serial = serial
        self.peer = peer
        self.phase = phase
        self.deadline = deadline
    }
}

/// The admin listener's I/O thread: accept, TLS handshake, read head and body, dispatch, write.
final class AdminIO: @unchecked Sendable {
    // Everything here is touched only by the I/O thread once `run` starts.
    let server: AdminServer
    let limits: AdminLimits
    let listenFd: Int32
    let epfd: Int32
    var conns: [Int32: AdminConn] = [:]
    var perClient: [String: Int] = [:]
    var nextSerial: UInt32 = 0
    static let listenToken: UInt64 = 1 << 63
    static let stopToken: UInt64 = 1 << 63 | 1
    static let doneToken: UInt64 = 1 << 63 | 2

    init(server: AdminServer, listenFd: Int32) throws {
        self.server = server
        limits = server.limits
        self.listenFd = listenFd
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        if epfd < 0 { throw GatewayError.system("epoll_create1", errno) }
        add(listenFd, AdminIO.listenToken, evIn)
        add(server.stopFd, AdminIO.stopToken, evIn)
        add(server.workers.doneFd, AdminIO.doneToken, evIn)
    }

    func add(_ fd: Int32, _ token: UInt64, _ events: UInt32) {
        var ev = epoll_event()
        ev.events = events
        ev.data.u64 = token
        _ = epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)
    }

    func token(_ c: AdminConn) -> UInt64 { UInt64(c.serial) << 32 | UInt64(UInt32(bitPattern: c.fd)) }

    func run() {
        let maxEvents: Int32 = 64
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(maxEvents))
        defer {
            events.deallocate()
            for c in Array(conns.values) { closeConn(c) }
            close(epfd)
        }
        while true {
            var timeout: Int32 = -1
            if !conns.isEmpty {
                let next = conns.values.reduce(Int64.max) { min($0, $1.deadline) }
                timeout = Int32(max(0, min(1000, next - monotonicMs())))
            }
            let n = epoll_wait(epfd, events, maxEvents, timeout)
            if n < 0 && errno != EINTR { return }
            for i in 0..<Int(max(n, 0)) {
                let data = events[i].data.u64
                switch data {
                case AdminIO.stopToken:
                    return
                case AdminIO.listenToken:
                    acceptAll()
                case AdminIO.doneToken:
                    var v: UInt64 = 0
                    _ = read(server.workers.doneFd, &v, 8)
                    for d in server.workers.takeDone() { finished(d) }
                default:
                    let fd = Int32(truncatingIfNeeded: data & 0xFFFF_FFFF)
                    guard let c = conns[fd], c.serial == UInt32(truncatingIfNeeded: data >> 32) else { continue }
                    // Gone while its handler runs: epoll would report the hang-up again and again.
                    if c.phase == .handling && events[i].events & evErr != 0 {
                        closeConn(c)
                        continue
                    }
                    drive(c)
                }
            }
            let now = monotonicMs()
            for c in Array(conns.values) where c.deadline <= now { timedOut(c) }
        }
    }

    // MARK: accept

    func acceptAll() {
        while true {
            var ss = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &ss) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept4(listenFd, $0, &len, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            let peer = withUnsafeBytes(of: &ss) { raw -> String in
                guard let base = raw.baseAddress else { return "" }
                return SocketAddress(raw: base, length: Int(len)).ipString
            }
            if conns.count >= limits.maxConnections || perClient[peer, default: 0] >= limits.maxConnectionsPerClient {
                close(fd)
                continue
            }
            nextSerial &+= 1
            let c = AdminConn(fd: fd, serial: nextSerial, peer: peer, phase: server.tls == nil ? .head : .handshake,
                              deadline: monotonicMs() + Int64(limits.headerTimeoutMs))
            if let ctx = server.tls {
                guard let ssl = SSL_new(ctx.ctx) else {
                    ERR_clear_error()
                    close(fd)
                    continue
                }
                SSL_set_fd(ssl, fd)
                SSL_set_accept_state(ssl)
                c.ssl = ssl
                c.tlsState.handshaking = true
            }
            conns[fd] = c
            perClient[peer, default: 0] += 1
            c.interest = evIn
            add(fd, token(c), evIn)
        }
    }

    // MARK: reading

    /// Moves a connection on as far as its socket allows.
    func drive(_ c: AdminConn) {
        if c.phase == .handshake, let ssl = c.ssl {
            switch TLSIO.handshake(ssl, &c.tlsState) {
            case 1: c.phase = .head
            case 0: return refresh(c)
            default:
                ERR_clear_error()
                return closeConn(c)
            }
        }
        if c.phase == .head || c.phase == .body {
            readAvailable(c)
            if conns[c.fd] !== c { return }
        }
        if c.outOffset < c.out.count { flush(c) }
        if conns[c.fd] === c { refresh(c) }
    }

    func readAvailable(_ c: AdminConn) {
        let buf = c.inBuf
        while c.phase == .head || c.phase == .body {
            if buf.readable >= AdminLimits.maxHead + 64 * 1024 && c.phase == .head { return respond(c, .json(431, "{\"error\":\"request header fields too large\"}")) }
            buf.reserve(16 * 1024)
            let n: Int
            if let ssl = c.ssl {
                n = TLSIO.read(ssl, buf.writePointer, buf.writable, &c.tlsState)
            } else {
                n = read(c.fd, buf.writePointer, buf.writable)
            }
            if n == 0 { return closeConn(c) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { return }
                return closeConn(c)
            }
            buf.writeIndex += n
            parse(c)
        }
    }

    func parse(_ c: AdminConn) {
        let buf = c.inBuf
        if c.phase == .head {
            let r = c.scanner.scan(buf.readPointer, buf.readable, maxHead: AdminLimits.maxHead, maxStartLine: 8192)
            if r < 0 { return respond(c, .json(-r, String(describing: ResponseWriter.errorBody(-r)))) }
            if r == 0 { return }
            var head = RequestHead()
            if case .error(let st) = HeadParser.parseRequest(buf.base, base: buf.readIndex, len: r, into: &head) {
                return respond(c, .json(st, String(describing: ResponseWriter.errorBody(st))))
            }
            var headers: [HeaderPair] = []
            for h in head.headers {
                headers.append(HeaderPair(name: buf.string(Int(h.nameStart), Int(h.nameLen)),
                                          value: buf.string(Int(h.valueStart), Int(h.valueLen))))
            }
            let target = buf.string(head.targetStart, head.targetLen)
            var path = target
            var query = ""
            if let q = target.firstIndex(of: "?") {
                path = String(target[..<q])
                query = String(target[target.index(after: q)...])
            }
            c.request = AdminRequest(method: buf.string(head.methodStart, head.methodLen), path: path, query: query,
                                     headers: headers, remoteAddress: c.peer)
            buf.consume(r)
            c.framing = head.framing
            switch head.framing {
            case .length(let n) where n > AdminLimits.maxBody:
                return respond(c, .json(413, "{\"error\":\"body too large\"}"))
            case .length, .chunked:
                c.phase = .body
                c.deadline = monotonicMs() + Int64(limits.bodyTimeoutMs)
                if head.expectContinue { c.out += Array("HTTP/1.1 100 Continue\r\n\r\n".utf8) }
            default:
                return dispatch(c)
            }
        }
        guard c.phase == .body else { return }
        switch c.framing {
        case .length(let n):
            if buf.readable < n { return }
            c.request.body = buf.bytes(buf.readIndex, n)
            buf.consume(n)
        case .chunked:
            while !c.chunks.isDone {
                if buf.isEmpty { return }
                switch c.chunks.next(buf.readPointer, buf.readable) {
                case .error: return respond(c, .json(400, "{\"error\":\"bad request\"}"))
                case .framing(let k): buf.consume(k)
                case .data(let k):
                    c.request.body.append(contentsOf: UnsafeBufferPointer(start: buf.readPointer, count: k))
                    buf.consume(k)
                    if c.request.body.count > AdminLimits.maxBody { return respond(c, .json(413, "{\"error\":\"body too large\"}")) }
                }
            }
        default:
            break
        }
        dispatch(c)
    }

    // MARK: answering

    /// A whole request: a probe path is answered here, anything else waits for a worker.
    func dispatch(_ c: AdminConn) {
        c.inBuf.clear()
        let method = c.request.method
        if limits.probePaths.contains(c.request.path) && (method == "GET" || method == "HEAD") {
            return respond(c, server.handler(c.request), head: method == "HEAD")
        }
        c.phase = .handling
        // The handler's own time is not bounded here; the connection waits for it.
        c.deadline = Int64.max
        if !server.workers.submit(AdminJob(fd: c.fd, serial: c.serial, request: c.request)) {
            respond(c, .retryLater(503, seconds: 1, "admin API busy"))
        }
        c.request.body = []
    }

    func finished(_ d: AdminDone) {
        guard let c = conns[d.fd], c.serial == d.serial, c.phase == .handling else { return }
        write(c, d.bytes)
    }

    func respond(_ c: AdminConn, _ r: AdminResponse, head: Bool = false) {
        write(c, AdminServer.serialize(r, head: head))
    }

    func write(_ c: AdminConn, _ bytes: [UInt8]) {
        c.phase = .writing
        c.inBuf.clear()
        c.out += bytes
        c.closeWhenWritten = true
        c.deadline = monotonicMs() + Int64(limits.writeTimeoutMs)
        flush(c)
        if conns[c.fd] === c { refresh(c) }
    }

    func flush(_ c: AdminConn) {
        while c.outOffset < c.out.count {
            let n = c.out.withUnsafeBytes { b -> Int in
                guard let base = b.baseAddress else { return 0 }
                if let ssl = c.ssl { return TLSIO.write(ssl, base + c.outOffset, b.count - c.outOffset, &c.tlsState) }
                return send(c.fd, base + c.outOffset, b.count - c.outOffset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                c.outOffset += n
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
            return closeConn(c)
        }
        c.out.removeAll()
        c.outOffset = 0
        if c.closeWhenWritten { closeConn(c) }
    }

    func timedOut(_ c: AdminConn) {
        if c.phase == .head && !c.inBuf.isEmpty {
            // Half a head by now: say why, once, without waiting for the client to read it.
            respond(c, .json(408, "{\"error\":\"request timeout\"}"))
            if conns[c.fd] === c { closeConn(c) }
            return
        }
        closeConn(c)
    }

    func refresh(_ c: AdminConn) {
        var want: UInt32 = 0
        switch c.phase {
        case .handshake:
            want = c.tlsState.handshakeWantsWrite ? evOut : evIn
        case .head, .body:
            want = evIn
        case .handling, .writing:
            break
        }
        if c.outOffset < c.out.count { want |= evOut }
        if c.tlsState.readWantsWrite || c.tlsState.writeWantsRead { want |= evIn | evOut }
        if want != c.interest {
            c.interest = want
            var ev = epoll_event()
            ev.events = want
            ev.data.u64 = token(c)
            _ = epoll_ctl(epfd, EPOLL_CTL_MOD, c.fd, &ev)
        }
    }

    func closeConn(_ c: AdminConn) {
        guard conns[c.fd] === c else { return }
        conns[c.fd] = nil
        if let n = perClient[c.peer] { perClient[c.peer] = n > 1 ? n - 1 : nil }
        if let ssl = c.ssl {
            TLSIO.close(ssl, c.tlsState)
            c.ssl = nil
        }
        close(c.fd)
    }
}
