import RampartGateway

/// `latency`: a route's p99 response time within the window, from the duration histogram, above the threshold.
enum Latency {
    static func observe(_ input: ConditionInput, _ deltas: [Traffic.Delta]?) -> [Observation] {
        (deltas ?? []).map { d in
            let p99 = Traffic.quantile(0.99, buckets: d.buckets, bounds: GatewayAlertFacts.bucketBounds)
            let text = p99.map(Format.duration) ?? "no requests"
            return Observation(subject: ["route": d.route], isTrue: (p99 ?? 0) > input.rule.threshold, value: text, facts: [
                "route": d.route, "p99": text, "requests": "\(d.requests)", "window": Format.duration(input.rule.windowSeconds),
            ])
        }
    }
}
