import RampartYAML

/// A per-resource change between two desired states, with a unified diff of canonical YAML.
public struct ResourceChange: Sendable {
    public enum Action: String, Sendable { case added, removed, changed }

    public var key: ResourceKey
    public var action: Action
    /// Unified diff text, sensitive values masked (`*** (before)` / `*** (after)` when one changed).
    public var diff: String
    /// Field paths of sensitive values that changed (never their values).
    public var changedSecrets: [String]
}

/// Computes changes between two sets of resources.
public enum StateDiff {
    /// `oldLabel`/`newLabel` name the sides in headers: `serving, generation 7` / `proposed`.
    public static func changes(from old: [Resource], to new: [Resource], oldLabel: String, newLabel: String, context: Int = 3) -> [ResourceChange] {
        let before = Dictionary(old.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(new.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        var textA: [ResourceKey: String] = [:], textB: [ResourceKey: String] = [:]
        var secrets: [ResourceKey: [String]] = [:]
        for key in Set(before.keys).union(after.keys) {
            let a = before[key], b = after[key]
            var renderA = Canonical.masked, renderB = Canonical.masked
            if let a, let b {
                let fa = Canonical.sensitiveFingerprints(a), fb = Canonical.sensitiveFingerprints(b)
                let changed = Set(fa.keys).union(fb.keys).filter { fa[$0] != fb[$0] && fa[$0] != nil && fb[$0] != nil }
                secrets[key] = changed.sorted()
                renderA = { path, _ in .string(changed.contains(path) ? "*** (before)" : Sensitive.mask) }
                renderB = { path, _ in .string(changed.contains(path) ? "*** (after)" : Sensitive.mask) }
            }
            textA[key] = a.map { Canonical.yaml($0, sensitive: renderA) }
            textB[key] = b.map { Canonical.yaml($0, sensitive: renderB) }
        }
        return changes(from: textA, to: textB, oldLabel: oldLabel, newLabel: newLabel, changedSecrets: secrets, context: context)
    }

    /// Changes between two sets of canonical YAML texts (e.g. a running instance's masked config and local files).
    public static func changes(from old: [ResourceKey: String], to new: [ResourceKey: String], oldLabel: String, newLabel: String,
                               changedSecrets: [ResourceKey: [String]] = [:], context: Int = 3) -> [ResourceChange] {
        var out: [ResourceChange] = []
        for key in Set(old.keys).union(new.keys).sorted() {
            let ta = old[key], tb = new[key]
            if ta == tb { continue }
            let header = "--- \(key) (\(ta == nil ? "absent" : oldLabel))\n+++ \(key) (\(tb == nil ? "absent" : newLabel))\n"
            let action: ResourceChange.Action = ta == nil ? .added : (tb == nil ? .removed : .changed)
            out.append(ResourceChange(key: key, action: action,
                                      diff: header + UnifiedDiff.hunks(lines(ta ?? ""), lines(tb ?? ""), context: context),
                                      changedSecrets: changedSecrets[key] ?? []))
        }
        return out
    }

    static func lines(_ s: String) -> [String] {
        s.isEmpty ? [] : s.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { $0 != "---" && $0 != "..." }
            .reversed().drop(while: { $0.isEmpty }).reversed()
    }
}

/// Line-based unified diff (LCS); resources are small, so O(n·m) is fine.
public enum UnifiedDiff {
    enum Op: Equatable { case same(String), del(String), add(String) }

    public static func hunks(_ a: [String], _ b: [String], context: Int = 3) -> String {
        let ops = script(a, b)
        var out = ""
        var i = 0
        // Positions (1-based line numbers) of each op in a and b.
        var posA = [Int](), posB = [Int]()
        var la = 1, lb = 1
        for op in ops {
            posA.append(la)
            posB.append(lb)
            switch op {
            case .same: la += 1; lb += 1
            case .del: la += 1
            case .add: lb += 1
            }
        }
        while i < ops.count {
            guard let firstChange = ops[i...].firstIndex(where: { if case .same = $0 { return false }; return true }) else { break }
            let start = max(i, firstChange - context)
            var end = firstChange
            var lastChange = firstChange
            while end < ops.count {
                if case .same = ops[end] {
                    if end - lastChange > context * 2 { break }
                } else {
                    lastChange = end
                }
                end += 1
            }
            let stop = min(ops.count, lastChange + context + 1)
            let slice = ops[start..<stop]
            let countA = slice.filter { if case .add = $0 { return false }; return true }.count
            let countB = slice.filter { if case .del = $0 { return false }; return true }.count
            let startA = countA == 0 ? posA[start] - 1 : posA[start]
            let startB = countB == 0 ? posB[start] - 1 : posB[start]
            out += "@@ -\(startA),\(countA) +\(startB),\(countB) @@\n"
            for op in slice {
                switch op {
                case .same(let l): out += " \(l)\n"
                case .del(let l): out += "-\(l)\n"
                case .add(let l): out += "+\(l)\n"
                }
            }
            i = stop
        }
        return out
    }

    static func script(_ a: [String], _ b: [String]) -> [Op] {
        let n = a.count, m = b.count
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: n + 1)
        if n > 0 && m > 0 {
            for i in stride(from: n - 1, through: 0, by: -1) {
                for j in stride(from: m - 1, through: 0, by: -1) {
                    lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
                }
            }
        }
        var ops: [Op] = []
        var i = 0, j = 0
        while i < n || j < m {
            if i < n, j < m, a[i] == b[j] { ops.append(.same(a[i])); i += 1; j += 1 }
            else if j < m, i == n || lcs[i][j + 1] >= lcs[i + 1][j] { ops.append(.add(b[j])); j += 1 }
            else { ops.append(.del(a[i])); i += 1 }
        }
        // Put deletions before additions within a run of changes, as diff(1) does.
        var k = 0
        while k < ops.count {
            if case .same = ops[k] { k += 1; continue }
            var e = k
            while e < ops.count { if case .same = ops[e] { break }; e += 1 }
            let run = ops[k..<e]
            let dels = run.filter { if case .del = $0 { return true }; return false }
            let adds = run.filter { if case .add = $0 { return true }; return false }
            ops.replaceSubrange(k..<e, with: dels + adds)
            k = e
        }
        return ops
    }
}
