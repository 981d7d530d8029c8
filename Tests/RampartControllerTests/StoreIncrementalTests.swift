import RampartModel
import RampartSources
import TestSupport
import XCTest
@testable import RampartController

/// The store keeps its listing laid out between snapshots (an upsert of a held partition replaces one
/// element) and records last good resources as the walked entries plus what the other partitions
/// gave: at every step of random events, both must equal what a table rebuilt from scratch holds.
final class StoreIncrementalTests: XCTestCase {
    let decoder = ManifestDecoder(dev: true)

    func partition(_ id: String, revision: Int, broken: Bool) -> SourcePartition {
        let yaml = broken ? "kind: [unclosed" :
            "apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: u-\(id.replacingOccurrences(of: "/", with: "-"))-\(revision)}\nspec: {nodes: [{host: 127.0.0.1, port: 9001}]}\n"
        return SourcePartition(id: id, revision: "\(revision)", decoded: decoder.decode(file: id, bytes: Array(yaml.utf8)))
    }

    func testRandomEventsGiveTheListingAndLastGoodOfATableRebuiltEachTime() {
        var rng = SplitMix(seed: 7)
        let store = Store()
        let sources = ["a", "b"]
        var order: [String: [String]] = [:]
        var current: [String: [String: SourcePartition]] = [:]
        var lastGood: [String: [Resource]] = [:]
        var revision = 0
        var sawPlain = false, sawBroken = false
        var spoken: [String] = []  // the store lists sources in the order they first said something
        for step in 0..<400 {
            let source = sources[rng.below(2)]
            revision += 1
            let action = rng.below(10)
            if action < 8 && !spoken.contains(source) { spoken.append(source) }
            switch action {
            case 0..<5:
                let id = "p\(rng.below(12))"
                let p = partition(id, revision: revision, broken: rng.below(4) == 0)
                if current[source]?[id] == nil { order[source, default: []].append(id) }
                current[source, default: [:]][id] = p
                store.apply(source: source, [.upsert(p)])
            case 5, 6:
                let id = "p\(rng.below(12))"
                if current[source]?.removeValue(forKey: id) != nil {
                    order[source]?.removeAll { $0 == id }
                    lastGood[id] = nil
                }
                store.apply(source: source, [.delete(id: id)])
            case 7:
                let ids = (0..<12).map { "p\($0)" }.filter { _ in rng.below(2) == 0 }.shuffled(using: &rng)
                let ps = ids.map { partition($0, revision: revision, broken: rng.below(5) == 0) }
                for id in (current[source] ?? [:]).keys where !ids.contains(id) { lastGood[id] = nil }
                order[source] = ids
                current[source] = Dictionary(ps.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
                store.apply(source: source, [.replaceAll(ps)])
            default:
                // A reconcile: what each walked partition gave is recorded (a broken one gives something else).
                let snap = store.snapshot()
                var given: [String: [Resource]] = [:]
                var model: [String: [Resource]] = [:]
                for e in snap.entries {
                    if e.isPlain {
                        sawPlain = true
                        model[e.partition.id] = e.partition.decoded.resources
                    } else {
                        sawBroken = true
                        let kept = snap.lastGood[e.partition.id] ?? []
                        given[e.partition.id] = kept
                        model[e.partition.id] = kept
                    }
                }
                store.setLastGood(walked: snap.entries, given: given)
                lastGood = model
            }
            let snap = store.snapshot()
            let expected = spoken.flatMap { s in (order[s] ?? []).compactMap { id in current[s]?[id].map { "\(s) \(id) \($0.revision)" } } }
            XCTAssertEqual(snap.entries.map { "\($0.source) \($0.partition.id) \($0.partition.revision)" }, expected, "step \(step)")
            for id in (0..<12).map({ "p\($0)" }) {
                XCTAssertEqual(snap.lastGood[id].map { $0.map { ObjectIdentifier($0) } }, lastGood[id].map { $0.map { ObjectIdentifier($0) } },
                               "step \(step): last good of \(id)")
            }
        }
        XCTAssertTrue(sawPlain && sawBroken)
    }

    /// Digests are kept on the objects (`Resource.digestMemo`), so the reconciler looks none up: a
    /// relisted partition's new objects take the digests made for the same revision, a new revision's
    /// objects get their own, and each equals a digest made from scratch.
    func testObjectsCarryTheirDigests() throws {
        let store = Store()
        let fresh = { (p: SourcePartition) -> String in
            let again = self.partition(p.id, revision: Int(p.revision) ?? 0, broken: false)
            return DesiredState.digest(try XCTUnwrap(again.decoded.resources.first))  // a new object: computed, not remembered
        }
        let first = partition("x", revision: 1, broken: false)
        store.apply(source: "s", [.replaceAll([first])])
        let made = try XCTUnwrap(first.decoded.resources.first?.digestMemo.withLock { $0 })
        XCTAssertEqual(made, try fresh(first))
        let relisted = partition("x", revision: 1, broken: false)
        XCTAssertNil(relisted.decoded.resources.first?.digestMemo.withLock { $0 })
        XCTAssertFalse(store.apply(source: "s", [.replaceAll([relisted])]), "the same revision is no change")
        XCTAssertEqual(relisted.decoded.resources.first?.digestMemo.withLock { $0 }, made)
        let changed = partition("x", revision: 2, broken: false)
        store.apply(source: "s", [.upsert(changed)])
        let next = try XCTUnwrap(changed.decoded.resources.first?.digestMemo.withLock { $0 })
        XCTAssertNotEqual(next, made)
        XCTAssertEqual(next, try fresh(changed))
        XCTAssertEqual(store.snapshot().entries.first?.digests.values.first, next)
    }
}
