import Synchronization

let durationBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

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

/// One loop's counters. Written by the loop, read by a scrape: the mutex is uncontended except
/// for the moment a scrape copies it.
struct LoopMetricsData {
    var requests: [RouteCode: Int] = [:]
    var durations: [String: Histogram] = [:]
    var upstream: [UpstreamCode: Int] = [:]
    var tlsHandshakeFailures = 0
    var basicAuthVerifications = 0
    var basicAuthOverloads = 0

    mutating func merge(_ o: LoopMetricsData) {
        tlsHandshakeFailures += o.tlsHandshakeFailures
        basicAuthVerifications += o.basicAuthVerifications
        basicAuthOverloads += o.basicAuthOverloads
        for (k, v) in o.requests { requests[k, default: 0] += v }
        for (k, v) in o.durations { durations[k, default: Histogram()].merge(v) }
        for (k, v) in o.upstream { upstream[k, default: 0] += v }
    }
}

final class LoopMetrics: Sendable {
    let data = Mutex(LoopMetricsData())

    func recordRequest(route: String, code: Int, seconds: Double) {
        data.withLock { d in
            d.requests[RouteCode(route: route, code: code), default: 0] += 1
            d.durations[route, default: Histogram()].observe(seconds)
        }
    }

    func recordTLSHandshakeFailure() {
        data.withLock { $0.tlsHandshakeFailures += 1 }
    }

    func recordBasicAuthVerification() {
        data.withLock { $0.basicAuthVerifications += 1 }
    }

    func recordBasicAuthOverload() {
        data.withLock { $0.basicAuthOverloads += 1 }
    }

    func recordUpstream(upstream: String, node: String, code: Int) {
        data.withLock { d in
            d.upstream[UpstreamCode(upstream: upstream, node: node, code: code), default: 0] += 1
        }
    }
}

enum Exposition {
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

    static func render(_ d: LoopMetricsData, nodes: [(upstream: String, node: String, healthy: Bool)],
                       connections: Int, certificateExpiry: [(sni: String, notAfter: Double)] = []) -> String {
        var out = ""
        out += "# HELP rampart_http_requests_total HTTP requests handled by the gateway.\n"
        out += "# TYPE rampart_http_requests_total counter\n"
        for (k, v) in d.requests.sorted(by: { ($0.key.route, $0.key.code) < ($1.key.route, $1.key.code) }) {
            out += "rampart_http_requests_total{route=\"\(escape(k.route))\",code=\"\(k.code)\"} \(v)\n"
        }
        out += "# HELP rampart_http_request_duration_seconds Time from request head to response end.\n"
        out += "# TYPE rampart_http_request_duration_seconds histogram\n"
        for (route, h) in d.durations.sorted(by: { $0.key < $1.key }) {
            let r = escape(route)
            var cum = 0
            for (i, b) in durationBuckets.enumerated() {
                cum += h.counts[i]
                out += "rampart_http_request_duration_seconds_bucket{route=\"\(r)\",le=\"\(format(b))\"} \(cum)\n"
            }
            out += "rampart_http_request_duration_seconds_bucket{route=\"\(r)\",le=\"+Inf\"} \(h.count)\n"
            out += "rampart_http_request_duration_seconds_sum{route=\"\(r)\"} \(h.sum)\n"
            out += "rampart_http_request_duration_seconds_count{route=\"\(r)\"} \(h.count)\n"
        }
        out += "# HELP rampart_upstream_requests_total Requests sent to upstream nodes, by response code.\n"
        out += "# TYPE rampart_upstream_requests_total counter\n"
        for (k, v) in d.upstream.sorted(by: { ($0.key.upstream, $0.key.node, $0.key.code) < ($1.key.upstream, $1.key.node, $1.key.code) }) {
            out += "rampart_upstream_requests_total{upstream=\"\(escape(k.upstream))\",node=\"\(escape(k.node))\",code=\"\(k.code)\"} \(v)\n"
        }
        out += "# HELP rampart_upstream_node_healthy 1 if the node is considered healthy.\n"
        out += "# TYPE rampart_upstream_node_healthy gauge\n"
        for n in nodes.sorted(by: { ($0.upstream, $0.node) < ($1.upstream, $1.node) }) {
            out += "rampart_upstream_node_healthy{upstream=\"\(escape(n.upstream))\",node=\"\(escape(n.node))\"} \(n.healthy ? 1 : 0)\n"
        }
        out += "# HELP rampart_connections_active Open downstream connections.\n"
        out += "# TYPE rampart_connections_active gauge\n"
        out += "rampart_connections_active \(connections)\n"
        out += "# HELP rampart_tls_certificate_expiry_timestamp_seconds When the certificate served for an SNI expires (Unix time).\n"
        out += "# TYPE rampart_tls_certificate_expiry_timestamp_seconds gauge\n"
        var seen = Set<String>()
        for e in certificateExpiry.sorted(by: { $0.sni < $1.sni }) where seen.insert(e.sni).inserted {
            out += "rampart_tls_certificate_expiry_timestamp_seconds{sni=\"\(escape(e.sni))\"} \(format(e.notAfter))\n"
        }
        out += "# HELP rampart_tls_handshake_failures_total Downstream TLS handshakes that failed.\n"
        out += "# TYPE rampart_tls_handshake_failures_total counter\n"
        out += "rampart_tls_handshake_failures_total \(d.tlsHandshakeFailures)\n"
        out += "# HELP rampart_basic_auth_verifications_total basic-auth credentials checked with PBKDF2 (not cached yet), known user or not.\n"
        out += "# TYPE rampart_basic_auth_verifications_total counter\n"
        out += "rampart_basic_auth_verifications_total \(d.basicAuthVerifications)\n"
        out += "# HELP rampart_basic_auth_overload_total basic-auth requests answered 429 because their loop had too many checks pending.\n"
        out += "# TYPE rampart_basic_auth_overload_total counter\n"
        out += "rampart_basic_auth_overload_total \(d.basicAuthOverloads)\n"
        return out
    }
}
