/// One route, compiled. A not-served route keeps its match keys and place in the router and
/// carries the 503 body it answers with instead of plugins and an upstream.
final class CompiledRoute: Sendable {
    let config: RouteConfig
    let methods: [[UInt8]]
    let headerConds: [(name: [UInt8], value: [UInt8])]
    let upstream: CompiledUpstream?
    let timeouts: Timeouts
    let plugins: CompiledPlugins
    /// `{"error":"route not served","reason":CODE}` when the route is not served; nil when it is.
    let notServedBody: [UInt8]?
    /// Where its request counts go in a loop's counters (`MetricSlots`).
    let metricSlot: Int

    convenience init(config: RouteConfig, upstream: CompiledUpstream?, loops: Int = 1, metricSlot: Int = 0) throws {
        if let reason = config.notServed {
            self.init(config: config, upstream: nil, plugins: .none, notServed: reason, metricSlot: metricSlot)
        } else {
            self.init(config: config, upstream: upstream, plugins: try CompiledPlugins(config.plugins, routeID: config.id, loops: loops),
                      notServed: nil, metricSlot: metricSlot)
        }
    }

    /// `config`'s match keys, kept in place as not served with `reason`.
    static func notServed(_ config: RouteConfig, reason: NotServedReason, metricSlot: Int = 0) -> CompiledRoute {
        let kept = RouteConfig.notServed(id: config.id, hosts: config.hosts, paths: config.paths, methods: config.methods,
                                         headers: config.headers, priority: config.priority, reason: reason)
        return CompiledRoute(config: kept, upstream: nil, plugins: .none, notServed: reason, metricSlot: metricSlot)
    }

    private init(config: RouteConfig, upstream: CompiledUpstream?, plugins: CompiledPlugins, notServed: NotServedReason?, metricSlot: Int) {
        self.config = config
        self.metricSlot = metricSlot
        methods = config.methods.map { Array($0.utf8) }
        headerConds = config.headers.map { (lowerBytes($0.name), Array($0.value.utf8)) }
        self.upstream = upstream
        timeouts = config.timeout ?? upstream?.config.timeout ?? Timeouts()
        self.plugins = plugins
        notServedBody = notServed.map(CompiledRoute.notServedBody)
    }

    /// The same route (its compiled plugins shared, not recompiled) served by `upstream`: what a change
    /// of a node's address needs. A not-served route has no upstream and stays as it is.
    func rebound(to upstream: CompiledUpstream?) -> CompiledRoute {
        if notServedBody != nil { return self }
        return CompiledRoute(config: config, upstream: upstream, plugins: plugins, notServed: nil, metricSlot: metricSlot)
    }

    static func notServedBody(_ reason: NotServedReason) -> [UInt8] {
        Array("{\"error\":\"route not served\",\"reason\":\"\(reason.rawValue)\"}".utf8)
    }
}

/// The data plane's view of one configuration generation. Immutable; loops hold it by reference.
final class CompiledSnapshot: Sendable {
    let generation: Int
    let routes: [CompiledRoute]
    let router: Router
    let upstreams: [String: CompiledUpstream]
    /// Routes whose plugins failed to compile (kept in the router as not served): id → reason.
    let rejected: [String: String]
    /// The TLS listeners' certificates (nil only if OpenSSL could not make a context).
    let tls: ServerTLS?
    /// Hosts whose SSL requires a client certificate (TLS/HostBinding.swift).
    let hostBinding: HostBinding
    /// The NameResolver version the node addresses were taken at (a later one means: rebind).
    let resolutionVersion: Int
    /// How many route and node slots existed when this was compiled: what a loop's counters must hold.
    let metricSlotCounts: (routes: Int, nodes: Int)
    /// The numbering its routes' `metricSlot`s come from, and the loop count their plugins were compiled for.
    private let metricSlots: MetricSlots
    private let loops: Int

    /// `metricSlots`: the gateway's numbering of metric label sets (a private one for a snapshot
    /// that no loop serves). `previous`: the snapshot being replaced; an upstream whose config and
    /// name resolutions are unchanged keeps its compiled form, so the loops' pooled connections to
    /// it (matched by node identity) and its TLS client context survive the apply; the router keeps
    /// the tries of hosts whose routes did not change.
    init(_ s: GatewaySnapshot, registry: HealthRegistry, loops: Int, ticketKey: [UInt8] = [],
         resolutions: [NodeName: NodeResolution] = [:], resolutionVersion: Int = 0, metricSlots: MetricSlots = MetricSlots(),
         previous: CompiledSnapshot? = nil) {
        generation = s.generation
        tls = ServerTLS(certificates: s.certificates, ticketKey: ticketKey)
        hostBinding = HostBinding(s.certificates, withheld: s.withheldClientAuth)
        self.resolutionVersion = resolutionVersion
        var ups: [String: CompiledUpstream] = [:]
        for (k, u) in s.upstreams {
            if let kept = previous?.upstreams[k], previous?.resolutionVersion == resolutionVersion,
               kept.perLoop.count == max(loops, 1), kept.config == u {
                ups[k] = kept
            } else {
                ups[k] = CompiledUpstream(key: k, config: u, registry: registry, loops: loops, metricSlots: metricSlots,
                                          resolutions: resolutions)
            }
        }
        var routes: [CompiledRoute] = []
        routes.reserveCapacity(s.routes.count)
        var rejected: [String: String] = [:]
        // Compiled routes are kept only under the same slot numbering and loop count they were made for.
        var earlier = EarlierRoutes(previous.flatMap { $0.metricSlots === metricSlots && $0.loops == max(loops, 1) ? $0 : nil })
        // Most routes name the upstream the route before them named: compared, not hashed again.
        var last: (name: String, upstream: CompiledUpstream?)?
        for r in s.routes {
            let upstream: CompiledUpstream?
            if let last, last.name == r.upstream {
                upstream = last.upstream
            } else {
                upstream = ups[r.upstream]
                last = (r.upstream, upstream)
            }
            if let kept = earlier.reusable(r, at: routes.count) {
                routes.append(kept.upstream === upstream ? kept : kept.rebound(to: upstream))
                continue
            }
            let slot = metricSlots.route(r.id)
            do {
                routes.append(try CompiledRoute(config: r, upstream: upstream, loops: loops, metricSlot: slot))
            } catch {
                // Fail closed: a route whose plugins cannot be enforced still shadows less specific routes.
                rejected[r.id] = "\(error)"
                routes.append(CompiledRoute.notServed(r, reason: .pluginInvalid, metricSlot: slot))
            }
        }
        self.routes = routes
        self.upstreams = ups
        self.rejected = rejected
        metricSlotCounts = metricSlots.counts
        self.metricSlots = metricSlots
        self.loops = max(loops, 1)
        router = previous.map { Router(routes: routes, previous: $0.router, previousRoutes: $0.routes) } ?? Router(routes: routes)
    }

    private init(generation: Int, routes: [CompiledRoute], router: Router, upstreams: [String: CompiledUpstream], rejected: [String: String],
                 tls: ServerTLS?, hostBinding: HostBinding, resolutionVersion: Int, metricSlots: MetricSlots, loops: Int) {
        metricSlotCounts = metricSlots.counts
        self.metricSlots = metricSlots
        self.loops = loops
        self.generation = generation
        self.routes = routes
        self.upstreams = upstreams
        self.rejected = rejected
        self.tls = tls
        self.hostBinding = hostBinding
        self.resolutionVersion = resolutionVersion
        self.router = router
    }

    /// This generation with node addresses taken from `resolutions`: plugins, certificates and route
    /// order are shared, only upstreams are compiled again (node health is kept by the registry).
    func rebound(resolutions: [NodeName: NodeResolution], version: Int, registry: HealthRegistry, loops: Int,
                 metricSlots: MetricSlots) -> CompiledSnapshot {
        var ups: [String: CompiledUpstream] = [:]
        for (k, u) in upstreams {
            ups[k] = CompiledUpstream(key: k, config: u.config, registry: registry, loops: loops, metricSlots: metricSlots,
                                      resolutions: resolutions, reusing: u)
        }
        let routes = routes.map { $0.rebound(to: $0.upstream.flatMap { ups[$0.key] }) }
        // Same routes in the same places: the router is shared.
        return CompiledSnapshot(generation: generation, routes: routes, router: router, upstreams: ups, rejected: rejected,
                                tls: tls, hostBinding: hostBinding, resolutionVersion: version, metricSlots: metricSlots, loops: max(loops, 1))
    }

    static let empty = CompiledSnapshot(GatewaySnapshot(generation: 0, routes: [], upstreams: [:]),
                                        registry: HealthRegistry(), loops: 1)
}

/// The routes of the snapshot being replaced, found by id for the next one: in the same place first
/// (an apply keeps the route order, so one added or removed route shifts the rest by one), by a table
/// made on the first miss otherwise.
private struct EarlierRoutes {
    private let routes: [CompiledRoute]
    private let rejected: [String: String]
    private var shift = 0
    private var byID: [String: Int]?

    init(_ previous: CompiledSnapshot?) {
        routes = previous?.routes ?? []
        rejected = previous?.rejected ?? [:]
    }

    /// The earlier compiled form of `config` (the route at `index` of the new snapshot), if its config
    /// is equal, plugins and their credentials included. A route whose plugins failed to compile is
    /// compiled again (its kept form is not the config it was made from, and its rejection is reported anew).
    mutating func reusable(_ config: RouteConfig, at index: Int) -> CompiledRoute? {
        guard !routes.isEmpty else { return nil }
        var place = index + shift
        if !(place >= 0 && place < routes.count && routes[place].config.id == config.id) {
            if byID == nil {
                byID = Dictionary(routes.enumerated().map { ($0.element.config.id, $0.offset) }, uniquingKeysWith: { first, _ in first })
            }
            guard let found = byID?[config.id] else { return nil }
            place = found
            shift = found - index
        }
        let kept = routes[place]
        guard kept.config == config, rejected.isEmpty || rejected[config.id] == nil else { return nil }
        return kept
    }
}

extension CompiledSnapshot {
    /// Route lookup from strings (tests, diagnostics); the loops use the byte path directly.
    func lookup(host: String, path: String, method: String = "GET", headers: [HeaderPair] = []) -> CompiledRoute? {
        var scratch: [Int32] = []
        let hostBytes = Array(host.utf8)
        let pathBytes = Array(path.utf8)
        let methodBytes = Array(method.utf8)
        let ri = hostBytes.withUnsafeBufferPointer { hb -> Int32 in
            pathBytes.withUnsafeBufferPointer { pb -> Int32 in
                guard let hp = hb.baseAddress ?? UnsafePointer(bitPattern: 1),
                      let pp = pb.baseAddress ?? UnsafePointer(bitPattern: 1) else { return -1 }
                let hl = HostName.lengthWithoutPort(hp, hb.count)
                return router.match(host: hp, hostLen: hl, path: pp, pathLen: pb.count, scratch: &scratch) { i in
                    let r = routes[Int(i)]
                    if !r.methods.isEmpty && !r.methods.contains(methodBytes) { return false }
                    for c in r.headerConds where !headers.contains(where: { lowerBytes($0.name) == c.name && Array($0.value.utf8) == c.value }) {
                        return false
                    }
                    return true
                }
            }
        }
        return ri >= 0 ? routes[Int(ri)] : nil
    }
}
