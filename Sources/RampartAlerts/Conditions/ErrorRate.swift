/// `errorRate`: 5xx responses over all responses within the window, above the threshold ratio: per route,
/// or (`scope: overall`) over every selected route's requests together.
enum ErrorRate {
    static func observe(_ input: ConditionInput, _ deltas: [Traffic.Delta]?) -> [Observation] {
        (Traffic.scoped(input, deltas) ?? []).map { d in
            let ratio = d.requests > 0 ? Double(d.serverErrors) / Double(d.requests) : 0
            return Observation(subject: Traffic.subject(input, d), isTrue: d.requests > 0 && ratio > input.rule.threshold,
                               value: Format.number(ratio, digits: 3), facts: [
                "route": d.route, "ratio": Format.number(ratio, digits: 3), "percent": Format.number(ratio * 100, digits: 1),
                "requests": "\(d.requests)", "errors": "\(d.serverErrors)", "window": Format.duration(input.rule.windowSeconds),
            ])
        }
    }
}
