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

    /// Lines split at each LF byte (as `diff` does), without YAML's document markers. A byte scan, not a
    /// split by Character: grapheme breaking was most of the cost of 10,000 added resources' audit diffs.
    static func lines(_ s: String) -> [String] {
        if s.isEmpty { return [] }
        var out = s.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).compactMap { line -> String? in
            let text = String(decoding: line, as: UTF8.self)
            return text == "---" || text == "..." ? nil : text
        }
        while out.last?.isEmpty == true { out.removeLast() }
        return out
    }
}

/// Line-based unified diff of two line lists (a shortest edit script, see `MyersDiff`).
public enum UnifiedDiff {
    enum Op: Equatable { case same(String), del(String), add(String) }

    public static func hunks(_ a: [String], _ b: [String], context: Int = 3) -> String {
        // One side empty (a resource added or removed: every resource at a first start): one hunk of
        // every line, with no edit script to find.
        if a.isEmpty || b.isEmpty {
            if a.isEmpty && b.isEmpty { return "" }
            var out = a.isEmpty ? "@@ -0,0 +1,\(b.count) @@\n" : "@@ -1,\(a.count) +0,0 @@\n"
            let sign = a.isEmpty ? "+" : "-"
            for line in a.isEmpty ? b : a {
                out += sign
                out += line
                out += "\n"
            }
            return out
        }
        return hunks(a, b, context: context, script: MyersDiff.script)
    }

    /// The hunks of the edit script `script` makes (tests pass a reference algorithm).
    static func hunks(_ a: [String], _ b: [String], context: Int, script: ([String], [String]) -> [Op]) -> String {
        let ops = deletionsFirst(script(a, b))
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

    static func script(_ a: [String], _ b: [String]) -> [Op] { deletionsFirst(MyersDiff.script(a, b)) }

    static func deletionsFirst(_ script: [Op]) -> [Op] {
        var ops = script
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

/// A shortest edit script between two line lists by Myers' O((N+M)·D) algorithm: memory grows with
/// the number of changed lines D, not with the resource's square (a one-node edit to a 3,000-node,
/// 9,000-line Upstream needs kilobytes where the LCS table needed ~650 MB). Up to ~2,000 changed lines it
/// reproduces the LCS table's script exactly; past that, the linear-space bisection (Myers 1986, 4b).
struct MyersDiff {
    /// Lines as small integers: equal lines, equal numbers (compares without touching the strings).
    private let a: [Int32], b: [Int32]
    private let linesA: [String], linesB: [String]

    init(_ a: [String], _ b: [String]) {
        var ids: [String: Int32] = [:]
        func id(_ line: String) -> Int32 {
            if let known = ids[line] { return known }
            let next = Int32(truncatingIfNeeded: ids.count)
            ids[line] = next
            return next
        }
        self.a = a.map(id)
        self.b = b.map(id)
        linesA = a
        linesB = b
    }

    /// A region still to compare, or a run of trailing equal lines to emit once the region before it is done.
    private enum Work { case compare(Range<Int>, Range<Int>), same(Range<Int>) }

    /// Past this many stored trace entries (4 bytes each), the bisection takes over.
    static let maxTraceEntries = 4_000_000

    static func script(_ a: [String], _ b: [String]) -> [UnifiedDiff.Op] {
        let diff = MyersDiff(a, b)
        return diff.lcsOrderScript(maxTrace: maxTraceEntries) ?? diff.bisectedScript()
    }

    /// The very script the LCS table gave (a match first, else an addition when one lies on a
    /// shortest path, else a deletion), or nil when its trace would pass `maxTrace` entries.
    ///
    /// A backward Myers search records, for every edit count d, how far from the end each diagonal
    /// gets within d edits; walking forward, that answers "is the addition on a shortest path?" in
    /// O(1). Memory is O(D²) for D changed lines, bounded by `maxTrace`.
    func lcsOrderScript(maxTrace: Int) -> [UnifiedDiff.Op]? {
        let n = a.count, m = b.count
        // trace[d][k + d]: the furthest x on diagonal k = x - y of the reversed lists reached within d edits (-1: none).
        var trace: [[Int32]] = []
        var stored = 0
        var distance = 0
        search: while true {
            let d = trace.count
            stored += 2 * d + 1
            if stored > maxTrace { return nil }
            var level = [Int32](repeating: -1, count: 2 * d + 1)
            for k in stride(from: -d, through: d, by: 2) where k >= -m && k <= n {
                var x = -1
                if d == 0 { x = 0 }
                if d >= 1, k - 1 >= -(d - 1), trace[d - 1][k - 1 + d - 1] >= 0 { x = max(x, Int(trace[d - 1][k - 1 + d - 1]) + 1) }
                if d >= 1, k + 1 <= d - 1, trace[d - 1][k + 1 + d - 1] >= 0 { x = max(x, Int(trace[d - 1][k + 1 + d - 1])) }
                if d >= 2, abs(k) <= d - 2 { x = max(x, Int(trace[d - 2][k + d - 2])) }
                if x < 0 { continue }
                // A move past the edge stands for the last point of the diagonal, which is as close
                // (dropping one line costs one edit).
                x = min(x, n, m + k)
                var y = x - k
                while x < n, y < m, a[n - 1 - x] == b[m - 1 - y] { x += 1; y += 1 }
                level[k + d] = Int32(truncatingIfNeeded: x)
                if k == n - m, x == n { distance = d; trace.append(level); break search }
            }
            trace.append(level)
        }
        /// Whether the end is within `d` edits of (i, j), from the trace (the set of such points on
        /// a diagonal is a prefix of it in reversed coordinates, and its parity is the diagonal's).
        func withinReach(_ i: Int, _ j: Int, _ d: Int) -> Bool {
            let x = n - i, y = m - j, k = x - y
            let level = (d - k) & 1 == 0 ? d : d - 1
            guard level >= 0, abs(k) <= level else { return false }
            return x <= Int(trace[level][k + level])
        }
        var ops: [UnifiedDiff.Op] = []
        ops.reserveCapacity(max(n, m) + distance)
        var i = 0, j = 0, remaining = distance
        while i < n || j < m {
            if i < n, j < m, a[i] == b[j] {
                ops.append(.same(linesA[i])); i += 1; j += 1
                continue
            }
            if j < m, i == n || withinReach(i, j + 1, remaining - 1) {
                ops.append(.add(linesB[j])); j += 1
            } else {
                ops.append(.del(linesA[i])); i += 1
            }
            remaining -= 1
        }
        return ops
    }

    /// A shortest script in O(N+M) memory whatever the number of changes (its choice among equally
    /// short scripts may differ from the LCS table's).
    func bisectedScript() -> [UnifiedDiff.Op] {
        var ops: [UnifiedDiff.Op] = []
        ops.reserveCapacity(max(a.count, b.count))
        // An explicit stack instead of recursion: regions are done left to right, depth stays bounded.
        var stack: [Work] = [.compare(0..<a.count, 0..<b.count)]
        while let work = stack.popLast() {
            switch work {
            case .same(let rangeA):
                for i in rangeA { ops.append(.same(linesA[i])) }
            case .compare(var rangeA, var rangeB):
                while let i = rangeA.first, let j = rangeB.first, a[i] == b[j] {
                    ops.append(.same(linesA[i]))
                    rangeA = rangeA.dropFirst()
                    rangeB = rangeB.dropFirst()
                }
                var suffix = 0
                while suffix < rangeA.count, suffix < rangeB.count, a[rangeA.upperBound - 1 - suffix] == b[rangeB.upperBound - 1 - suffix] {
                    suffix += 1
                }
                let trailing = (rangeA.upperBound - suffix)..<rangeA.upperBound
                rangeA = rangeA.lowerBound..<(rangeA.upperBound - suffix)
                rangeB = rangeB.lowerBound..<(rangeB.upperBound - suffix)
                if rangeA.isEmpty || rangeB.isEmpty {
                    for i in rangeA { ops.append(.del(linesA[i])) }
                    for j in rangeB { ops.append(.add(linesB[j])) }
                    for i in trailing { ops.append(.same(linesA[i])) }
                    continue
                }
                stack.append(.same(trailing))
                // A split at either corner would not shrink the work; it cannot happen, but never loop on it.
                if let (x, y) = middle(rangeA, rangeB), (x, y) != (rangeA.lowerBound, rangeB.lowerBound),
                   (x, y) != (rangeA.upperBound, rangeB.upperBound) {
                    stack.append(.compare(x..<rangeA.upperBound, y..<rangeB.upperBound))
                    stack.append(.compare(rangeA.lowerBound..<x, rangeB.lowerBound..<y))
                } else {
                    for i in rangeA { ops.append(.del(linesA[i])) }
                    for j in rangeB { ops.append(.add(linesB[j])) }
                }
            }
        }
        return ops
    }

    /// A point (x, y) on a shortest edit path of the two non-empty regions where the forward and
    /// the backward search meet; both halves are smaller than the whole, so the work terminates.
    private func middle(_ rangeA: Range<Int>, _ rangeB: Range<Int>) -> (Int, Int)? {
        let n = rangeA.count, m = rangeB.count
        let offA = rangeA.lowerBound, offB = rangeB.lowerBound
        let maxD = (n + m + 1) / 2
        let offset = maxD + 1
        let width = 2 * maxD + 3
        // forward[k]: furthest x on diagonal k from the start; backward[k]: from the end (reversed coordinates).
        var forward = [Int](repeating: -1, count: width), backward = [Int](repeating: -1, count: width)
        forward[offset + 1] = 0
        backward[offset + 1] = 0
        let delta = n - m
        let oddDelta = delta % 2 != 0
        var k1Start = 0, k1End = 0, k2Start = 0, k2End = 0
        for d in 0..<maxD {
            for k1 in stride(from: -d + k1Start, through: d - k1End, by: 2) {
                let i1 = offset + k1
                var x1 = (k1 == -d || (k1 != d && forward[i1 - 1] < forward[i1 + 1])) ? forward[i1 + 1] : forward[i1 - 1] + 1
                var y1 = x1 - k1
                while x1 < n, y1 < m, a[offA + x1] == b[offB + y1] { x1 += 1; y1 += 1 }
                forward[i1] = x1
                if x1 > n { k1End += 2 }
                else if y1 > m { k1Start += 2 }
                else if oddDelta {
                    let i2 = offset + delta - k1
                    if i2 >= 0, i2 < width, backward[i2] != -1, x1 >= n - backward[i2] { return (offA + x1, offB + y1) }
                }
            }
            for k2 in stride(from: -d + k2Start, through: d - k2End, by: 2) {
                let i2 = offset + k2
                var x2 = (k2 == -d || (k2 != d && backward[i2 - 1] < backward[i2 + 1])) ? backward[i2 + 1] : backward[i2 - 1] + 1
                var y2 = x2 - k2
                while x2 < n, y2 < m, a[offA + n - x2 - 1] == b[offB + m - y2 - 1] { x2 += 1; y2 += 1 }
                backward[i2] = x2
                if x2 > n { k2End += 2 }
                else if y2 > m { k2Start += 2 }
                else if !oddDelta {
                    let i1 = offset + delta - k2
                    if i1 >= 0, i1 < width, forward[i1] != -1 {
                        let x1 = forward[i1], y1 = offset + x1 - i1
                        if x1 >= n - x2 { return (offA + x1, offB + y1) }
                    }
                }
            }
        }
        return nil
    }
}
