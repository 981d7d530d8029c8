import Synchronization

let durationBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/// The label sets metrics are counted under, each given a small integer (its slot) when a snapshot
/// is compiled: routes by id, upstream nodes by (upstream, node). Slots are never reused, so a
/// counter keeps its series across snapshots; slot 0 of the routes is `_unmatched`. The mutex is
/// taken while compiling and scraping, never on a loop.
final class MetricSlots: Sendable {
    static let unmatchedRoute = 0

    private struct Names {
        var routes: [String] = ["_unmatched"]
        var routeSlots: [String: Int] = ["_unmatched": 0]
        var nodes: [(upstream: String, node: String)] = []
        var nodeSlots: [String: Int] = [:]
    }

    private let names = Mutex(Names())

    func route(_ id: String) -> Int {
        names.withLock { n in
            if let s = n.routeSlots[id] { return s }
            n.routes.append(id)
            n.routeSlots[id] = n.routes.count - 1
            return n.routes.count - 1
        }
    }

    func node(upstream: String, node: String) -> Int {
        names.withLock { n in
            let key = upstream + "|" + node
            if let s = n.nodeSlots[key] { return s }
            n.nodes.append((upstream, node))
            n.nodeSlots[key] = n.nodes.count - 1
            return n.nodes.count - 1
        }
    }

    /// How many slots exist: what a loop's counters must hold for a snapshot compiled now.
    var counts: (routes: Int, nodes: Int) { names.withLock { ($0.routes.count, $0.nodes.count) } }

    /// Slot → label values, for a scrape.
    func labels() -> (routes: [String], nodes: [(upstream: String, node: String)]) {
        names.withLock { ($0.routes, $0.nodes) }
    }
}

/// One loop's counters, as words indexed by slot: written only by the loop (a relaxed load and
/// store, no read-modify-write, no lock), read by a scrape. A route slot is `codesPerSlot` status
/// words (code in the top 10 bits, count below; 0 while unused) then its duration histogram
/// (bucket counts, sum as Double bits, count); a node slot is `codesPerSlot` status words.
final class LoopCounters: @unchecked Sendable {
    // Each word is touched only through its atomic; the storage lives as long as the object.
    static let codesPerSlot = 16
    static let histogramWords = durationBuckets.count + 2
    static let routeWords = codesPerSlot + histogramWords
    static let countBits: UInt64 = 54
    static let countMask: UInt64 = (1 << countBits) - 1

    enum Global: Int, CaseIterable {
        case tlsHandshakeFailures, basicAuthVerifications, basicAuthOverloads
    }

    let routeCapacity: Int
    let nodeCapacity: Int
    private let words: UnsafeMutablePointer<Atomic<UInt64>>
    private let wordCount: Int
    /// Codes past `codesPerSlot` distinct ones for a slot (an upstream answering with many codes),
    /// and a slot past the capacity (not expected: a loop grows before serving a snapshot): counted
    /// exactly here, under a lock that no other request takes.
    let overflow = Mutex(Overflow())

    struct OverflowKey: Hashable {
        var route: Bool
        var slot: Int
        var code: Int
    }

    struct Overflow {
        var codes: [OverflowKey: Int] = [:]
        var durations: [Int: Histogram] = [:]
    }

    init(routes: Int, nodes: Int) {
        routeCapacity = max(routes, 1)
        nodeCapacity = max(nodes, 1)
        wordCount = Global.allCases.count + routeCapacity * LoopCounters.routeWords + nodeCapacity * LoopCounters.codesPerSlot
        words = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: wordCount)
        for i in 0..<wordCount { (words + i).initialize(to: Atomic<UInt64>(0)) }
    }

    deinit {
        words.deinitialize(count: wordCount)
        words.deallocate()
    }

    /// A copy with room for at least `routes` and `nodes` slots (capacities doubled), values kept.
    /// The loop switches to it and writes only there from then on.
    func grown(routes: Int, nodes: Int) -> LoopCounters {
        let next = LoopCounters(routes: max(routes, routeCapacity * 2), nodes: max(nodes, nodeCapacity * 2))
        for g in Global.allCases { next.words[g.rawValue].store(load(g.rawValue), ordering: .relaxed) }
        for s in 0..<routeCapacity {
            for k in 0..<LoopCounters.routeWords {
                next.words[next.routeBase(s) + k].store(load(routeBase(s) + k), ordering: .relaxed)
            }
        }
        for s in 0..<nodeCapacity {
            for k in 0..<LoopCounters.codesPerSlot {
                next.words[next.nodeBase(s) + k].store(load(nodeBase(s) + k), ordering: .relaxed)
            }
        }
        next.overflow.withLock { $0 = overflow.withLock { $0 } }
        return next
    }

    @inline(__always) private func routeBase(_ slot: Int) -> Int { Global.allCases.count + slot * LoopCounters.routeWords }
    @inline(__always) private func nodeBase(_ slot: Int) -> Int {
        Global.allCases.count + routeCapacity * LoopCounters.routeWords + slot * LoopCounters.codesPerSlot
    }
    @inline(__always) private func load(_ i: Int) -> UInt64 { words[i].load(ordering: .relaxed) }
    @inline(__always) private func add(_ i: Int, _ n: UInt64) { words[i].store(load(i) &+ n, ordering: .relaxed) }

    // MARK: the loop's side

    func count(_ g: Global) { add(g.rawValue, 1) }

    func recordRequest(routeSlot slot: Int, code: Int, seconds: Double) {
        guard slot >= 0 && slot < routeCapacity else {
            countOverflow(route: true, slot: slot, code: code)
            return overflow.withLock { $0.durations[slot, default: Histogram()].observe(seconds) }
        }
        let base = routeBase(slot)
        if !countCode(at: base, code: code) { countOverflow(route: true, slot: slot, code: code) }
        let h = base + LoopCounters.codesPerSlot
        var i = 0
        while i < durationBuckets.count && seconds > durationBuckets[i] { i += 1 }
        if i < durationBuckets.count { add(h + i, 1) }
        let sumIndex = h + durationBuckets.count
        words[sumIndex].store((Double(bitPattern: load(sumIndex)) + seconds).bitPattern, ordering: .relaxed)
        add(sumIndex + 1, 1)
    }

    func recordUpstream(nodeSlot slot: Int, code: Int) {
        guard slot >= 0 && slot < nodeCapacity, countCode(at: nodeBase(slot), code: code) else {
            return countOverflow(route: false, slot: slot, code: code)
        }
    }

    /// Adds one to `code`'s word among the slot's status words; false when they are all taken.
    @inline(__always) private func countCode(at base: Int, code: Int) -> Bool {
        guard code > 0 && code < 1024 else { return false }
        let tag = UInt64(code) << LoopCounters.countBits
        for k in 0..<LoopCounters.codesPerSlot {
            let w = load(base + k)
            if w == 0 {
                words[base + k].store(tag | 1, ordering: .relaxed)
                return true
            }
            if w & ~LoopCounters.countMask == tag {
                words[base + k].store(w &+ 1, ordering: .relaxed)
                return true
            }
        }
        return false
    }

    private func countOverflow(route: Bool, slot: Int, code: Int) {
        overflow.withLock { $0.codes[OverflowKey(route: route, slot: slot, code: code), default: 0] += 1 }
    }

    // MARK: a scrape's side

    /// Adds these counters to `into`, naming slots with `labels`.
    func merge(into d: inout MetricsTotals, routes: [String], nodes: [(upstream: String, node: String)]) {
        d.tlsHandshakeFailures += Int(load(Global.tlsHandshakeFailures.rawValue))
        d.basicAuthVerifications += Int(load(Global.basicAuthVerifications.rawValue))
        d.basicAuthOverloads += Int(load(Global.basicAuthOverloads.rawValue))
        for s in 0..<min(routeCapacity, routes.count) {
            let base = routeBase(s)
            forEachCode(at: base) { code, n in d.requests[RouteCode(route: routes[s], code: code), default: 0] += n }
            let h = base + LoopCounters.codesPerSlot
            let count = Int(load(h + durationBuckets.count + 1))
            if count == 0 { continue }
            var hist = Histogram()
            for i in 0..<durationBuckets.count { hist.counts[i] = Int(load(h + i)) }
            hist.sum = Double(bitPattern: load(h + durationBuckets.count))
            hist.count = count
            d.durations[routes[s], default: Histogram()].merge(hist)
        }
        for s in 0..<min(nodeCapacity, nodes.count) {
            forEachCode(at: nodeBase(s)) { code, n in
                d.upstream[UpstreamCode(upstream: nodes[s].upstream, node: nodes[s].node, code: code), default: 0] += n
            }
        }
        let extra = overflow.withLock { $0 }
        func routeName(_ slot: Int) -> String { slot >= 0 && slot < routes.count ? routes[slot] : "_unmatched" }
        for (k, n) in extra.codes {
            if k.route {
                d.requests[RouteCode(route: routeName(k.slot), code: k.code), default: 0] += n
            } else if k.slot >= 0 && k.slot < nodes.count {
                d.upstream[UpstreamCode(upstream: nodes[k.slot].upstream, node: nodes[k.slot].node, code: k.code), default: 0] += n
            }
        }
        for (slot, h) in extra.durations { d.durations[routeName(slot), default: Histogram()].merge(h) }
    }

    private func forEachCode(at base: Int, _ body: (Int, Int) -> Void) {
        for k in 0..<LoopCounters.codesPerSlot {
            let w = load(base + k)
            if w == 0 { break }
            body(Int(w >> LoopCounters.countBits), Int(w & LoopCounters.countMask))
        }
    }
}

/// A loop's counters as scrapes find them: the block the loop writes now, handed over (under a
/// lock taken only at a handover and a scrape) when the loop grows it for a snapshot with more slots.
final class LoopMetrics: Sendable {
    private let published: Mutex<LoopCounters>

    init(_ counters: LoopCounters) { published = Mutex(counters) }

    func publish(_ counters: LoopCounters) { published.withLock { $0 = counters } }

    var current: LoopCounters { published.withLock { $0 } }
}

struct Histogram {
    var counts = [Int](repeating: 0, count: durationBuckets.count)
    var sum = 0.0
    var count = 0

    mutating func observe(_ v: Double) {
        var i = 0
        while i < durationBuckets.count && v > durationBuckets[i] { i += 1 }
        if i < durationBuckets.count { counts[i] += 1 }
        sum += v
        count += 1
    }

    mutating func merge(_ o: Histogram) {
        for i in 0..<counts.count { counts[i] += o.counts[i] }
        sum += o.sum
        count += o.count
    }
}

struct RouteCode: Hashable {
    var route: String
    var code: Int
}

struct UpstreamCode: Hashable {
    var upstream: String
    var node: String
    var code: Int
}

/// Every loop's counters added up by label values, at scrape time.
struct MetricsTotals {
    var requests: [RouteCode: Int] = [:]
    var durations: [String: Histogram] = [:]
    var upstream: [UpstreamCode: Int] = [:]
    var tlsHandshakeFailures = 0
    var basicAuthVerifications = 0
    var basicAuthOverloads = 0
}

/// Prometheus text format 0.0.4: families of samples, label values escaped.
struct ExpositionWriter {
    private(set) var text = ""

    static func escape(_ s: String) -> String {
        var o = ""
        for c in s {
            switch c {
            case "\\": o += "\\\\"
            case "\"": o += "\\\""
            case "\n": o += "\\n"
            default: o.append(c)
            }
        }
        return o
    }

    static func format(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int(v)) }
        return String(v)
    }

    /// `# HELP` and `# TYPE` of a family.
    mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    /// One sample; label values are escaped here.
    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String> = [:], value: String) {
        text += name
        if !labels.isEmpty {
            text += "{"
            var first = true
            for (k, v) in labels {
                if !first { text += "," }
                first = false
                text += "\(k)=\"\(ExpositionWriter.escape(v))\""
            }
            text += "}"
        }
        text += " \(value)\n"
    }

    /// A histogram's cumulative buckets, sum and count under `label`.
    mutating func histogram(_ name: String, label: (String, String), _ h: Histogram) {
        var cumulative = 0
        for (i, bound) in durationBuckets.enumerated() {
            cumulative += h.counts[i]
            sample(name + "_bucket", [label.0: label.1, "le": ExpositionWriter.format(bound)], value: String(cumulative))
        }
        sample(name + "_bucket", [label.0: label.1, "le": "+Inf"], value: String(h.count))
        sample(name + "_sum", [label.0: label.1], value: "\(h.sum)")
        sample(name + "_count", [label.0: label.1], value: String(h.count))
    }
}

enum Exposition {
    static func render(_ d: MetricsTotals, nodes: [(upstream: String, node: String, healthy: Bool)],
                       connections: Int, certificateExpiry: [(sni: String, notAfter: Double)] = []) -> String {
        var w = ExpositionWriter()
        w.family("rampart_http_requests_total", "counter", "HTTP requests handled by the gateway.")
        for (k, v) in d.requests.sorted(by: { ($0.key.route, $0.key.code) < ($1.key.route, $1.key.code) }) {
            w.sample("rampart_http_requests_total", ["route": k.route, "code": String(k.code)], value: String(v))
        }
        w.family("rampart_http_request_duration_seconds", "histogram", "Time from request head to response end.")
        for (route, h) in d.durations.sorted(by: { $0.key < $1.key }) {
            w.histogram("rampart_http_request_duration_seconds", label: ("route", route), h)
        }
        w.family("rampart_upstream_requests_total", "counter", "Requests sent to upstream nodes, by response code.")
        for (k, v) in d.upstream.sorted(by: { ($0.key.upstream, $0.key.node, $0.key.code) < ($1.key.upstream, $1.key.node, $1.key.code) }) {
            w.sample("rampart_upstream_requests_total", ["upstream": k.upstream, "node": k.node, "code": String(k.code)], value: String(v))
        }
        w.family("rampart_upstream_node_healthy", "gauge", "1 if the node is considered healthy.")
        for n in nodes.sorted(by: { ($0.upstream, $0.node) < ($1.upstream, $1.node) }) {
            w.sample("rampart_upstream_node_healthy", ["upstream": n.upstream, "node": n.node], value: n.healthy ? "1" : "0")
        }
        w.family("rampart_connections_active", "gauge", "Open downstream connections.")
        w.sample("rampart_connections_active", value: String(connections))
        w.family("rampart_tls_certificate_expiry_timestamp_seconds", "gauge", "When the certificate served for an SNI expires (Unix time).")
        var seen = Set<String>()
        for e in certificateExpiry.sorted(by: { $0.sni < $1.sni }) where seen.insert(e.sni).inserted {
            w.sample("rampart_tls_certificate_expiry_timestamp_seconds", ["sni": e.sni], value: ExpositionWriter.format(e.notAfter))
        }
        w.family("rampart_tls_handshake_failures_total", "counter", "Downstream TLS handshakes that failed.")
        w.sample("rampart_tls_handshake_failures_total", value: String(d.tlsHandshakeFailures))
        w.family("rampart_basic_auth_verifications_total", "counter",
                 "basic-auth credentials checked with PBKDF2 (not cached yet), known user or not.")
        w.sample("rampart_basic_auth_verifications_total", value: String(d.basicAuthVerifications))
        w.family("rampart_basic_auth_overload_total", "counter",
                 "basic-auth requests answered 429 because their loop had too many checks pending.")
        w.sample("rampart_basic_auth_overload_total", value: String(d.basicAuthOverloads))
        return w.text
    }
}
