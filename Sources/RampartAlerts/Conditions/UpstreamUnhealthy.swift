/// `upstreamUnhealthy`: without a threshold, each unhealthy node is its own alert; with `threshold: N`,
/// an upstream alerts when N or more of its nodes are unhealthy, and `threshold: 0` when all of them are.
enum UpstreamUnhealthy {
    static func observe(_ input: ConditionInput, _ nodes: [UpstreamNodeFact]) -> [Observation] {
        let rule = input.rule
        let selected = nodes.filter { rule.selects($0.upstream, in: rule.spec.selectorUpstreams) }
        var byUpstream: [String: [UpstreamNodeFact]] = [:]
        for n in selected { byUpstream[n.upstream, default: []].append(n) }
        var out: [Observation] = []
        for (upstream, group) in byUpstream.sorted(by: { $0.key < $1.key }) {
            let unhealthy = group.filter { !$0.healthy }
            let counts = ["unhealthy": "\(unhealthy.count)", "nodes": "\(group.count)"]
            if rule.spec.threshold == nil {
                for n in group.sorted(by: { $0.node < $1.node }) {
                    out.append(Observation(subject: ["upstream": upstream, "node": n.node], isTrue: !n.healthy,
                                           value: n.healthy ? "healthy" : "unhealthy",
                                           facts: counts.merging(["upstream": upstream, "node": n.node]) { a, _ in a }))
                }
            } else {
                let needed = Int(rule.threshold)
                let isTrue = needed == 0 ? (!group.isEmpty && unhealthy.count == group.count) : unhealthy.count >= needed
                out.append(Observation(subject: ["upstream": upstream], isTrue: isTrue, value: "\(unhealthy.count)/\(group.count) unhealthy",
                                       facts: counts.merging(["upstream": upstream, "node": unhealthy.map(\.node).sorted().joined(separator: ",")]) { a, _ in a }))
            }
        }
        return out
    }
}
