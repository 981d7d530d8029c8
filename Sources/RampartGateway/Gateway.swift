import CLinux
import Glibc
import Synchronization

/// Hands a thread-confined value to the thread that will own it.
private final class Handoff<T>: @unchecked Sendable {
    var value: T?
    init(_ v: T) { value = v }
}

/// The embedded HTTP data plane: `workers` event loops, each with its own SO_REUSEPORT
/// listeners, connections and upstream pools.
public final class Gateway: Sendable {
    struct State {
        var loops: [LoopShared] = []
        var threads: [OSThread] = []
        var bound: [String] = []
        var boundTLS: [String] = []
        var current: CompiledSnapshot?
        var started = false
        var stopped = false
    }

    let gw: GatewayShared
    let registry = HealthRegistry()
    let ticketKeys = TicketKeys()
    let checker: HealthChecker
    let listenAddresses: [SocketAddress]
    let tlsListenAddresses: [SocketAddress]
    private let state = Mutex(State())

    public init(config: GatewayConfig) throws {
        guard config.workers >= 1 else { throw GatewayError.invalidConfig("workers must be at least 1") }
        // Header offsets are Int32 (HTTP1/Head.swift): a larger head could not be represented.
        guard config.maxHeaderBytes >= 1, config.maxHeaderBytes <= Int(Int32.max) / 2 else {
            throw GatewayError.invalidConfig("maxHeaderBytes must be 1 to \(Int(Int32.max) / 2)")
        }
        var addrs: [SocketAddress] = []
        for l in config.listen {
            guard let a = SocketAddress.parseListen(l) else { throw GatewayError.invalidAddress(l) }
            addrs.append(a)
        }
        listenAddresses = addrs
        var tlsAddrs: [SocketAddress] = []
        for l in config.listenTLS {
            guard let a = SocketAddress.parseListen(l) else { throw GatewayError.invalidAddress(l) }
            tlsAddrs.append(a)
        }
        tlsListenAddresses = tlsAddrs
        gw = try GatewayShared(config: config)
        checker = try HealthChecker()
    }

    public var config: GatewayConfig { gw.config }

    /// Binds the listeners (one socket per loop and address) and starts the loop threads.
    public func start() throws {
        try state.withLock { st in
            guard !st.started else { return }
            let workers = gw.config.workers
            var perLoop = [[Int32]](repeating: [], count: workers)
            var perLoopTLS = [[Int32]](repeating: [], count: workers)
            var bound: [String] = []
            var boundTLS: [String] = []
            do {
                for (addrs, tls) in [(listenAddresses, false), (tlsListenAddresses, true)] {
                    for addr in addrs {
                        var actual = addr
                        for w in 0..<workers {
                            let fd = try Net.listen(actual)
                            if w == 0, let local = Net.localAddress(fd) {
                                actual = local
                                if tls { boundTLS.append(local.description) } else { bound.append(local.description) }
                            }
                            if tls { perLoopTLS[w].append(fd) } else { perLoop[w].append(fd) }
                        }
                    }
                }
            } catch {
                for l in perLoop + perLoopTLS { for fd in l { close(fd) } }
                throw error
            }
            // Writes to a peer that went away must fail with EPIPE (OpenSSL writes with write(2)).
            signal(SIGPIPE, SIG_IGN)
            let snap = st.current ?? CompiledSnapshot(GatewaySnapshot(generation: 0, routes: [], upstreams: [:]),
                                                      registry: registry, loops: workers, ticketKey: ticketKeys.current())
            var loops: [LoopShared] = []
            var threads: [OSThread] = []
            for w in 0..<workers {
                let shared = try LoopShared(index: w)
                let loop = try EventLoop(shared: shared, gw: gw, listeners: perLoop[w], tlsListeners: perLoopTLS[w], snapshot: snap)
                let box = Handoff(loop)
                let t = OSThread {
                    let l = box.value
                    box.value = nil
                    l?.run()
                }
                try t.start()
                loops.append(shared)
                threads.append(t)
            }
            st.loops = loops
            st.threads = threads
            st.bound = bound
            st.boundTLS = boundTLS
            st.current = snap
            st.started = true
        }
        try checker.start()
        if let s = state.withLock({ $0.current }) { checker.update(s) }
    }

    /// Actual listening addresses ("127.0.0.1:PORT"), in `listen` order, after start().
    public var boundAddresses: [String] { state.withLock { $0.bound } }

    /// Actual TLS listening addresses, in `listenTLS` order, after start().
    public var boundTLSAddresses: [String] { state.withLock { $0.boundTLS } }

    /// Certificates of the last applied snapshot that could not be loaded: name → reason.
    public var rejectedCertificates: [String: String] { state.withLock { $0.current?.tls?.rejected ?? [:] } }

    /// Compiles the snapshot and hands it to every loop. Requests in flight finish on the one they
    /// started with. A route whose plugins fail to compile keeps its place and answers 503
    /// (`PluginInvalid`): see `rejectedRoutes`.
    public func apply(_ snapshot: GatewaySnapshot) {
        let compiled = CompiledSnapshot(snapshot, registry: registry, loops: gw.config.workers, ticketKey: ticketKeys.current())
        var keep = Set<String>()
        for (k, u) in compiled.upstreams { for n in u.nodes { keep.insert(k + "|" + n.label) } }
        let loops = state.withLock { st -> [LoopShared] in
            st.current = compiled
            return st.loops
        }
        for l in loops {
            l.inbox.withLock { $0.snapshot = compiled }
            l.wake()
        }
        registry.retain(keep)
        checker.update(compiled)
    }

    /// Routes of the last applied snapshot whose plugins could not be compiled (served as 503), with
    /// the full reason: the controller writes it to the Route's status.
    public var rejectedRoutes: [String: String] { state.withLock { $0.current?.rejected ?? [:] } }

    /// The generation of the last applied snapshot.
    public var generation: Int { state.withLock { $0.current?.generation ?? 0 } }

    /// Stops accepting, lets in-flight exchanges finish (up to the timeout), joins the threads.
    public func stop(drainTimeoutMs: Int) {
        let (loops, threads) = state.withLock { st -> ([LoopShared], [OSThread]) in
            if st.stopped || !st.started { return ([], []) }
            st.stopped = true
            return (st.loops, st.threads)
        }
        let deadline = monotonicMs().addingSaturated(max(0, drainTimeoutMs))
        for l in loops {
            l.inbox.withLock { $0.stopDeadline = deadline }
            l.wake()
        }
        for t in threads { t.join() }
        checker.stop()
    }

    /// Open downstream connections.
    public var activeConnections: Int { gw.connections.load(ordering: .relaxed) }

    /// Prometheus text (0.0.4) of the gateway's metrics.
    public func metricsText() -> String {
        let (loops, snap) = state.withLock { ($0.loops, $0.current) }
        var total = LoopMetricsData()
        for l in loops {
            let d = l.metrics.data.withLock { $0 }
            total.merge(d)
        }
        var nodes: [(upstream: String, node: String, healthy: Bool)] = []
        if let snap {
            let now = monotonicMs()
            for (k, u) in snap.upstreams {
                for n in u.nodes { nodes.append((k, n.label, n.health.isHealthy(now: now))) }
            }
        }
        return Exposition.render(total, nodes: nodes, connections: activeConnections, certificateExpiry: snap?.tls?.expiries ?? [])
    }

    /// Node health as seen by the loops: upstream key → node label → healthy.
    public func nodeHealth() -> [String: [String: Bool]] {
        guard let snap = state.withLock({ $0.current }) else { return [:] }
        let now = monotonicMs()
        var out: [String: [String: Bool]] = [:]
        for (k, u) in snap.upstreams {
            for n in u.nodes { out[k, default: [:]][n.label] = n.health.isHealthy(now: now) }
        }
        return out
    }
}
