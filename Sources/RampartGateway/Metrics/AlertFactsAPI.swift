/// A route's request counters and latency histogram since start, as the alert engine reads them.
public struct RouteTrafficSample: Sendable, Equatable {
    public var route: String
    public var requests: Int
    public var serverErrors: Int
    /// Cumulative counts per bucket bound of `bucketBounds` (seconds); the last entry is `+Inf` (all requests).
    public var buckets: [Int]

    public init(route: String, requests: Int, serverErrors: Int, buckets: [Int]) {
        self.route = route
        self.requests = requests
        self.serverErrors = serverErrors
        self.buckets = buckets
    }
}

/// What the gateway publishes for alerting: certificates served, node health, traffic counters.
/// A read of the metrics the loops already keep: no hot-path code is involved.
public struct GatewayAlertFacts: Sendable {
    /// The served certificate of each SNI: notAfter as Unix seconds.
    public var certificates: [(sni: String, notAfter: Double)]
    /// upstream → node → healthy.
    public var nodes: [String: [String: Bool]]
    public var routes: [RouteTrafficSample]
    /// The upper bounds (seconds) of the histogram buckets, `+Inf` last.
    public static let bucketBounds: [Double] = durationBuckets + [Double.infinity]
}

extension Gateway {
    /// A copy of the counters and states the alert conditions read (one lock per loop, as a scrape).
    public func alertFacts() -> GatewayAlertFacts {
        let (loops, snap) = state.withLock { ($0.loops, $0.current) }
        let labels = gw.metricSlots.labels()
        var total = MetricsTotals()
        for l in loops { l.metrics.current.merge(into: &total, routes: labels.routes, nodes: labels.nodes) }
        var errors: [String: Int] = [:], requests: [String: Int] = [:]
        for (k, v) in total.requests {
            requests[k.route, default: 0] += v
            if k.code >= 500 && k.code <= 599 { errors[k.route, default: 0] += v }
        }
        var routes: [RouteTrafficSample] = []
        for (route, h) in total.durations.sorted(by: { $0.key < $1.key }) where !route.isEmpty && route != "_unmatched" {
            var cumulative: [Int] = []
            var running = 0
            for c in h.counts {
                running += c
                cumulative.append(running)
            }
            cumulative.append(h.count)
            routes.append(RouteTrafficSample(route: route, requests: requests[route] ?? h.count, serverErrors: errors[route] ?? 0, buckets: cumulative))
        }
        return GatewayAlertFacts(certificates: snap?.tls?.expiries ?? [], nodes: nodeHealth(), routes: routes)
    }
}

/// Prometheus text helpers for metrics rendered outside the gateway (the alert engine's).
public enum MetricsText {
    /// A label value escaped for the exposition format.
    public static func label(_ s: String) -> String { ExpositionWriter.escape(s) }
}
