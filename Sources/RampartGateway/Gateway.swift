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
    let resolver: NameResolver
    /// Held across compiling and handing a snapshot to the loops, so an apply and a rebind after a
    /// name changed its address never hand them out of order. Never taken on a loop.
    private let publishing = Mutex<Void>(())
    /// "upstream|host:port" → reason, as last logged (a reason is logged when it appears or changes).
    private let loggedUnresolved = Mutex<[String: String]>([:])
    let listenAddresses: [SocketAddress]
    let tlsListenAddresses: [SocketAddress]
    let state = Mutex(State())

    public convenience init(config: GatewayConfig) throws {
        try self.init(config: config, resolver: NameResolver())
    }

    /// `resolver`: how and how often node host names are looked up (tests give a stand-in).
    init(config: GatewayConfig, resolver: NameResolver) throws {
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
        self.resolver = resolver
        resolver.setOnChange { [weak self] in self?.rebind() }
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
                                                      registry: registry, loops: workers, ticketKey: ticketKeys.current(),
                                                      metricSlots: gw.metricSlots)
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
        try resolver.start()
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
    ///
    /// Node host names are looked up on the resolver thread (new names are waited for up to 2 s, so a
    /// fresh snapshot is usually served with its addresses at once); later answers rebind the snapshot.
    public func apply(_ snapshot: GatewaySnapshot) {
        let started = state.withLock { $0.started }
        publishing.withLock { _ in
            resolver.want(NameResolver.names(in: snapshot), waitMs: started ? 2000 : 0)
            let (table, version) = resolver.current()
            let compiled = CompiledSnapshot(snapshot, registry: registry, loops: gw.config.workers, ticketKey: ticketKeys.current(),
                                            resolutions: table, resolutionVersion: version, metricSlots: gw.metricSlots,
                                            previous: state.withLock { $0.current })
            publish(compiled)
        }
    }

    /// After the resolver's answers changed: the current snapshot, rebound to the new addresses.
    func rebind() {
        publishing.withLock { _ in
            guard let current = state.withLock({ $0.current }) else { return }
            let (table, version) = resolver.current()
            guard version != current.resolutionVersion else { return }
            publish(current.rebound(resolutions: table, version: version, registry: registry, loops: gw.config.workers,
                                    metricSlots: gw.metricSlots))
        }
    }

    /// Hands `compiled` to every loop's inbox; the caller holds `publishing`.
    private func publish(_ compiled: CompiledSnapshot) {
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
        logUnresolved(compiled)
    }

    private func logUnresolved(_ compiled: CompiledSnapshot) {
        var now: [String: String] = [:]
        for (k, u) in compiled.upstreams { for n in u.unresolved { now[k + "|" + n.label] = n.reason } }
        let before = loggedUnresolved.withLock { old -> [String: String] in
            let b = old
            old = now
            return b
        }
        for (key, reason) in now.sorted(by: { $0.key < $1.key }) where before[key] != reason && reason != "not resolved yet" {
            let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
            log(.warn, "upstream node is unhealthy: its host name does not resolve",
                ["upstream": parts.first ?? "", "node": parts.last ?? "", "reason": reason])
        }
        for key in before.keys.sorted() where now[key] == nil && before[key] != "not resolved yet" {
            let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
            log(.info, "upstream node host name resolves again", ["upstream": parts.first ?? "", "node": parts.last ?? ""])
        }
    }

    private func log(_ level: GatewayLogLevel, _ message: String, _ fields: [String: String]) {
        if let logger = gw.config.log {
            logger(level, message, fields)
        } else {
            let text = message + ": " + fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "\n"
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        }
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
        resolver.stop()
    }

    /// Open downstream connections.
    public var activeConnections: Int { gw.connections.load(ordering: .relaxed) }

    /// Prometheus text (0.0.4) of the gateway's metrics.
    public func metricsText() -> String {
        let (loops, snap) = state.withLock { ($0.loops, $0.current) }
        // Labels first: a slot numbered after this read is left for the next scrape.
        let labels = gw.metricSlots.labels()
        var total = MetricsTotals()
        for l in loops { l.metrics.current.merge(into: &total, routes: labels.routes, nodes: labels.nodes) }
        var nodes: [(upstream: String, node: String, healthy: Bool)] = []
        if let snap {
            let now = monotonicMs()
            for (k, u) in snap.upstreams {
                for n in u.nodes { nodes.append((k, n.label, n.health.isHealthy(now: now))) }
                for n in u.unresolved { nodes.append((k, n.label, false)) }
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
            for n in u.unresolved { out[k, default: [:]][n.label] = false }
        }
        return out
    }

    /// Nodes with no address to serve at: upstream key → "host:port" → why (the name does not resolve).
    public func unresolvedNodes() -> [String: [String: String]] {
        guard let snap = state.withLock({ $0.current }) else { return [:] }
        var out: [String: [String: String]] = [:]
        for (k, u) in snap.upstreams { for n in u.unresolved { out[k, default: [:]][n.label] = n.reason } }
        return out
    }
}
