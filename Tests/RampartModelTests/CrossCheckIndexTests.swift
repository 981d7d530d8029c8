import RampartYAML
import TestSupport
import XCTest
@testable import RampartModel

/// The incremental cross-check index (`CrossCheck.Index`) against the single pass it replaced: after
/// any sequence of changes it must report exactly what a check of the whole list from scratch reports.
final class CrossCheckIndexTests: XCTestCase {
    func decode(_ file: String, _ yaml: String) -> [Resource] {
        let r = ManifestDecoder(dev: true).decode(file: file, bytes: Array(yaml.utf8))
        XCTAssertEqual(r.diagnostics.filter { $0.severity == .error }.map(\.description), [], yaml)
        return r.resources
    }

    func upstream(_ name: String, file: String = "up.yaml", line: Int = 0) -> Resource {
        decode(file, String(repeating: "\n", count: line)
            + "apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: \(name)}\nspec: {nodes: [{host: 10.0.0.1, port: 80}]}\n")[0]
    }

    func route(_ name: String, path: String, upstream: String, file: String = "routes.yaml", line: Int = 0) -> Resource {
        // Blank lines move the document, so resources of one file have distinct source positions.
        decode(file, String(repeating: "\n", count: line)
            + "apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: \(name)}\nspec: {paths: [\"\(path)\"], upstreamRef: {name: \(upstream)}}\n")[0]
    }

    func keyring(_ name: String, file: String = "keys.yaml", line: Int = 0) -> Resource {
        decode(file, String(repeating: "\n", count: line) + "apiVersion: rampart.io/v1alpha1\nkind: Keyring\nmetadata: {name: \(name)}\nspec: {keys: [{id: a, material: {secretRef: {name: km}}}]}\n")[0]
    }

    func lines(_ r: CrossCheck.Result) -> [String] { r.diagnostics.map(\.description) }

    func testDependentsOfADeletedUpstreamAreFoundAndFreedWhenItReturns() {
        let web = upstream("web")
        let a = route("a", path: "/a", upstream: "web", line: 0)
        let b = route("b", path: "/b", upstream: "web", line: 10)
        let c = route("c", path: "/c", upstream: "other", line: 20)
        let index = CrossCheck.Index()
        let first = index.run([web, a, b, c])
        XCTAssertEqual(first.invalid, [c.key])
        XCTAssertEqual(lines(first).count, 1)
        XCTAssertTrue(lines(first)[0].contains("Upstream default/other does not exist"), "\(lines(first))")

        // The Upstream goes away: a and b, which did not change, now reference nothing.
        let gone = index.run([a, b, c])
        XCTAssertEqual(gone.invalid, [a.key, b.key, c.key])
        XCTAssertEqual(lines(gone).filter { $0.contains("Upstream default/web does not exist") }.count, 2, "\(lines(gone))")
        XCTAssertEqual(lines(gone), lines(CrossCheck.run([a, b, c])))
        XCTAssertEqual(lines(gone), lines(Self.reference([a, b, c])))

        // A new Upstream object of that name frees them again.
        let back = index.run([upstream("web"), a, b, c])
        XCTAssertEqual(back.invalid, [c.key])
        XCTAssertEqual(lines(back), lines(first))
    }

    func testAnUnchangedListIsTheLastResultAndAChangedMatchMovesTheWinner() {
        let web = upstream("web")
        let a = route("a", path: "/x", upstream: "web", line: 0)
        let b = route("b", path: "/x", upstream: "web", line: 10)
        let index = CrossCheck.Index()
        XCTAssertEqual(index.run([web, a, b]).invalid, [b.key], "the later of two identical matches is refused")
        XCTAssertEqual(index.run([web, a, b]).invalid, [b.key])
        let a2 = route("a", path: "/y", upstream: "web", line: 0)
        XCTAssertEqual(index.run([web, a2, b]).invalid, [], "once a matches elsewhere, b serves")
        XCTAssertEqual(index.run([web, b, a]).invalid, [a.key], "list order decides which one serves")
        XCTAssertEqual(lines(index.run([web, b, a])), lines(Self.reference([web, b, a])))
    }

    func testRejectedDocumentsStillCountAsNamesAndAsDuplicates() {
        let a = route("a", path: "/a", upstream: "web", line: 0)
        let rejected = [(key: ResourceKey(.upstream, "default", "web"), origin: Origin(file: "bad.yaml", mark: Mark(line: 1, column: 1)))]
        let index = CrossCheck.Index()
        XCTAssertEqual(index.run([a], rejected: rejected).invalid, [], "a reference to a rejected document is not dangling")
        let dup = upstream("web", file: "up.yaml")
        let both = index.run([a, dup], rejected: rejected)
        XCTAssertEqual(lines(both), lines(Self.reference([a, dup], rejected: rejected)))
        XCTAssertTrue(lines(both).contains { $0.contains("duplicate Upstream default/web") }, "\(lines(both))")
        XCTAssertEqual(index.run([a], rejected: []).invalid, [a.key], "without it the reference dangles")
    }

    /// Random edits (replace, insert, delete, move, the same object twice, a rejected document) to a list with
    /// duplicates, identical matches, two Keyrings and dangling references; after each, the index must
    /// agree with the single pass over the whole list.
    func testRandomEditsAgreeWithTheWholeListCheck() {
        var rng = SplitMix(seed: 12)
        let files = ["a.yaml", "b.yaml", "c.yaml"]
        // Each new document at a place of its own (as in real files): findings of two documents never
        // tie on file, line, column and field, so their order is the single pass's order.
        var nextLine = 0
        func randomResource() -> Resource {
            let file = files[rng.below(files.count)]
            nextLine += 5
            switch rng.below(10) {
            case 0, 1: return upstream("u\(rng.below(4))", file: file, line: nextLine)
            case 2: return keyring("k\(rng.below(2))", file: file, line: nextLine)
            default:
                return route("r\(rng.below(12))", path: "/p\(rng.below(6))", upstream: "u\(rng.below(5))", file: file, line: nextLine)
            }
        }
        var list = (0..<20).map { _ in randomResource() }
        var rejected: [(key: ResourceKey, origin: Origin)] = []
        let index = CrossCheck.Index()
        for step in 0..<400 {
            switch rng.below(7) {
            case 0 where !list.isEmpty: list[rng.below(list.count)] = randomResource()
            case 1: list.insert(randomResource(), at: rng.below(list.count + 1))
            case 2 where !list.isEmpty: list.remove(at: rng.below(list.count))
            case 3 where list.count > 2:
                let moved = list.remove(at: rng.below(list.count))
                list.insert(moved, at: rng.below(list.count + 1))
            case 5 where !list.isEmpty:
                // The same object twice (a last good version kept for two partitions).
                list.insert(list[rng.below(list.count)], at: rng.below(list.count + 1))
            case 4 where rng.below(4) == 0:
                rejected = rng.below(2) == 0 ? [] : [(ResourceKey(.upstream, "default", "u\(rng.below(5))"),
                                                       Origin(file: files[rng.below(3)], mark: Mark(line: nextLine + 3, column: 1)))]
            default: break
            }
            let got = index.run(list, rejected: rejected)
            let want = Self.reference(list, rejected: rejected)
            XCTAssertEqual(lines(got), lines(want), "step \(step)")
            XCTAssertEqual(got.invalid, want.invalid, "step \(step)")
            if lines(got) != lines(want) { return }
        }
    }

    /// The single pass over every resource that `CrossCheck` made before it kept an index: the oracle.
    static func reference(_ resources: [Resource], rejected: [(key: ResourceKey, origin: Origin)] = []) -> CrossCheck.Result {
        var r = CrossCheck.Result()
        var first: [ResourceKey: Resource] = [:]
        var seen: [ResourceKey: Origin] = [:]
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
