import Glibc
import Synchronization

final class CompiledNode: Sendable {
    let address: SocketAddress
    let host: String           // as configured: the default TLS server name
    let label: String          // "ip:port" metrics label
    let weight: Int
    let health: NodeHealth
    let index: Int
    /// Where its upstream request counts go in a loop's counters (`MetricSlots`): one small integer
    /// per (upstream, node), the same in every snapshot.
    let metricSlot: Int
    /// The key of its idle connections in a loop's pool (an integer: hashing the address cost ~2,000
    /// instructions a request).
    var poolKey: Int { metricSlot }

    init(address: SocketAddress, host: String = "", label: String, weight: Int, health: NodeHealth, index: Int, metricSlot: Int) {
        self.address = address
        self.host = host
        self.label = label
        self.weight = weight
        self.health = health
        self.index = index
        self.metricSlot = metricSlot
    }
}

/// Per-loop balancer state; each slot is touched only by its own loop thread.
final class UpstreamLoopState: @unchecked Sendable {
    var currentWeights: [Int]
    var active: [Int]
    var ewmaNs: [Double]
    var rrCursor = 0

    init(count: Int) {
        currentWeights = [Int](repeating: 0, count: count)
        active = [Int](repeating: 0, count: count)
        ewmaNs = [Double](repeating: 0, count: count)
    }
}

final class CompiledUpstream: Sendable {
    let config: UpstreamConfig
    let key: String
    let nodes: [CompiledNode]
    let ring: [(hash: UInt64, node: Int)]
    let perLoop: [UpstreamLoopState]
    /// `scheme: https`: the client context, or why it could not be made (then every request gets 502).
    let clientTLS: ClientTLS?
    let tlsError: String?

    /// Nodes with no address to serve at (the name does not resolve, or not yet): never picked, and
    /// reported unhealthy with the reason. `label` is "host:port" as configured.
    let unresolved: [(label: String, reason: String)]

    /// `resolutions` holds the resolver's answers for node host names; IP literals need none. A name
    /// without an answer yet is unresolved ("not resolved yet") until the resolver hands one over.
    /// `reusing`: the same upstream compiled before, whose TLS client context is kept (a rebind).
    init(key: String, config: UpstreamConfig, registry: HealthRegistry, loops: Int, metricSlots: MetricSlots,
         resolutions: [NodeName: NodeResolution] = [:], reusing previous: CompiledUpstream? = nil) {
        self.key = key
        self.config = config
        if let previous {
            clientTLS = previous.clientTLS
            tlsError = previous.tlsError
        } else if config.scheme == "https" {
            do {
                clientTLS = try ClientTLS(config.tls ?? UpstreamTLSConfig(), upstream: key)
                tlsError = nil
            } catch {
                clientTLS = nil
                tlsError = "\(error)"
            }
        } else {
            clientTLS = nil
            tlsError = nil
        }
        var nodes: [CompiledNode] = []
        var unresolved: [(label: String, reason: String)] = []
        for n in config.nodes where n.weight > 0 {
            let addr: SocketAddress
            if let literal = SocketAddress.literal(host: n.host, port: n.port) {
                addr = literal
            } else {
                switch resolutions[NodeName(host: n.host, port: n.port)] {
                case .resolved(let a)?:
                    addr = a
                case .failed(let reason)?:
                    unresolved.append(("\(n.host):\(n.port)", reason))
                    continue
                case nil:
                    unresolved.append(("\(n.host):\(n.port)", "not resolved yet"))
                    continue
                }
            }
            let label = addr.description
            nodes.append(CompiledNode(address: addr, host: n.host, label: label, weight: n.weight,
                                      health: registry.health(upstream: key, node: label), index: nodes.count,
                                      metricSlot: metricSlots.node(upstream: key, node: label)))
        }
        self.nodes = nodes
        self.unresolved = unresolved
        var ring: [(hash: UInt64, node: Int)] = []
        if case .chash = config.loadBalancer {
            for n in nodes {
                for v in 0..<(min(n.weight, 100) * 40) {
                    ring.append((hashLower(Array("\(n.label)#\(v)".utf8)), n.index))
                }
            }
            ring.sort { $0.hash < $1.hash }
        }
        self.ring = ring
        perLoop = (0..<max(loops, 1)).map { _ in UpstreamLoopState(count: nodes.count) }
    }

    /// Picks a healthy node not in `exclude` (bit set by node index), or nil.
    func pick(loop: Int, now: Int64, exclude: UInt64, hashKey: UInt64, rng: inout FastRandom) -> CompiledNode? {
        let st = perLoop[loop < perLoop.count ? loop : 0]
        let count = nodes.count
        if count == 0 { return nil }
        @inline(__always) func usable(_ i: Int) -> Bool {
            (i >= 64 || exclude & (1 << UInt64(i)) == 0) && nodes[i].health.isHealthy(now: now)
        }
        switch config.loadBalancer {
        case .roundrobin:
            // nginx smooth weighted round robin
            var total = 0
            var best = -1
            for i in 0..<count where usable(i) {
                st.currentWeights[i] += nodes[i].weight
                total += nodes[i].weight
                if best < 0 || st.currentWeights[i] > st.currentWeights[best] { best = i }
            }
            if best < 0 { return nil }
            st.currentWeights[best] -= total
            return nodes[best]
        case .leastConn:
            var best = -1
            var bestScore = Double.infinity
            let start = st.rrCursor % count
            st.rrCursor &+= 1
            for k in 0..<count {
                let i = (start + k) % count
                guard usable(i) else { continue }
                let score = Double(st.active[i] + 1) / Double(nodes[i].weight)
                if score < bestScore { bestScore = score; best = i }
            }
            return best < 0 ? nil : nodes[best]
        case .ewma:
            var best = -1
            var bestScore = Double.infinity
            let start = Int(rng.next() % UInt64(count))
            for k in 0..<count {
                let i = (start + k) % count
                guard usable(i) else { continue }
                let score = (st.ewmaNs[i] + 1) * Double(st.active[i] + 1) / Double(nodes[i].weight)
                if score < bestScore { bestScore = score; best = i }
            }
            return best < 0 ? nil : nodes[best]
        case .chash:
            if ring.isEmpty { return nil }
            var lo = 0, hi = ring.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if ring[mid].hash < hashKey { lo = mid + 1 } else { hi = mid }
            }
            for k in 0..<ring.count {
                let i = ring[(lo + k) % ring.count].node
                if usable(i) { return nodes[i] }
            }
            return nil
        }
    }
}
