import RampartGateway

/// `latency`: the p99 response time within the window, from the duration histogram, above the threshold:
/// per route, or (`scope: overall`) from every selected route's histogram merged.
enum Latency {
    static func observe(_ input: ConditionInput, _ deltas: [Traffic.Delta]?) -> [Observation] {
        (Traffic.scoped(input, deltas) ?? []).map { d in
            let p99 = Traffic.quantile(0.99, buckets: d.buckets, bounds: GatewayAlertFacts.bucketBounds)
            let text = p99.map(Format.duration) ?? "no requests"
            return Observation(subject: Traffic.subject(input, d), isTrue: (p99 ?? 0) > input.rule.threshold, value: text, facts: [
                "route": d.route, "p99": text, "requests": "\(d.requests)", "window": Format.duration(input.rule.windowSeconds),
            ])
        }
    }
}
