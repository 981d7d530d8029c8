import XCTest
@testable import RampartModel

/// The LCS-table diff Rampart used before Myers, kept here only as the reference the new one is checked against.
enum LCSReference {
    static func script(_ a: [String], _ b: [String]) -> [UnifiedDiff.Op] {
        let n = a.count, m = b.count
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: n + 1)
        if n > 0 && m > 0 {
            for i in stride(from: n - 1, through: 0, by: -1) {
                for j in stride(from: m - 1, through: 0, by: -1) {
                    lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
                }
            }
        }
        var ops: [UnifiedDiff.Op] = []
        var i = 0, j = 0
        while i < n || j < m {
            if i < n, j < m, a[i] == b[j] { ops.append(.same(a[i])); i += 1; j += 1 }
            else if j < m, i == n || lcs[i][j + 1] >= lcs[i + 1][j] { ops.append(.add(b[j])); j += 1 }
            else { ops.append(.del(a[i])); i += 1 }
        }
        return ops
    }
}

final class MyersDiffTests: XCTestCase {
    func changeCount(_ ops: [UnifiedDiff.Op]) -> Int {
        ops.filter { if case .same = $0 { return false }; return true }.count
    }

    /// What the script says a and b were: every kept and deleted line in order, every kept and added line in order.
    func sides(_ ops: [UnifiedDiff.Op]) -> ([String], [String]) {
        var a: [String] = [], b: [String] = []
        for op in ops {
            switch op {
            case .same(let l): a.append(l); b.append(l)
            case .del(let l): a.append(l)
            case .add(let l): b.append(l)
            }
        }
        return (a, b)
    }

    func lines(_ s: String) -> [String] { s.isEmpty ? [] : s.map(String.init) }

    func testSameHunksAsTheLCSDiffOnATableOfCases() {
        let cases: [(String, String)] = [
            ("", ""), ("", "abc"), ("abc", ""), ("abc", "abc"), ("abc", "abd"), ("abc", "xbc"), ("abcdef", "abxdef"),
            ("abcdef", "acdef"), ("abcdefghijklmnop", "abcdefgXhijklmnopY"), ("abcabba", "cbabac"),
            ("abcdefghij", "jihgfedcba"), ("aaaa", "aaaaa"), ("ab", "ba"), ("abcdefghijklmnopqrstuvwxyz", "abcdefghijKlmnopqrstuvwxyz"),
            ("abcdefghijklmnopqrstuvwxyz", "abcXefghijklmnopqrstuvwYyz"), ("abcdefghijklmnopqrstuvwxyz", "ABCdefghijklmnopqrstuvwxyz"),
            ("0123456789abcdefghij", "0123456789"), ("0123456789", "0123456789abcdefghij"), ("x", "y"),
        ]
        for (left, right) in cases {
            let a = lines(left), b = lines(right)
            for context in [0, 1, 3] {
                XCTAssertEqual(UnifiedDiff.hunks(a, b, context: context),
                               UnifiedDiff.hunks(a, b, context: context, script: LCSReference.script),
                               "\(left) -> \(right), context \(context)")
            }
        }
    }

    /// Random line lists over a tiny alphabet (many repeats, many equally short scripts): the very
    /// script of the LCS table, and the bisection (the fallback past the trace budget) rebuilds both
    /// sides with as few changes.
    func testRandomListsGiveTheLCSScriptAndTheFallbackIsAsShort() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            let a = (0..<Int.random(in: 0...14, using: &rng)).map { _ in ["a", "b", "c"].randomElement(using: &rng) ?? "a" }
            let b = (0..<Int.random(in: 0...14, using: &rng)).map { _ in ["a", "b", "c"].randomElement(using: &rng) ?? "a" }
            let reference = LCSReference.script(a, b)
            XCTAssertEqual(MyersDiff.script(a, b), reference, "\(a) -> \(b)")
            let bisected = MyersDiff(a, b).bisectedScript()
            let (rebuiltA, rebuiltB) = sides(bisected)
            XCTAssertEqual(rebuiltA, a)
            XCTAssertEqual(rebuiltB, b)
            XCTAssertEqual(changeCount(bisected), changeCount(reference), "\(a) -> \(b)")
        }
    }

    func testTraceBudgetFallsBackToTheBisection() {
        let a = (0..<50).map { "a\($0)" }, b = (0..<50).map { "b\($0)" }
        XCTAssertNil(MyersDiff(a, b).lcsOrderScript(maxTrace: 100))
        XCTAssertNotNil(MyersDiff(a, b).lcsOrderScript(maxTrace: 100_000))
        XCTAssertEqual(changeCount(MyersDiff(a, b).bisectedScript()), 100)
    }

    func upstream(_ nodes: [(String, Int)]) -> String {
        var s = "apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: big, namespace: shop}\nspec:\n  nodes:\n"
        for (host, port) in nodes { s += "  - {host: \(host), port: \(port)}\n" }
        return s
    }

    /// An edit to a 3,000-node Upstream (one node's port changed, one node added): one change, two
    /// hunks, exactly the changed lines (the LCS table needed ~650 MB here).
    func testThreeThousandNodeUpstreamEdit() throws {
        let before = (0..<3000).map { ("10.\($0 / 250).\($0 % 250).1", 8000 + $0 % 7) }
        var after = before
        after[1500].1 = 9999
        after.append(("10.99.0.1", 8080))
        let decoder = ManifestDecoder(dev: true)
        let old = decoder.decode(file: "a.yaml", bytes: Array(upstream(before).utf8))
        let new = decoder.decode(file: "b.yaml", bytes: Array(upstream(after).utf8))
        XCTAssertTrue(old.diagnostics.isEmpty, "\(old.diagnostics)")
        let changes = StateDiff.changes(from: old.resources, to: new.resources, oldLabel: "before", newLabel: "after")
        XCTAssertEqual(changes.count, 1)
        let diff = try XCTUnwrap(changes.first).diff
        let changed = diff.split(separator: "\n").filter { ($0.hasPrefix("-") || $0.hasPrefix("+")) && !$0.hasPrefix("---") && !$0.hasPrefix("+++") }
        XCTAssertEqual(changed, ["-    port: \(before[1500].1)", "+    port: 9999", "+  - host: 10.99.0.1", "+    port: 8080", "+    weight: 1"])
        XCTAssertEqual(diff.split(separator: "\n").filter { $0.hasPrefix("@@ ") }.count, 2, "two hunks:\n\(diff)")
        // The whole canonical text of both sides is rebuilt from the script.
        let textA = StateDiff.lines(Canonical.yaml(try XCTUnwrap(old.resources.first)))
        let textB = StateDiff.lines(Canonical.yaml(try XCTUnwrap(new.resources.first)))
        let (rebuiltA, rebuiltB) = sides(UnifiedDiff.script(textA, textB))
        XCTAssertEqual(rebuiltA, textA)
        XCTAssertEqual(rebuiltB, textB)
    }
}
