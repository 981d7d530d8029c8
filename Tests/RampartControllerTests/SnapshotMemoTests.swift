import RampartGateway
import RampartModel
import XCTest
@testable import RampartController

/// Successive builds share the routes of unchanged resources (`SnapshotBuilder.RouteMemo`) without
/// serving anything a build from scratch would not: an Upstream that goes away still takes its Routes
/// out of service, and a Route with access plugins is built again each time (its secrets may rotate).
final class SnapshotMemoTests: XCTestCase {
    func decode(_ yaml: String) -> [ResourceKey: Resource] {
        let r = ManifestDecoder(dev: true).decode(file: "t.yaml", bytes: Array(yaml.utf8))
        XCTAssertEqual(r.diagnostics.filter { $0.severity == .error }.map(\.description), [])
        return Dictionary(r.resources.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
    }

    let upstream = "apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: web}\nspec: {nodes: [{host: 127.0.0.1, port: 9001}]}\n"
    let routes = """
    apiVersion: rampart.io/v1alpha1
    kind: Route
    metadata: {name: open}
    spec: {paths: ["/open"], upstreamRef: {name: web}, plugins: {response-headers: {set: {x-a: "1"}}}}
    ---
    apiVersion: rampart.io/v1alpha1
    kind: Route
    metadata: {name: guarded}
    spec: {paths: ["/guarded"], upstreamRef: {name: web}, plugins: {key-auth: {keys: [{value: k1}]}}}
    """

    func summary(_ out: SnapshotBuilder.Output) -> [String] {
        out.snapshot.routes.map { "\($0.id) \($0.paths) up=\($0.upstream) plugins=\($0.plugins.count) notServed=\($0.notServed?.rawValue ?? "-")" }
            + out.notServed.keys.sorted().map { "not served: \($0)" }
    }

    func testMemoizedBuildsEqualFreshOnesAndAMissingUpstreamStillTakesRoutesOut() {
        let memo = SnapshotBuilder.RouteMemo()
        let r = decode(routes)
        let withUpstream = DesiredState(generation: 1, origin: "test", resources: r.merging(decode(upstream)) { a, _ in a })
        let first = SnapshotBuilder.build(withUpstream, memo: memo)
        XCTAssertEqual(memo.made.withLock { $0.count }, 1, "only the Route without access plugins is kept")
        let again = SnapshotBuilder.build(withUpstream, memo: memo)
        XCTAssertEqual(summary(again), summary(first))
        XCTAssertEqual(summary(again), summary(SnapshotBuilder.build(withUpstream)))

        // The same Route objects, but the Upstream is gone: both are not served, as from scratch.
        let without = DesiredState(generation: 2, origin: "test", resources: r)
        let gone = SnapshotBuilder.build(without, memo: memo)
        XCTAssertEqual(summary(gone), summary(SnapshotBuilder.build(without)))
        XCTAssertEqual(gone.snapshot.routes.map(\.notServed), [.upstreamNotServed, .upstreamNotServed])

        // A changed Route (a new object) is built again.
        let edited = decode(routes.replacingOccurrences(of: "\"/open\"", with: "\"/opened\""))
        let next = DesiredState(generation: 3, origin: "test", resources: edited.merging(decode(upstream)) { a, _ in a })
        XCTAssertEqual(summary(SnapshotBuilder.build(next, memo: memo)), summary(SnapshotBuilder.build(next)))
        XCTAssertTrue(summary(SnapshotBuilder.build(next, memo: memo)).contains { $0.hasPrefix("default/open [\"/opened\"]") })
    }
}
