import CLinux
import Glibc
import RampartCrypto
import RampartModel
import Synchronization

struct LoopInbox {
    var snapshot: CompiledSnapshot?
    var stopDeadline: Int64?
    var limitReplies: [LimitReply] = []
    var credentialReplies: [CredentialReply] = []
}

/// The part of a loop other threads may touch: its inbox, wake-up eventfd, metrics and counters.
final class LoopShared: Sendable {
    let index: Int
    let wakeFd: Int32
    let inbox = Mutex(LoopInbox())
    let metrics = LoopMetrics(LoopCounters(routes: 1, nodes: 1))

    init(index: Int) throws {
        self.index = index
        let fd = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        if fd < 0 { throw GatewayError.system("eventfd", errno) }
        wakeFd = fd
    }

    func wake() {
        var one: UInt64 = 1
        _ = write(wakeFd, &one, 8)
    }

    deinit { close(wakeFd) }
}

/// Read-only settings plus global counters, shared by every loop.
final class GatewayShared: Sendable {
    let config: GatewayConfig
    let trusted: [CIDR]
    /// The label sets of the loops' counters (routes, upstream nodes), numbered at snapshot compile.
    let metricSlots = MetricSlots()
    let connections = Atomic<Int>(0)
    let accessLogFd: Int32
    let ownsLogFd: Bool

    init(config: GatewayConfig) throws {
        self.config = config
        var t: [CIDR] = []
        for s in config.trustedProxies {
            guard let c = CIDR(s) else { throw GatewayError.invalidConfig("trusted proxy \(s) is not a CIDR") }
            t.append(c)
        }
        trusted = t
        switch config.accessLog {
        case .off: accessLogFd = -1; ownsLogFd = false
        case .stdout: accessLogFd = 1; ownsLogFd = false
        case .file(let path):
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            if fd < 0 { throw GatewayError.system("open \(path)", errno) }
            accessLogFd = fd; ownsLogFd = true
        }
    }

    deinit { if ownsLogFd { close(accessLogFd) } }

    /// A line for the operator (not the access log): the configured logger, else standard error.
    func log(_ level: GatewayLogLevel, _ message: String, _ fields: [String: String] = [:]) {
        if let l = config.log { return l(level, message, fields) }
        var line = "rampart gateway \(level): \(message)"
        for (k, v) in fields.sorted(by: { $0.key < $1.key }) { line += " \(k)=\(v)" }
        // One event, one line: control bytes from peers (TLS errors, names) cannot forge another.
        line = String(line.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) }) + "\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}

enum FdOwner {
    case none
    case listener
    case tlsListener
    case wake
    case client(ClientConn)
    case upstream(UpstreamConn)
}

let evIn = UInt32(EPOLLIN.rawValue)
let evOut = UInt32(EPOLLOUT.rawValue)
let evErr = UInt32(EPOLLERR.rawValue) | UInt32(EPOLLHUP.rawValue)

/// One event loop: an epoll instance, its listeners, connections and upstream pools.
/// Every member is touched only by the loop's own thread.
final class EventLoop {
    let shared: LoopShared
    let gw: GatewayShared
    let index: Int
    let epfd: Int32
    var listeners: [Int32]
    private(set) var snapshot: CompiledSnapshot
    /// This loop's counters (Metrics.swift): written here without a lock, merged by a scrape.
    private(set) var counters: LoopCounters
    var table: [FdOwner] = []
    var nextSerial: UInt32 = 1
    var clients: [ClientConn] = []
    /// Idle upstream connections by `CompiledNode.poolKey`.
    var pool: [Int: [UpstreamConn]] = [:]
    /// TLS clients that want to read while OpenSSL already holds their next records (read-ahead
    /// took them off the socket, so epoll stays silent): served before the next wait.
    var tlsPending: [ClientConn] = []
    /// key-auth's hashing of presented keys, with a digest context kept for this loop.
    let sha256 = SHA256Hasher()
    var rng = FastRandom()
    var scratch: [Int32] = []
    var now: Int64 = monotonicMs()
    var draining = false
    var drainDeadline: Int64 = 0
    var nextTick: Int64 = 0
    var tlsLogTimes: [String: Int64] = [:]
    /// basic-auth PBKDF2 checks queued or running for this loop (`BasicAuthBudget`).
    var pendingVerifications = 0
    /// While out of file descriptors the listeners leave epoll until then (0: accepting).
    var acceptPausedUntil: Int64 = 0
    var lastAcceptPauseLog: Int64 = -1_000_000
    static let acceptPauseMs: Int64 = 100
    let logBuf = ByteBuffer(capacity: 16 * 1024)
    let maxHead: Int
    let slashPtr: UnsafeMutablePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        p.pointee = ASCII.slash
        return p
    }()
    /// Where request paths are normalized (PathNormalForm); sized for the longest target admitted.
    let pathScratch: UnsafeMutablePointer<UInt8>
    let pathScratchCapacity: Int
    static let headMethod: [UInt8] = Array("HEAD".utf8)
    static let traceMethod: [UInt8] = Array("TRACE".utf8)
    static let highWater = 256 * 1024
    static let lowWater = 64 * 1024
    static let tickMs: Int64 = 50

    init(shared: LoopShared, gw: GatewayShared, listeners: [Int32], tlsListeners: [Int32] = [], snapshot: CompiledSnapshot) throws {
        self.shared = shared
        self.gw = gw
        self.index = shared.index
        self.listeners = listeners + tlsListeners
        self.snapshot = snapshot
        counters = shared.metrics.current
        maxHead = gw.config.maxHeaderBytes
        pathScratchCapacity = PathNormalForm.scratchCapacity(forPathLength: max(1, gw.config.maxURIBytes))
        pathScratch = UnsafeMutablePointer<UInt8>.allocate(capacity: pathScratchCapacity)
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        if epfd < 0 { throw GatewayError.system("epoll_create1", errno) }
        for l in listeners {
            setOwner(l, .listener)
            add(l, serial: 0, events: evIn)
        }
        for l in tlsListeners {
            setOwner(l, .tlsListener)
            add(l, serial: 0, events: evIn)
        }
        setOwner(shared.wakeFd, .wake)
        add(shared.wakeFd, serial: 0, events: evIn)
        adopt(snapshot)
    }

    /// Serves `snap` from now on; the counters first grow to hold its routes' and nodes' slots.
    func adopt(_ snap: CompiledSnapshot) {
        snapshot = snap
        let need = snap.metricSlotCounts
        if need.routes > counters.routeCapacity || need.nodes > counters.nodeCapacity {
            counters = counters.grown(routes: need.routes, nodes: need.nodes)
            shared.metrics.publish(counters)
        }
    }

    // MARK: fd table and epoll

    func setOwner(_ fd: Int32, _ o: FdOwner) {
        let i = Int(fd)
        if i >= table.count { table.append(contentsOf: repeatElement(FdOwner.none, count: i - table.count + 64)) }
        table[i] = o
    }

    func add(_ fd: Int32, serial: UInt32, events: UInt32) {
        var ev = epoll_event()
        ev.events = events
        ev.data.u64 = UInt64(serial) << 32 | UInt64(UInt32(bitPattern: fd))
        _ = epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)
    }

    func modify(_ fd: Int32, serial: UInt32, events: UInt32) {
        var ev = epoll_event()
        ev.events = events
        ev.data.u64 = UInt64(serial) << 32 | UInt64(UInt32(bitPattern: fd))
        _ = epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev)
    }

    func serial() -> UInt32 {
        nextSerial &+= 1
        if nextSerial == 0 { nextSerial = 1 }
        return nextSerial
    }

    // MARK: run

    func run() {
        let maxEvents: Int32 = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: Int(maxEvents))
        defer { events.deallocate() }
        while true {
            var timeout: Int32 = -1
            if !clients.isEmpty || !pool.isEmpty || draining || acceptPausedUntil > 0 {
                timeout = Int32(max(0, min(Int64(1000), nextTick - now)))
            }
            if !tlsPending.isEmpty { timeout = 0 }
            let n = epoll_wait(epfd, events, maxEvents, timeout)
            now = monotonicMs()
            if n > 0 {
                for i in 0..<Int(n) { dispatch(events[i]) }
            }
            if !tlsPending.isEmpty { readPendingTLS() }
            if acceptPausedUntil > 0 && now >= acceptPausedUntil { resumeAccepting() }
            if now >= nextTick {
                tick()
                nextTick = now + EventLoop.tickMs
            }
            flushAccessLog()
            if draining && (clients.isEmpty || now >= drainDeadline) { break }
        }
        shutdownAll()
    }

    @inline(__always)
    func dispatch(_ ev: epoll_event) {
        let data = ev.data.u64
        let fd = Int32(truncatingIfNeeded: data & 0xFFFF_FFFF)
        let serial = UInt32(truncatingIfNeeded: data >> 32)
        let i = Int(fd)
        guard i >= 0, i < table.count else { return }
        let events = ev.events
        switch table[i] {
        case .none:
            return
        case .listener:
            acceptConnections(fd, tls: false)
        case .tlsListener:
            acceptConnections(fd, tls: true)
        case .wake:
            var v: UInt64 = 0
            _ = read(fd, &v, 8)
            handleInbox()
        case .client(let c):
            guard c.serial == serial else { return }
            if c.ssl != nil { return dispatchTLSClient(c, events) }
            if events & (evIn | evErr) != 0 { clientReadable(c) }
            if !c.closed && events & evOut != 0 { flushClient(c) }
            if !c.closed { refresh(c) }
        case .upstream(let u):
            guard u.serial == serial else { return }
            let owner = u.client
            if events & evOut != 0 || (u.connecting && events & evErr != 0) {
                upstreamWritable(u)
                // Body bytes held back for backpressure can move now.
                if !u.closed, let c = u.client, !c.inBuf.isEmpty,
                   (c.phase == .proxying && !c.reqBodyDone) || c.phase == .tunnel {
                    processClient(c)
                }
            }
            if !u.closed && (events & (evIn | evErr) != 0 || (u.tlsState.readWantsWrite && events & evOut != 0)) {
                upstreamReadable(u)
            }
            if let c = owner, !c.closed { refresh(c) }
            if !u.closed && u.client !== owner { refreshUpstream(u) }
        }
    }

    func handleInbox() {
        let msg = shared.inbox.withLock { box -> LoopInbox in
            let m = box
            box.snapshot = nil
            box.limitReplies = []
            box.credentialReplies = []
            return m
        }
        if let s = msg.snapshot { adopt(s) }
        if !msg.limitReplies.isEmpty { resumeLimited(msg.limitReplies) }
        if !msg.credentialReplies.isEmpty { resumeVerified(msg.credentialReplies) }
        if let d = msg.stopDeadline, !draining { beginDrain(deadline: d) }
    }

    func beginDrain(deadline: Int64) {
        draining = true
        drainDeadline = deadline
        for l in listeners {
            table[Int(l)] = .none
            close(l)
        }
        listeners.removeAll()
        // Idle keep-alive connections go now; in-flight exchanges finish with Connection: close.
        var i = clients.count - 1
        while i >= 0 {
            let c = clients[i]
            if c.phase == .readingHead && c.inBuf.isEmpty { closeClient(c) }
            i -= 1
        }
        for (_, list) in pool { for u in list { closeUpstreamFd(u) } }
        pool.removeAll()
    }

    func shutdownAll() {
        while let c = clients.last { closeClient(c) }
        for (_, list) in pool { for u in list { closeUpstreamFd(u) } }
        pool.removeAll()
        for l in listeners { close(l) }
        listeners.removeAll()
        flushAccessLog()
        close(epfd)
        slashPtr.deallocate()
        pathScratch.deallocate()
    }

    // MARK: accept

    func acceptConnections(_ lfd: Int32, tls: Bool) {
        let maxConns = gw.config.maxConnections ?? Int.max
        // Each TLS connection brings a handshake (~200 µs of CPU) into the next batch of events:
        // taking one per wake-up interleaves new handshakes with exchanges in flight, as nginx does
        // by default (`multi_accept off`); the listener is level-triggered, so the rest wait one
        // iteration. Handshakes/s went from 0.95x to 1.04-1.10x nginx's, p99 from 1.3x to 0.9-1.1x.
        for _ in 0..<(tls ? 1 : 64) {
            var ss = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &ss) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept4(lfd, $0, &len, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
            if fd < 0 {
                let e = errno
                // A level-triggered listener with a queued connection we cannot take would wake the
                // loop forever: step out of epoll for a while instead (nginx does the same).
                if e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM { pauseAccepting(errno: e) }
                return
            }
            if gw.connections.load(ordering: .relaxed) >= maxConns {
                close(fd)
                continue
            }
            var ssl: OpaquePointer?
            if tls {
                guard let st = snapshot.tls, let s = st.newConnection(fd: fd) else {
                    close(fd)
                    continue
                }
                ssl = s
            }
            gw.connections.add(1, ordering: .relaxed)
            Net.setInt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            let peer = withUnsafeBytes(of: &ss) { SocketAddress(raw: $0.baseAddress!, length: Int(len)) }
            let trusted = !gw.trusted.isEmpty && gw.trusted.containsIP(peer.ipBytes)
            let c = ClientConn(fd: fd, serial: serial(), peer: peer, trusted: trusted, bufferSize: 16 * 1024)
            if let ssl {
                c.ssl = ssl
                c.tls = snapshot.tls
                c.isTLS = true
                c.tlsState.handshaking = true
            }
            c.listIndex = clients.count
            clients.append(c)
            setOwner(fd, .client(c))
            c.interest = evIn
            add(fd, serial: c.serial, events: evIn)
            c.deadline = now.addingSaturated(gw.config.headerTimeoutMs)
            c.deadlineKind = .header
        }
    }

    func pauseAccepting(errno e: Int32) {
        guard acceptPausedUntil == 0 else { return }
        for l in listeners { _ = epoll_ctl(epfd, EPOLL_CTL_DEL, l, nil) }
        acceptPausedUntil = now + EventLoop.acceptPauseMs
        if now - lastAcceptPauseLog >= 10_000 {
            lastAcceptPauseLog = now
            gw.log(.warn, "cannot accept connections; pausing accepts for \(EventLoop.acceptPauseMs) ms",
                   ["reason": String(cString: strerror(e)), "open_connections": String(clients.count)])
        }
    }

    func resumeAccepting() {
        acceptPausedUntil = 0
        for l in listeners { add(l, serial: 0, events: evIn) }
    }

    // MARK: interest

    /// Recomputes epoll interest for a client and its upstream from their state.
    func refresh(_ c: ClientConn) {
        if c.closed { return }
        var want: UInt32 = 0
        switch c.phase {
        case .readingHead:
            if c.inBuf.readable < maxHead + 16 * 1024 { want |= evIn }
        case .proxying:
            if c.reqBodyDone {
                // Pipelined bytes are buffered (bounded); this also keeps epoll_ctl off the common path.
                if c.inBuf.readable < maxHead + 16 * 1024 { want |= evIn }
            } else if let u = c.upstream, u.outBuf.readable < EventLoop.highWater {
                want |= evIn
            }
        case .tunnel:
            if let u = c.upstream, u.outBuf.readable < EventLoop.highWater { want |= evIn }
        case .closing:
            break
        }
        if !c.outBuf.isEmpty { want |= evOut }
        if c.ssl != nil {
            if c.tlsState.handshaking {
                want = c.tlsState.handshakeWantsWrite ? evOut : evIn
            } else {
                if c.tlsState.readWantsWrite { want |= evOut }
                if c.tlsState.writeWantsRead { want |= evIn }
            }
        }
        if want & evIn != 0, !c.queuedTLSRead, !c.tlsState.handshaking, !c.tlsState.readNeedsSocket, let ssl = c.ssl,
           TLSIO.hasPending(ssl) {
            c.queuedTLSRead = true
            tlsPending.append(c)
        }
        if want != c.interest {
            c.interest = want
            modify(c.fd, serial: c.serial, events: want)
        }
        if let u = c.upstream, !u.closed { refreshUpstream(u) }
    }

    func refreshUpstream(_ u: UpstreamConn) {
        var want: UInt32 = 0
        if u.connecting {
            want = evOut
        } else if u.tlsState.handshaking {
            want = u.tlsState.handshakeWantsWrite ? evOut : evIn
        } else {
            if let c = u.client {
                switch c.phase {
                case .proxying:
                    if c.respPhase != .done && c.outBuf.readable < EventLoop.highWater { want |= evIn }
                case .tunnel:
                    if c.outBuf.readable < EventLoop.highWater { want |= evIn }
                default: break
                }
            } else {
                want |= evIn   // idle in the pool: notice a close
            }
            if !u.outBuf.isEmpty { want |= evOut }
            if u.tlsState.readWantsWrite { want |= evOut }
            if u.tlsState.writeWantsRead { want |= evIn }
        }
        if want != u.interest {
            u.interest = want
            modify(u.fd, serial: u.serial, events: want)
        }
    }

    // MARK: close

    func closeClient(_ c: ClientConn) {
        if c.closed { return }
        c.closed = true
        if let u = c.upstream {
            c.upstream = nil
            closeUpstreamFd(u)
        }
        table[Int(c.fd)] = .none
        if let ssl = c.ssl {
            TLSIO.close(ssl, c.tlsState)
            c.ssl = nil
            c.tls = nil
        }
        close(c.fd)
        let i = c.listIndex
        if i >= 0 && i < clients.count && clients[i] === c {
            let last = clients.removeLast()
            if i < clients.count {
                clients[i] = last
                last.listIndex = i
            }
        }
        c.listIndex = -1
        c.snapshot = nil
        c.route = nil
        gw.connections.add(-1, ordering: .relaxed)
    }

    func closeUpstreamFd(_ u: UpstreamConn) {
        if u.closed { return }
        u.closed = true
        if u.countedActive {
            u.countedActive = false
            let st = u.upstream.perLoop[min(index, u.upstream.perLoop.count - 1)]
            if u.node.index < st.active.count { st.active[u.node.index] -= 1 }
        }
        u.client = nil
        table[Int(u.fd)] = .none
        if let ssl = u.ssl {
            TLSIO.close(ssl, u.tlsState)
            u.ssl = nil
        }
        close(u.fd)
    }

    // MARK: pool

    // The lists are changed in place (a copy taken out and stored back would copy the array each time).

    func takeFromPool(_ node: CompiledNode) -> UpstreamConn? {
        let key = node.poolKey
        var found: UpstreamConn?
        while found == nil, let u = pool[key]?.popLast() {
            if !u.closed && u.node === node { found = u } else if !u.closed { closeUpstreamFd(u) }
        }
        if pool[key]?.isEmpty == true { pool[key] = nil }
        return found
    }

    func returnToPool(_ u: UpstreamConn) {
        let ka = u.upstream.config.keepalive
        u.client = nil
        if u.countedActive {
            u.countedActive = false
            let st = u.upstream.perLoop[min(index, u.upstream.perLoop.count - 1)]
            if u.node.index < st.active.count { st.active[u.node.index] -= 1 }
        }
        let key = u.node.poolKey
        if draining || ka.maxIdle <= 0 || (pool[key]?.count ?? 0) >= ka.maxIdle || !u.inBuf.isEmpty || !u.outBuf.isEmpty {
            closeUpstreamFd(u)
            return
        }
        u.idleDeadline = now.addingSaturated(ka.idleTimeoutMs)
        u.inBuf.shrinkIfIdle(to: 16 * 1024)
        pool[key, default: []].append(u)
        refreshUpstream(u)
    }

    // MARK: timers

    func tick() {
        var i = clients.count - 1
        while i >= 0 {
            if i < clients.count {
                let c = clients[i]
                if c.deadline <= now { onTimeout(c) }
                else if c.phase == .proxying, let u = c.upstream, u.sendDeadline <= now { sendDeadlinePassed(c, u) }
            }
            i -= 1
        }
        if !pool.isEmpty {
            for (k, list) in pool {
                var keep: [UpstreamConn] = []
                for u in list {
                    if u.closed { continue }
                    if u.idleDeadline <= now { closeUpstreamFd(u) } else { keep.append(u) }
                }
                pool[k] = keep.isEmpty ? nil : keep
            }
        }
    }

    // MARK: access log

    func flushAccessLog() {
        guard gw.accessLogFd >= 0, !logBuf.isEmpty else { return }
        while !logBuf.isEmpty {
            let n = write(gw.accessLogFd, logBuf.readPointer, logBuf.readable)
            if n <= 0 { break }
            logBuf.consume(n)
        }
        logBuf.clear()
    }
}
