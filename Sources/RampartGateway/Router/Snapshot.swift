/// One route, compiled.
final class CompiledRoute: Sendable {
    let config: RouteConfig
    let methods: [[UInt8]]
    let headerConds: [(name: [UInt8], value: [UInt8])]
    let upstream: CompiledUpstream?
    let timeouts: Timeouts
    let plugins: CompiledPlugins

    init(config: RouteConfig, upstream: CompiledUpstream?, loops: Int = 1) throws {
        self.config = config
        methods = config.methods.map { Array($0.utf8) }
        headerConds = config.headers.map { (lowerBytes($0.name), Array($0.value.utf8)) }
        self.upstream = upstream
        timeouts = config.timeout ?? upstream?.config.timeout ?? Timeouts()
        plugins = try CompiledPlugins(config.plugins, routeID: config.id, loops: loops)
    }
}

/// The data plane's view of one configuration generation. Immutable; loops hold it by reference.
final class CompiledSnapshot: Sendable {
    let generation: Int
    let routes: [CompiledRoute]
    let router: Router
    let upstreams: [String: CompiledUpstream]
    /// Routes rejected while compiling (bad plugin config): id → reason.
    let rejected: [String: String]
    /// The TLS listeners' certificates (nil only if OpenSSL could not make a context).
    let tls: ServerTLS?
    /// Hosts whose SSL requires a client certificate (TLS/HostBinding.swift).
    let hostBinding: HostBinding

    init(_ s: GatewaySnapshot, registry: HealthRegistry, loops: Int, ticketKey: [UInt8] = []) {
        generation = s.generation
        tls = ServerTLS(certificates: s.certificates, ticketKey: ticketKey)
        hostBinding = HostBinding(s.certificates, withheld: s.withheldClientAuth)
        var ups: [String: CompiledUpstream] = [:]
        for (k, u) in s.upstreams {
            ups[k] = CompiledUpstream(key: k, config: u, registry: registry, loops: loops)
        }
        var routes: [CompiledRoute] = []
        var rejected: [String: String] = [:]
        for r in s.routes {
            do {
                routes.append(try CompiledRoute(config: r, upstream: ups[r.upstream], loops: loops))
            } catch {
                rejected[r.id] = "\(error)"
            }
        }
        self.routes = routes
        self.upstreams = ups
        self.rejected = rejected
        router = Router(routes: routes)
    }

    static let empty = CompiledSnapshot(GatewaySnapshot(generation: 0, routes: [], upstreams: [:]),
                                        registry: HealthRegistry(), loops: 1)
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
                let hl = EventLoop.hostWithoutPort(hp, hb.count)
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
