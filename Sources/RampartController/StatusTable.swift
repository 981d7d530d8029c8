import RampartModel
import Synchronization

/// Every resource's status after one reconcile (API.md 1.8), made from what the reconcile decided
/// when first read and kept from then on.
final class StatusTable: Sendable {
    private let serving: DesiredState
    private let invalid: [ResourceKey: [String]]
    private let kept: Set<ResourceKey>
    private let notServed: [ResourceKey: String]
    private let made = Mutex<(byKey: [ResourceKey: ResourceStatus], ordered: [ResourceStatus])?>(nil)

    static let empty = StatusTable(serving: .empty, invalid: [:], kept: [], notServed: [:])

    init(serving: DesiredState, invalid: [ResourceKey: [String]], kept: Set<ResourceKey>, notServed: [ResourceKey: String]) {
        self.serving = serving
        self.invalid = invalid
        self.kept = kept
        self.notServed = notServed
    }

    var byKey: [ResourceKey: ResourceStatus] { table.byKey }
    var ordered: [ResourceStatus] { table.ordered }

    private var table: (byKey: [ResourceKey: ResourceStatus], ordered: [ResourceStatus]) {
        made.withLock { made in
            if let made { return made }
            let byKey = build()
            let table = (byKey, StatusTable.inKeyOrder(byKey, serving: serving))
            made = table
            return table
        }
    }

    private func build() -> [ResourceKey: ResourceStatus] {
        let serving = self.serving, invalid = self.invalid, kept = self.kept, notServed = self.notServed
        var out: [ResourceKey: ResourceStatus] = [:]
        let gen = serving.generation
        for (key, r) in serving.resources {
            let problems = invalid[key] ?? []
            out[key] = ResourceStatus(key: key, origin: r.origin.description, conditions: [
                Condition(type: "Accepted", status: problems.isEmpty, reason: problems.isEmpty ? "Valid" : "Invalid",
                          message: problems.joined(separator: "; "), observedGeneration: gen),
                notServed[key].map {
                    Condition(type: "Ready", status: false, reason: SensitiveValues.holdsDigestMarker(r) ? "SecretPending" : "NotServed",
                              message: $0, observedGeneration: gen)
                }
                    ?? Condition(type: "Ready", status: true, reason: kept.contains(key) ? "ServingLastGood" : "Serving",
                                 message: kept.contains(key) ? "the current version is invalid; the last good version serves" : "", observedGeneration: gen),
            ])
        }
        for (key, problems) in invalid where out[key] == nil {
            out[key] = ResourceStatus(key: key, origin: "", conditions: [
                Condition(type: "Accepted", status: false, reason: "Invalid", message: problems.joined(separator: "; "), observedGeneration: gen),
                Condition(type: "Ready", status: false, reason: "NotServed",
                          message: serving.heldClosed[key] == nil ? "invalid and no earlier version to serve"
                              : "invalid and no earlier version to serve; its requests are answered 503 (reason Invalid)",
                          observedGeneration: gen),
            ])
        }
        return out
    }

    /// The statuses in key order: the serving state's resources are in key order already, so only
    /// the few others (invalid, with no version serving) are sorted and merged in.
    static func inKeyOrder(_ statuses: [ResourceKey: ResourceStatus], serving: DesiredState) -> [ResourceStatus] {
        let others = statuses.keys.filter { serving.resources[$0] == nil }.sorted()
        var out: [ResourceStatus] = []
        out.reserveCapacity(statuses.count)
        var next = others.makeIterator()
        var pending = next.next()
        for r in serving.sorted {
            while let o = pending, o < r.key {
                if let s = statuses[o] { out.append(s) }
                pending = next.next()
            }
            if let s = statuses[r.key] { out.append(s) }
        }
        while let o = pending {
            if let s = statuses[o] { out.append(s) }
            pending = next.next()
        }
        return out
    }
}
