import RampartModel
import TestSupport
import XCTest
@testable import RampartController

/// A desired state made from the one before it (`base:`) updates its hash, key order and changed keys
/// from what differs; it must equal the state made from scratch from the same resources.
final class DesiredStateIncrementalTests: XCTestCase {
    func route(_ name: String, _ path: String, namespace: String = "default") -> Resource {
        let yaml = "apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: \(name), namespace: \(namespace)}\nspec: {paths: [\"\(path)\"], upstreamRef: {name: web}}\n"
        return ManifestDecoder(dev: true).decode(file: "r.yaml", bytes: Array(yaml.utf8)).resources[0]
    }

    func assertSame(_ a: DesiredState, _ b: DesiredState, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.hash, b.hash, message, file: file, line: line)
        XCTAssertEqual(a.digests, b.digests, message, file: file, line: line)
        XCTAssertEqual(a.sorted.map(\.key), b.sorted.map(\.key), message, file: file, line: line)
        XCTAssertTrue(zip(a.sorted, b.sorted).allSatisfy { $0 === $1 }, "the same resource objects: \(message)", file: file, line: line)
    }

    func testRandomUpsertsAndDeletesGiveTheFromScratchState() {
        var rng = SplitMix(seed: 7)
        var resources: [ResourceKey: Resource] = [:]
        var previous = DesiredState.empty
        let values = SensitiveValues(master: nil, lookup: nil)
        var cache = StateFile.EncodeCache()
        for step in 0..<300 {
            // A few edits per step: new content, the same content in a new object (a re-read file), a delete.
            for _ in 0..<(1 + rng.below(4)) {
                let name = "r\(rng.below(40))", namespace = ["default", "shop"][rng.below(2)]
                switch rng.below(4) {
                case 0, 1: let r = route(name, "/p\(rng.below(5))", namespace: namespace); resources[r.key] = r
                case 2: resources[ResourceKey(.route, namespace, name)] = nil
                default:
                    if let old = resources.values.randomElement(using: &rng) {
                        resources[old.key] = route(old.key.name, old.route?.paths.first ?? "/", namespace: old.key.namespace)
                    }
                }
            }
            // Sometimes a big change: more edits than the key order is patched for.
            if step % 50 == 49 { for i in 0..<80 { let r = route("bulk\(i)", "/b\(step)"); resources[r.key] = r } }
            let next = DesiredState(generation: previous.generation + 1, origin: "test", resources: resources, base: previous)
            let fresh = DesiredState(generation: previous.generation + 1, origin: "test", resources: resources)
            assertSame(next, fresh, "step \(step)")
            let expected = Set(previous.digests.keys).union(fresh.digests.keys).filter { previous.digests[$0] != fresh.digests[$0] }.sorted()
            XCTAssertEqual(next.changedKeys(since: previous), expected, "step \(step)")
            XCTAssertEqual(fresh.changedKeys(since: previous), expected, "step \(step)")
            // state.json written from last time's encodings is the one written from scratch.
            let written = StateFile.encode(next, values: values, keyring: nil, previous: [:], migrate: false, cache: &cache)
            XCTAssertEqual(written.bytes, StateFile.encode(next, values: values, keyring: nil).bytes, "step \(step)")
            XCTAssertEqual(cache.entries.map(\.resource.key), next.sorted.map(\.key), "step \(step)")
            previous = next
        }
    }

    func testResolvedValuesAndHeldRoutesAreInTheHash() throws {
        let a = route("a", "/a")
        let base = DesiredState(generation: 1, origin: "test", resources: [a.key: a])
        let same = DesiredState(generation: 2, origin: "test", resources: [a.key: a], base: base)
        XCTAssertEqual(same.hash, base.hash, "the generation number is not content")
        let v1 = [a.key: ["spec.x": ResolvedValue(digest: "d1", version: nil)]]
        let v2 = [a.key: ["spec.x": ResolvedValue(digest: "d1", version: "2")]]
        XCTAssertNotEqual(same.resolving(v1).hash, same.hash)
        XCTAssertNotEqual(same.resolving(v1).hash, same.resolving(v2).hash, "a new version is a new generation")
        XCTAssertEqual(same.resolving(v1).hash, base.resolving(v1).hash)
        XCTAssertEqual(same.resolving(v1).changedKeys(since: base), [a.key])
        let held = try XCTUnwrap(route("held", "/admin/*").route?.matchOnly)
        let withHeld = DesiredState(generation: 2, origin: "test", resources: [a.key: a], heldClosed: [ResourceKey(.route, "default", "held"): held],
                                    base: base)
        XCTAssertNotEqual(withHeld.hash, base.hash)
        let b = route("b", "/b")
        let removed = DesiredState(generation: 3, origin: "test", resources: [b.key: b], base: base)
        XCTAssertEqual(removed.changedKeys(since: base), [a.key, b.key])
        XCTAssertEqual(DesiredState(generation: 4, origin: "test", resources: [a.key: a], base: removed).hash, base.hash,
                       "back to the same content, back to the same hash")
        XCTAssertNotEqual(DesiredState(generation: 5, origin: "test", resources: [:], base: base).hash, base.hash)
        XCTAssertEqual(DesiredState(generation: 5, origin: "test", resources: [:], base: base).hash, DesiredState.empty.hash)
    }

    func testSumOfEntriesIsOrderFreeAndUndoesExactly() {
        var rng = SplitMix(seed: 3)
        let entries = (0..<200).map { i in StateSum.resource(ResourceKey(.route, "default", "r\(i)"), digest: "d\(i)") }
        var forward = StateSum(), shuffled = StateSum()
        for e in entries { forward.add(e) }
        for e in entries.shuffled(using: &rng) { shuffled.add(e) }
        XCTAssertEqual(forward, shuffled)
        for e in entries.prefix(150) { shuffled.subtract(e) }
        var rest = StateSum()
        for e in entries.dropFirst(150) { rest.add(e) }
        XCTAssertEqual(shuffled, rest, "removing entries leaves the sum of the others, carries and borrows included")
        XCTAssertNotEqual(StateSum().hash, rest.hash)
    }
}
