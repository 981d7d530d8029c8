import RampartYAML

/// Checks that need every resource at once: duplicates, dangling references, one Keyring per group, identical routes.
public enum CrossCheck {
    public struct Result: Sendable {
        public var diagnostics: [Diagnostic] = []
        /// Resources that must not be served because of a cross-resource error.
        public var invalid: Set<ResourceKey> = []
    }

    /// `alsoExisting`: keys of resources that exist but were rejected on their own (references to them are not dangling).
    /// `rejected`: documents that name a resource but failed their own checks; references to them are
    /// not dangling, and a valid resource with the same name is still a duplicate.
    public static func run(_ resources: [Resource], rejected: [(key: ResourceKey, origin: Origin)] = []) -> Result {
        var r = Result()
        var first: [ResourceKey: Resource] = [:]
        var seen: [ResourceKey: Origin] = [:]
        // Source order, compared on integers: the file's rank, then line and column.
        let files = Set(resources.map(\.origin.file)).union(rejected.map(\.origin.file)).sorted()
        let rank = Dictionary(uniqueKeysWithValues: files.enumerated().map { ($1, $0) })
        var named = resources.map { (key: $0.key, origin: $0.origin) } + rejected.map { (key: $0.key, origin: $0.origin) }
        named.sort { a, b in
            let fa = rank[a.origin.file] ?? 0, fb = rank[b.origin.file] ?? 0
            return (fa, a.origin.mark.line, a.origin.mark.column) < (fb, b.origin.mark.line, b.origin.mark.column)
        }
        for n in named {
            if let prev = seen[n.key] {
                r.diagnostics.append(Diagnostic(file: n.origin.file, mark: n.origin.mark, resource: n.key.description, path: "metadata.name",
                                                message: "duplicate \(n.key.kind.rawValue) \(n.key.namespace)/\(n.key.name); first defined at \(prev); this one is ignored"))
            } else {
                seen[n.key] = n.origin
            }
        }
        for res in resources where first[res.key] == nil && seen[res.key] == res.origin { first[res.key] = res }
        var exists = Set(first.keys)
        for x in rejected { exists.insert(x.key) }
        var keyrings: [String: Resource] = [:]
        var routeMatches: [String: Resource] = [:]
        for res in resources {
            for ref in res.references where !exists.contains(ResourceKey(ref.kind, ref.target.namespace, ref.target.name)) {
                r.diagnostics.append(Diagnostic(file: res.origin.file, mark: ref.mark, resource: res.key.description, path: ref.path,
                                                message: "\(ref.kind.rawValue) \(ref.target.namespace)/\(ref.target.name) does not exist"))
                r.invalid.insert(res.key)
            }
            if let sig = res.matchKey {
                if let prev = routeMatches[sig] {
                    r.diagnostics.append(Diagnostic(file: res.origin.file, mark: res.specNode?["paths"]?.mark ?? res.origin.mark, resource: res.key.description,
                                                    path: "spec", message: "matches exactly the same requests as \(prev.key) (\(prev.origin)); give one a different priority or condition"))
                    r.invalid.insert(res.key)
                } else {
                    routeMatches[sig] = res
                }
            }
            if res.kind == .keyring {
                let group = res.metadata.gatewayGroup
                if let prev = keyrings[group] {
                    r.diagnostics.append(Diagnostic(file: res.origin.file, mark: res.origin.mark, resource: res.key.description, path: "",
                                                    message: "gateway group \"\(group)\" already has Keyring \(prev.key.namespace)/\(prev.key.name) (\(prev.origin)); one Keyring per group"))
                    r.invalid.insert(res.key)
                } else {
                    keyrings[group] = res
                }
            }
        }
        r.diagnostics.sort(by: Diagnostic.sourceOrder)
        return r
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { i >= 0 && i < count ? self[i] : nil }
}
