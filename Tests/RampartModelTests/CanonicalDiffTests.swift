import Foundation
import XCTest
@testable import RampartModel
import RampartYAML

final class CanonicalDiffTests: XCTestCase {
    func resources(_ yaml: String) -> [Resource] {
        ManifestDecoder(dev: true).decode(file: "t.yaml", bytes: Array(yaml.utf8)).resources
    }

    let base = """
    apiVersion: rampart.io/v1alpha1
    kind: ContactPoint
    metadata: {name: ops, namespace: shop}
    spec:
      url: https://hooks.example/a
      type: webhook
      hmacSecret: {value: first-secret}
    """

    /// Lines end at each LF byte, so every line of a diff carries its sign, a CR or a non-ASCII text included;
    /// YAML's document markers are not lines of the resource.
    func testLinesSplitAtEveryLineFeed() {
        XCTAssertEqual(StateDiff.lines("a\r\nb: \"é\"\n---\nc\n...\n\n"), ["a\r", "b: \"é\"", "c"])
        XCTAssertEqual(StateDiff.lines(""), [])
        XCTAssertEqual(StateDiff.lines("\n\nx"), ["", "", "x"])
        XCTAssertEqual(UnifiedDiff.hunks([], StateDiff.lines("a\r\nb\n")), "@@ -0,0 +1,2 @@\n+a\r\n+b\n")
    }

    func testCanonicalSortsFillsDefaultsAndMasks() throws {
        let r = try XCTUnwrap(resources(base).first)
        let text = Canonical.yaml(r)
        XCTAssertFalse(text.contains("first-secret"))
        XCTAssertTrue(text.contains("hmacSecret: '***'") || text.contains("hmacSecret: \"***\""), text)
        XCTAssertTrue(text.contains("timeout: 5s"), "default filled: \(text)")
        let keys = text.split(separator: "\n").filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") }.map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(keys.filter { $0.hasPrefix("hmacSecret") || $0.hasPrefix("timeout") || $0.hasPrefix("type") || $0.hasPrefix("url") }.count, 4)
        // Canonical form is stable under reordering of the source.
        let reordered = try XCTUnwrap(resources(base.replacingOccurrences(of: "  url: https://hooks.example/a\n  type: webhook", with: "  type: webhook\n  url: https://hooks.example/a")).first)
        XCTAssertEqual(Canonical.yaml(reordered), text)
    }

    func testDiffMasksChangedSecretsAsBeforeAfter() {
        let old = resources(base)
        let new = resources(base.replacingOccurrences(of: "first-secret", with: "second-secret").replacingOccurrences(of: "hooks.example/a", with: "hooks.example/b"))
        let changes = StateDiff.changes(from: old, to: new, oldLabel: "serving, generation 7", newLabel: "proposed")
        XCTAssertEqual(changes.count, 1)
        let diff = changes[0].diff
        XCTAssertTrue(diff.hasPrefix("--- ContactPoint shop/ops (serving, generation 7)\n+++ ContactPoint shop/ops (proposed)\n"), diff)
        XCTAssertTrue(diff.contains("*** (before)") && diff.contains("*** (after)"), diff)
        XCTAssertTrue(diff.contains("-  url: https://hooks.example/a") && diff.contains("+  url: https://hooks.example/b"), diff)
        XCTAssertFalse(diff.contains("first-secret") || diff.contains("second-secret"))
        XCTAssertEqual(changes[0].changedSecrets, ["spec.hmacSecret"])
    }

    func testNoChangeNoDiffAndAddRemove() {
        XCTAssertTrue(StateDiff.changes(from: resources(base), to: resources(base), oldLabel: "a", newLabel: "b").isEmpty)
        let added = StateDiff.changes(from: [], to: resources(base), oldLabel: "a", newLabel: "b")
        XCTAssertEqual(added.map(\.action), [.added])
        XCTAssertTrue(added[0].diff.contains("+kind: ContactPoint"))
        XCTAssertEqual(StateDiff.changes(from: resources(base), to: [], oldLabel: "a", newLabel: "b").map(\.action), [.removed])
    }

    func testUnifiedDiffHunks() {
        let a = (1...20).map { "line \($0)" }
        var b = a
        b[9] = "changed"
        let d = UnifiedDiff.hunks(a, b)
        XCTAssertEqual(d, "@@ -7,7 +7,7 @@\n line 7\n line 8\n line 9\n-line 10\n+changed\n line 11\n line 12\n line 13\n")
    }

    func testCRDsMatchCommittedManifests() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let committed = try String(contentsOf: repo.appendingPathComponent("manifests/crds/rampart.io_crds.yaml"), encoding: .utf8)
        XCTAssertEqual(CRDGenerator.yaml(), committed, "manifests/crds is stale: run `make crds`")
    }

    func testCRDShape() throws {
        let docs = try Parser().parse(CRDGenerator.yaml())
        XCTAssertEqual(docs.count, 7)
        let route = try XCTUnwrap(docs.first)
        XCTAssertEqual(route["metadata"]?["name"]?.scalar?.text, "routes.rampart.io")
        let version = try XCTUnwrap(route["spec"]?["versions"]?.sequence?.first)
        XCTAssertNotNil(version["subresources"]?["status"])
        let spec = try XCTUnwrap(version["schema"]?["openAPIV3Schema"]?["properties"]?["spec"])
        XCTAssertEqual(spec["required"]?.sequence?.compactMap { $0.scalar?.text }, ["paths"])
        XCTAssertEqual(spec["properties"]?["priority"]?["default"]?.resolved, .int(0))
        XCTAssertEqual(route["spec"]?["names"]?["shortNames"]?.sequence?.first?.scalar?.text, "rt")
        XCTAssertEqual(version["additionalPrinterColumns"]?.sequence?.map { $0["name"]?.scalar?.text ?? "" }, ["Hosts", "Paths", "Upstream", "Ready", "Age"])
        let port = docs[1]["spec"]?["versions"]?.sequence?.first?["schema"]?["openAPIV3Schema"]?["properties"]?["spec"]?["properties"]?["nodes"]?["items"]?["properties"]?["port"]
        XCTAssertEqual(port?["maximum"]?.resolved, .int(65535))
    }
}
