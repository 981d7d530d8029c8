import Foundation
import RampartModel
import RampartSources
import Synchronization
import TestSupport
import XCTest
@testable import RampartController

/// The store between sources and the reconciler, and the reconciler fed by a source that pushes
/// single objects (the shape of the Kubernetes source): upsert, invalid update, delete, silence.
final class StoreTests: XCTestCase {
    /// A source that pushes what the test tells it to, as an API watch would.
    final class PushSource: Source {
        let name = "push"
        var origin: String { "push" }
        let sink = Mutex<(@Sendable ([SourceEvent]) -> Void)?>(nil)
        func start(sink: @escaping @Sendable ([SourceEvent]) -> Void) throws { self.sink.withLock { $0 = sink } }
        func resync(full: Bool) {}
        func stop() {}
        func push(_ events: [SourceEvent]) { sink.withLock { $0 }?(events) }
    }

    let decoder = ManifestDecoder(dev: true)

    func object(_ id: String, revision: String, _ yaml: String) -> SourcePartition {
        SourcePartition(id: id, revision: revision, decoded: decoder.decode(file: "push:" + id, bytes: Array(yaml.utf8)))
    }

    let upstream = "apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: web}\nspec: {nodes: [{host: 127.0.0.1, port: 9001}]}\n"
    func route(_ path: String) -> String {
        "apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: hello}\nspec: {paths: [\"\(path)\"], upstreamRef: {name: web}}\n"
    }

    func testIdenticalListingIsNoChangeAndDigestsAreReused() {
        let store = Store()
        let a = object("a", revision: "1", upstream)
        XCTAssertTrue(store.apply(source: "s", [.replaceAll([a])]))
        XCTAssertFalse(store.apply(source: "s", [.replaceAll([a])]), "the same revisions: nothing changed")
        let digest = store.snapshot().entries[0].digests
        XCTAssertEqual(digest.count, 1)
        XCTAssertTrue(store.apply(source: "s", [.replaceAll([object("a", revision: "2", upstream)])]), "a new revision is a change")
        XCTAssertEqual(store.snapshot().entries[0].digests, digest, "the same content has the same digest")
        XCTAssertTrue(store.apply(source: "s", [.failed(Diagnostic(file: "x", mark: .init(line: 1, column: 1), resource: nil, path: "", message: "gone"))]))
        XCTAssertEqual(store.snapshot().entries.count, 1, "a failing source keeps what it gave")
        XCTAssertEqual(store.snapshot().failures.count, 1)
        XCTAssertTrue(store.apply(source: "s", [.delete(id: "a")]))
        XCTAssertTrue(store.snapshot().entries.isEmpty)
        XCTAssertFalse(store.apply(source: "s", [.delete(id: "a")]), "deleting what is gone is no change")
    }

    func testReconcilerServesWhatAPushSourceSays() throws {
        let base = try TempDir.make("store")
        let sd = try StateDir(base + "/state")
        let applied = Mutex<[DesiredState]>([])
        let source = PushSource()
        let r = Reconciler(config: ControllerConfig(paths: [], dev: true), sources: [source], log: Log(level: .error), stateDir: sd,
                           audit: try AuditLog(dir: sd), metrics: ControlMetrics()) { state in
            applied.withLock { $0.append(state) }
            return [:]
        }
        try r.startSources()
        r.reconcileNow("before the source spoke")
        XCTAssertTrue(applied.withLock { $0.isEmpty }, "a source that has not listed is not read as empty")

        source.push([.replaceAll([object("upstreams/default/web", revision: "1", upstream), object("routes/default/hello", revision: "2", route("/a"))])])
        XCTAssertTrue(Poll.until { applied.withLock { $0.last?.resources.count } == 2 })
        let hello = ResourceKey(.route, "default", "hello")

        // An invalid update keeps the last good version serving, and says so.
        source.push([.upsert(object("routes/default/hello", revision: "3", route("no-slash")))])
        XCTAssertTrue(Poll.until { r.store.status(hello)?.conditions.last?.reason == "ServingLastGood" })
        XCTAssertEqual(applied.withLock { $0.last?.resources[hello]?.route?.paths }, ["/a"])
        XCTAssertEqual(r.store.status(hello)?.conditions.first?.status, false, "Accepted=False")

        source.push([.upsert(object("routes/default/hello", revision: "4", route("/b")))])
        XCTAssertTrue(Poll.until { applied.withLock { $0.last?.resources[hello]?.route?.paths } == ["/b"] })

        source.push([.delete(id: "routes/default/hello")])
        XCTAssertTrue(Poll.until { applied.withLock { $0.last?.resources[hello] } == nil })
        XCTAssertEqual(applied.withLock { $0.last?.resources.count }, 1)
        let audit = try String(contentsOfFile: base + "/state/audit.log", encoding: .utf8)
        XCTAssertTrue(audit.contains("\"actor\":\"push\""), "the source is the audit log's actor")
    }

    func testDirectorySourceReadsOnlyChangedFiles() throws {
        let dir = try TempDir.make("dirsource")
        try upstream.write(toFile: dir + "/up.yaml", atomically: true, encoding: .utf8)
        try route("/a").write(toFile: dir + "/route.yaml", atomically: true, encoding: .utf8)
        let source = DirectorySource(paths: [dir], decoder: decoder, watches: false)
        guard case .replaceAll(let first) = source.scanNow() else { return XCTFail("a listing") }
        XCTAssertEqual(first.map(\.id), [dir + "/route.yaml", dir + "/up.yaml"])
        try route("/b").write(toFile: dir + "/route.yaml", atomically: true, encoding: .utf8)
        guard case .replaceAll(let second) = source.scanNow() else { return XCTFail("a listing") }
        XCTAssertNotEqual(second[0].revision, first[0].revision)
        XCTAssertEqual(second[0].decoded.resources.first?.route?.paths, ["/b"])
        XCTAssertEqual(second[1].revision, first[1].revision, "an unchanged file keeps its revision (not read again)")
        try FileManager.default.removeItem(atPath: dir)
        guard case .failed(let why) = source.scanNow() else { return XCTFail("a missing path is a failure, not an empty listing") }
        XCTAssertTrue(why.message.contains("keeping the serving config"))
    }
}
