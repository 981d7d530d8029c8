import CLinux
import COpenSSL
import Glibc
import Synchronization

/// Active health checks: one thread per Gateway (not per loop). Probes are plain blocking
/// HTTP/1.1 GETs with a poll()-bounded timeout; results land in NodeHealth atomics.
final class HealthChecker: Sendable {
    private let snapshot = Mutex<CompiledSnapshot?>(nil)
    private let stopFd: Int32
    private let thread = Mutex<OSThread?>(nil)
    private let stopped = Atomic<Bool>(false)

    init() throws {
        let fd = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        if fd < 0 { throw GatewayError.system("eventfd", errno) }
        stopFd = fd
    }

    deinit { close(stopFd) }

    func update(_ s: CompiledSnapshot) {
        snapshot.withLock { $0 = s }
        var one: UInt64 = 1
        _ = write(stopFd, &one, 8)   // wake to reschedule
    }

    func start() throws {
        let t = OSThread { [self] in self.run() }
        try t.start()
        thread.withLock { $0 = t }
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        var one: UInt64 = 1
        _ = write(stopFd, &one, 8)
        let t = thread.withLock { t -> OSThread? in
            let x = t
            t = nil
            return x
        }
        t?.join()
    }

    private func run() {
        var nextDue: [String: Int64] = [:]   // "upstream|node" → due time
        while !stopped.load(ordering: .relaxed) {
            let snap = snapshot.withLock { $0 }
            var now = monotonicMs()
            var soonest = now + 1000
            if let snap {
                for (_, up) in snap.upstreams.sorted(by: { $0.key < $1.key }) {
                    guard let active = up.config.healthCheck?.active else { continue }
                    for n in up.nodes {
                        let key = up.key + "|" + n.label
                        let due = nextDue[key] ?? now
                        if due <= now {
                            let ok = up.config.scheme == "https" && up.clientTLS == nil
                                ? false : probe(n.address, host: n.label, check: active, tls: up.clientTLS, serverName: n.host)
                            n.health.recordProbe(ok: ok, active)
                            now = monotonicMs()
                            nextDue[key] = now.addingSaturated(max(active.intervalMs, 10))
                            if stopped.load(ordering: .relaxed) { return }
                        }
                        soonest = min(soonest, nextDue[key] ?? now)
                    }
                }
            }
            let wait = Int32(max(0, min(soonest - monotonicMs(), 1000)))
            var pfd = pollfd(fd: stopFd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, wait) > 0 {
                var v: UInt64 = 0
                _ = read(stopFd, &v, 8)
            }
        }
    }

    /// One probe: connect, send GET, read the status line. True if the status is expected.
    func probe(_ addr: SocketAddress, host: String, check: ActiveHealthCheck, tls: ClientTLS? = nil, serverName: String = "") -> Bool {
        let deadline = monotonicMs().addingSaturated(check.timeoutMs)
        let c = Net.connect(addr)
        if c.fd < 0 { return false }
        defer { close(c.fd) }
        func waitFor(_ ev: Int16) -> Bool {
            let left = deadline - monotonicMs()
            if left <= 0 { return false }
            var pfd = pollfd(fd: c.fd, events: ev, revents: 0)
            return poll(&pfd, 1, Int32(clamping: left)) > 0
        }
        if !c.done {
            guard waitFor(Int16(POLLOUT)), Net.socketError(c.fd) == 0 else { return false }
        }
        // https upstreams: the same handshake (verification, client certificate) as the loops make.
        var ssl: OpaquePointer?
        var st = TLSIOState()
        if let tls {
            guard let s = tls.newConnection(fd: c.fd, host: serverName) else { return false }
            ssl = s
            st.handshaking = true
        }
        defer { if let ssl { TLSIO.close(ssl, st) } }
        if let ssl {
            while true {
                let r = TLSIO.handshake(ssl, &st)
                if r == 1 { break }
                if r < 0 { ERR_clear_error(); return false }
                if !waitFor(Int16(st.handshakeWantsWrite ? POLLOUT : POLLIN)) { return false }
            }
        }
        func write(_ fd: Int32, _ p: UnsafeRawPointer?, _ n: Int) -> Int {
            guard let ssl, let p else { return Glibc.write(fd, p, n) }
            return TLSIO.write(ssl, p, n, &st)
        }
        func read(_ fd: Int32, _ p: UnsafeMutableRawPointer?, _ n: Int) -> Int {
            guard let ssl, let p else { return Glibc.read(fd, p, n) }
            return TLSIO.read(ssl, p, n, &st)
        }
        let req = Array("GET \(check.path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: rampart-health\r\nConnection: close\r\n\r\n".utf8)
        var off = 0
        while off < req.count {
            let n = req[off...].withUnsafeBufferPointer { write(c.fd, $0.baseAddress, $0.count) }
            if n > 0 { off += n; continue }
            if n < 0 && errno == EAGAIN { if !waitFor(Int16(POLLOUT)) { return false }; continue }
            return false
        }
        var buf = [UInt8](repeating: 0, count: 512)
        var got = 0
        while got < 12 {
            guard waitFor(Int16(POLLIN)) else { return false }
            let n = buf.withUnsafeMutableBufferPointer { read(c.fd, $0.baseAddress! + got, 512 - got) }
            if n > 0 { got += n; continue }
            if n < 0 && errno == EAGAIN { continue }
            return false
        }
        guard buf[0] == UInt8(ascii: "H"), buf[8] == ASCII.sp else { return false }
        var status = 0
        for k in 9..<12 {
            guard buf[k] >= 48 && buf[k] <= 57 else { return false }
            status = status * 10 + Int(buf[k] - 48)
        }
        return check.expectStatus.isEmpty ? (200..<400).contains(status) : check.expectStatus.contains(status)
    }
}
