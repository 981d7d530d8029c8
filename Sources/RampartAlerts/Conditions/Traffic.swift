import RampartGateway

/// Per-route counter increases over a rule's window, from the samples its memory keeps (errorRate, latency).
enum Traffic {
    struct Delta {
        var route: String
        var requests: Int
        var serverErrors: Int
        /// Cumulative bucket counts (as `GatewayAlertFacts.bucketBounds`).
        var buckets: [Int]
    }

    /// nil until two samples span some time; a counter that went down (a reset) reads as no data.
    static func deltas(_ input: ConditionInput, _ routes: [RouteTrafficSample], memory: inout RuleMemory) -> [Delta]? {
        var now: [String: RouteTrafficSampleValue] = [:]
        for r in routes where input.rule.selects(r.route, in: input.rule.spec.selectorRoutes) {
            now[r.route] = RouteTrafficSampleValue(requests: r.requests, serverErrors: r.serverErrors, buckets: r.buckets)
        }
        var samples = memory.traffic.map { (at: $0.at, value: $0.routes) }
        Window.append(&samples, (input.now, now), window: input.rule.windowSeconds)
        let base = Window.baseline(&samples, now: input.now, window: input.rule.windowSeconds)
        memory.traffic = samples.map { (at: $0.at, routes: $0.value) }
        guard let base else { return nil }
        return now.keys.sorted().compactMap { route in
            guard let cur = now[route] else { return nil }
            let old = base.value[route] ?? RouteTrafficSampleValue(requests: 0, serverErrors: 0, buckets: cur.buckets.map { _ in 0 })
            guard old.buckets.count == cur.buckets.count, cur.requests >= old.requests, cur.serverErrors >= old.serverErrors else { return nil }
            let buckets = zip(cur.buckets, old.buckets).map { max(0, $0 - $1) }
            return Delta(route: route, requests: cur.requests - old.requests, serverErrors: cur.serverErrors - old.serverErrors, buckets: buckets)
        }
    }

    /// The route subjects a rule reports on: each delta alone, or (`scope: overall`) one delta summing them all,
    /// its histogram merged bucket by bucket, as `sum by (le)` does before `histogram_quantile`. nil: no data yet.
    static func scoped(_ input: ConditionInput, _ deltas: [Delta]?) -> [Delta]? {
        guard let deltas else { return nil }
        guard input.rule.spec.scope == .overall else { return deltas }
        var total = Delta(route: overallRoute, requests: 0, serverErrors: 0, buckets: GatewayAlertFacts.bucketBounds.map { _ in 0 })
        for d in deltas where d.buckets.count == total.buckets.count {
            total.requests = saturatingSum(total.requests, d.requests)
            total.serverErrors = saturatingSum(total.serverErrors, d.serverErrors)
            for i in total.buckets.indices { total.buckets[i] = saturatingSum(total.buckets[i], d.buckets[i]) }
        }
        return [total]
    }

    /// The `route` fact of an overall instance (route ids are `NAMESPACE/NAME`, never this).
    static let overallRoute = "*"

    /// The subject labels of a delta: none for an overall rule, so its one alert carries no `route` label.
    static func subject(_ input: ConditionInput, _ d: Delta) -> [String: String] {
        input.rule.spec.scope == .overall ? [:] : ["route": d.route]
    }

    private static func saturatingSum(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int.max : sum
    }

    /// The q-quantile of a cumulative histogram, interpolated within its bucket as Prometheus's
    /// `histogram_quantile` does; past the last finite bound, that bound.
    static func quantile(_ q: Double, buckets: [Int], bounds: [Double]) -> Double? {
        guard let total = buckets.last, total > 0, buckets.count == bounds.count else { return nil }
        let rank = q * Double(total)
        var lowerBound = 0.0, lowerCount = 0
        for (i, count) in buckets.enumerated() {
            if Double(count) >= rank {
                let upper = bounds[i]
                if upper.isInfinite { return bounds.count >= 2 ? bounds[bounds.count - 2] : nil }
                let inBucket = count - lowerCount
                guard inBucket > 0 else { return upper }
                return lowerBound + (upper - lowerBound) * (rank - Double(lowerCount)) / Double(inBucket)
            }
            lowerBound = bounds[i]
            lowerCount = count
        }
        return nil
    }
}
