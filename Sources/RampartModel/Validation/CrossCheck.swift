import RampartYAML

/// Checks that need every resource at once: duplicates, dangling references, one Keyring per group, identical routes.
public enum CrossCheck {
    public struct Result: Sendable {
        public var diagnostics: [Diagnostic] = []
        /// Resources that must not be served because of a cross-resource error.
        public var invalid: Set<ResourceKey> = []
    }

    /// `rejected`: documents that name a resource but failed their own checks; references to them are
    /// not dangling, and a valid resource with the same name is still a duplicate.
    public static func run(_ resources: [Resource], rejected: [(key: ResourceKey, origin: Origin)] = []) -> Result {
        Index().run(resources, rejected: rejected)
    }

    /// The cross-checks of a sequence of resource lists that differ a little each time (one file
    /// changed): kept between runs, it checks again only what a change can affect — the changed
    /// resources' names (duplicates), the resources that reference a name that appeared or went
    /// away (a reverse index of references), the changed routes' match keys and, when a Keyring
    /// changed, the Keyrings. The result is the one `run` gives for the same lists.
    ///
    /// Not thread-safe: one owner (the reconciler's queue).
    public final class Index {
        private var resources: [Resource] = []
        private var rejected: [(key: ResourceKey, origin: Origin)] = []
        private var built = false

        private var byKey: [ResourceKey: [Resource]] = [:]
        /// Rejected documents by name, with their place in `rejected`.
        private var rejectedByKey: [ResourceKey: [(at: Int, origin: Origin)]] = [:]
        /// Reverse references: a name → the resources that reference it (once each).
        private var referrers: [ResourceKey: [Resource]] = [:]
        private var byMatch: [String: [Resource]] = [:]
        private var keyrings: [Resource] = []

        /// Findings, only where there are some.
        private var duplicates: [ResourceKey: [(document: Named, diagnostic: Diagnostic)]] = [:]
        private var dangling: [ObjectIdentifier: (resource: Resource, diagnostics: [Diagnostic])] = [:]
        /// `times`: an object listed twice is reported for each listing after the first of its group.
        private var sameMatch: [ObjectIdentifier: (resource: Resource, diagnostic: Diagnostic, times: Int)] = [:]
        private var secondKeyring: [ObjectIdentifier: (resource: Resource, diagnostic: Diagnostic, times: Int)] = [:]
        private var result = Result()

        /// Positions in `resources`, made only when an order among several resources is needed.
        private var positionCache: [ObjectIdentifier: Int]?

        /// A change of more resources than this is checked from scratch.
        static let incrementalLimit = 256

        public init() {}

        public func run(_ next: [Resource], rejected nextRejected: [(key: ResourceKey, origin: Origin)] = []) -> Result {
            positionCache = nil
            guard built, Self.same(nextRejected, rejected) else { return rebuild(next, rejected: nextRejected) }
            // The part that changed: what lies between the common prefix and the common suffix.
            let shorter = min(resources.count, next.count)
            var prefix = 0
            while prefix < shorter && resources[prefix] === next[prefix] { prefix += 1 }
            var suffix = 0
            while suffix < shorter - prefix && resources[resources.count - 1 - suffix] === next[next.count - 1 - suffix] { suffix += 1 }
            let removed = Array(resources[prefix..<(resources.count - suffix)])
            let added = Array(next[prefix..<(next.count - suffix)])
            if removed.isEmpty && added.isEmpty { return result }
            guard removed.count + added.count <= Self.incrementalLimit else { return rebuild(next, rejected: nextRejected) }

            let changedKeys = Set(removed.map(\.key) + added.map(\.key))
            let existed = Dictionary(uniqueKeysWithValues: changedKeys.map { ($0, exists($0)) })
            for r in removed { unindex(r) }
            resources = next
            for r in added { index(r) }

            var recheck: [ObjectIdentifier: Resource] = [:]
            for r in added { recheck[ObjectIdentifier(r)] = r }
            for key in changedKeys {
                checkDuplicates(key)
                if existed[key] != exists(key) { for r in referrers[key] ?? [] { recheck[ObjectIdentifier(r)] = r } }
            }
            for r in recheck.values { checkReferences(r) }
            for match in Set((removed + added).compactMap(\.matchKey)) { checkMatches(match) }
            if (removed + added).contains(where: { $0.kind == .keyring }) { checkKeyrings() }
            result = assemble()
            return result
        }

        private func rebuild(_ next: [Resource], rejected nextRejected: [(key: ResourceKey, origin: Origin)]) -> Result {
            resources = next
            rejected = nextRejected
            built = true
            byKey = [:]
            byKey.reserveCapacity(next.count)
            referrers = [:]
            byMatch = [:]
            byMatch.reserveCapacity(next.count)
            keyrings = []
            duplicates = [:]
            dangling = [:]
            sameMatch = [:]
            secondKeyring = [:]
            rejectedByKey = [:]
            for (i, x) in nextRejected.enumerated() { rejectedByKey[x.key, default: []].append((i, x.origin)) }
            for r in next { index(r) }
            for key in Set(byKey.keys).union(rejectedByKey.keys) { checkDuplicates(key) }
            for r in next { checkReferences(r) }
            for (match, members) in byMatch where members.count > 1 { checkMatches(match) }
            checkKeyrings()
            result = assemble()
            return result
        }

        static func same(_ a: [(key: ResourceKey, origin: Origin)], _ b: [(key: ResourceKey, origin: Origin)]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.origin == $1.origin }
        }

        // MARK: Index

        private func index(_ r: Resource) {
            byKey[r.key, default: []].append(r)
            for target in Set(r.references.map(\.key)) { referrers[target, default: []].append(r) }
            if let match = r.matchKey { byMatch[match, default: []].append(r) }
            if r.kind == .keyring { keyrings.append(r) }
        }

        private func unindex(_ r: Resource) {
            func drop<K: Hashable>(_ dict: inout [K: [Resource]], _ key: K) {
                guard var list = dict[key], let i = list.firstIndex(where: { $0 === r }) else { return }
                list.remove(at: i)
                dict[key] = list.isEmpty ? nil : list
            }
            drop(&byKey, r.key)
            for target in Set(r.references.map(\.key)) { drop(&referrers, target) }
            if let match = r.matchKey { drop(&byMatch, match) }
            if r.kind == .keyring, let i = keyrings.firstIndex(where: { $0 === r }) { keyrings.remove(at: i) }
            // Another copy of the same object still listed keeps its findings (its matches and Keyring
            // group are checked again anyway).
            if byKey[r.key]?.contains(where: { $0 === r }) == true { return }
            let id = ObjectIdentifier(r)
            dangling[id] = nil
            sameMatch[id] = nil
            secondKeyring[id] = nil
        }

        /// A reference to a name that a valid or a rejected document holds is not dangling.
        private func exists(_ key: ResourceKey) -> Bool { byKey[key] != nil || rejectedByKey[key] != nil }

        private func position(_ r: Resource) -> Int {
            if positionCache == nil {
                var positions: [ObjectIdentifier: Int] = [:]
                positions.reserveCapacity(resources.count)
                // An object listed twice stands at its first place: that is where a single pass meets it first.
                for (i, x) in resources.enumerated() where positions[ObjectIdentifier(x)] == nil { positions[ObjectIdentifier(x)] = i }
                positionCache = positions
            }
            return positionCache?[ObjectIdentifier(r)] ?? Int.max
        }

        /// `members` in list order.
        private func inListOrder(_ members: [Resource]) -> [Resource] {
            members.count < 2 ? members : members.sorted { position($0) < position($1) }
        }

        // MARK: Checks

        /// A document that names a resource: a resource of the list, or the `at`th rejected one.
        enum Named {
            case resource(Resource)
            case rejected(at: Int, origin: Origin)

            var origin: Origin {
                switch self {
                case .resource(let r): return r.origin
                case .rejected(_, let origin): return origin
                }
            }
        }

        /// Where a document stands among all of them: resources in list order, then rejected ones.
        private func place(_ n: Named) -> Int {
            switch n {
            case .resource(let r): return position(r)
            case .rejected(let at, _): return resources.count + at
            }
        }

        /// Source order (file, line, column), ties in list order.
        private func sourceFirst(_ a: Named, _ b: Named) -> Bool {
            if Self.sourceLess(a.origin, b.origin) { return true }
            if Self.sourceLess(b.origin, a.origin) { return false }
            return place(a) < place(b)
        }

        /// The first document of a name (source order) is the one; each later one is reported and ignored.
        private func checkDuplicates(_ key: ResourceKey) {
            let named = (byKey[key] ?? []).map(Named.resource) + (rejectedByKey[key] ?? []).map { Named.rejected(at: $0.at, origin: $0.origin) }
            guard named.count > 1 else {
                duplicates[key] = nil
                return
            }
            let ordered = named.sorted(by: sourceFirst)
            let first = ordered[0].origin
            duplicates[key] = ordered.dropFirst().map { n in
                (n, Diagnostic(file: n.origin.file, mark: n.origin.mark, resource: key.description, path: "metadata.name",
                               message: "duplicate \(key.kind.rawValue) \(key.namespace)/\(key.name); first defined at \(first); this one is ignored"))
            }
        }

        static func sourceLess(_ a: Origin, _ b: Origin) -> Bool {
            (a.file, a.mark.line, a.mark.column) < (b.file, b.mark.line, b.mark.column)
        }

        private func checkReferences(_ r: Resource) {
            var found: [Diagnostic] = []
            for ref in r.references where !exists(ref.key) {
                found.append(Diagnostic(file: r.origin.file, mark: ref.mark, resource: r.key.description, path: ref.path,
                                        message: "\(ref.kind.rawValue) \(ref.target.namespace)/\(ref.target.name) does not exist"))
            }
            dangling[ObjectIdentifier(r)] = found.isEmpty ? nil : (r, found)
        }

        /// Of routes that match exactly the same requests, the first in list order serves.
        private func checkMatches(_ match: String) {
            let members = inListOrder(byMatch[match] ?? [])
            guard let first = members.first else { return }
            sameMatch[ObjectIdentifier(first)] = nil
            for r in members.dropFirst() { sameMatch[ObjectIdentifier(r)] = nil }
            for r in members.dropFirst() {
                sameMatch[ObjectIdentifier(r), default: (r, Diagnostic(
                    file: r.origin.file, mark: r.specNode?["paths"]?.mark ?? r.origin.mark, resource: r.key.description, path: "spec",
                    message: "matches exactly the same requests as \(first.key) (\(first.origin)); give one a different priority or condition"), 0)].times += 1
            }
        }

        /// One Keyring per gateway group: the first in list order.
        private func checkKeyrings() {
            secondKeyring = [:]
            var firstOfGroup: [String: Resource] = [:]
            for r in inListOrder(keyrings) {
                let group = r.metadata.gatewayGroup
                if let prev = firstOfGroup[group] {
                    secondKeyring[ObjectIdentifier(r), default: (r, Diagnostic(
                        file: r.origin.file, mark: r.origin.mark, resource: r.key.description, path: "",
                        message: "gateway group \"\(group)\" already has Keyring \(prev.key.namespace)/\(prev.key.name) (\(prev.origin)); one Keyring per group"), 0)].times += 1
                } else {
                    firstOfGroup[group] = r
                }
            }
        }

        /// The findings in the order a single pass makes them (duplicates in source order, then each
        /// resource's in list order), sorted by source position.
        private func assemble() -> Result {
            var out = Result()
            out.diagnostics = duplicates.values.joined().sorted { sourceFirst($0.document, $1.document) }.map(\.diagnostic)
            var flagged: [ObjectIdentifier: Resource] = [:]
            for (id, v) in dangling { flagged[id] = v.resource }
            for (id, v) in sameMatch { flagged[id] = v.resource }
            for (id, v) in secondKeyring { flagged[id] = v.resource }
            for r in inListOrder(Array(flagged.values)) {
                let id = ObjectIdentifier(r)
                // The same object listed twice (a last good version kept for two partitions) is checked twice, as by a single pass.
                let copies = byKey[r.key]?.reduce(0) { $1 === r ? $0 + 1 : $0 } ?? 1
                for _ in 0..<max(1, copies) { out.diagnostics += dangling[id]?.diagnostics ?? [] }
                if let m = sameMatch[id] { out.diagnostics += repeatElement(m.diagnostic, count: m.times) }
                if let k = secondKeyring[id] { out.diagnostics += repeatElement(k.diagnostic, count: k.times) }
                out.invalid.insert(r.key)
            }
            out.diagnostics.sort(by: Diagnostic.sourceOrder)
            return out
        }
    }
}

extension ResourceReference {
    /// The name this reference points at.
    public var key: ResourceKey { ResourceKey(kind, target.namespace, target.name) }
}

extension Array {
    subscript(safe i: Int) -> Element? { i >= 0 && i < count ? self[i] : nil }
}
