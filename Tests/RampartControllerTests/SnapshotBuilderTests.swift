import Foundation
import RampartGateway
import RampartModel
import XCTest
@testable import RampartController

final class SnapshotBuilderTests: XCTestCase {
    func state(_ yaml: String) -> DesiredState {
        let r = ManifestDecoder(dev: true).decode(file: "t.yaml", bytes: Array(yaml.utf8))
        XCTAssertEqual(r.diagnostics.filter { $0.severity == .error }.map(\.description), [])
        return DesiredState(generation: 3, origin: "test", resources: Dictionary(r.resources.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a }))
    }

    let docs = """
    apiVersion: rampart.io/v1alpha1
    kind: Upstream
    metadata: {name: web, namespace: shop}
    spec:
      nodes: [{host: 127.0.0.1, port: 9001, weight: 3}, {host: 127.0.0.1, port: 9002}]
      loadBalancer: {type: chash, hashOn: "header:x-user"}
      healthCheck: {active: {path: /health}, passive: {on: [500, connect-failure]}}
      timeout: {read: 2s}
    ---
    apiVersion: rampart.io/v1alpha1
    kind: Route
    metadata: {name: orders, namespace: shop}
    spec:
      hosts: ["*.example.com"]
      paths: ["/orders/*"]
      methods: [GET]
      headers: [{name: x-canary, value: "1"}]
      priority: 5
      upstreamRef: {name: web}
      plugins:
        ip-restriction: {allow: ["10.0.0.0/8"]}
        response-headers: {set: {x-served-by: rampart}}
    ---
    apiVersion: rampart.io/v1alpha1
    kind: Route
    metadata: {name: inline, namespace: shop}
    spec:
      paths: ["/inline"]
      upstream: {nodes: [{host: 127.0.0.1, port: 9003}]}
    ---
    apiVersion: rampart.io/v1alpha1
    kind: Route
    metadata: {name: guarded, namespace: shop}
    spec:
      paths: ["/guarded"]
      upstreamRef: {name: web}
      plugins: {key-auth: {keys: [{value: k1}]}}
    """

    func testCompilesRoutesUpstreamsAndPlugins() throws {
        let out = SnapshotBuilder.build(state(docs))
        let s = out.snapshot
        XCTAssertEqual(s.generation, 3)
        let web = try XCTUnwrap(s.upstreams["shop/web"])
        XCTAssertEqual(web.nodes, [UpstreamNode(host: "127.0.0.1", port: 9001, weight: 3), UpstreamNode(host: "127.0.0.1", port: 9002, weight: 1)])
        XCTAssertEqual(web.loadBalancer, .chash(hashOn: .header("x-user")))
        XCTAssertEqual(web.timeout.readMs, 2000)
        XCTAssertEqual(web.healthCheck?.active?.path, "/health")
        XCTAssertEqual(web.healthCheck?.passive?.statuses, [500])
        XCTAssertEqual(web.healthCheck?.passive?.onConnectFailure, true)
        XCTAssertEqual(web.healthCheck?.passive?.onTimeout, false)
        let orders = try XCTUnwrap(s.routes.first { $0.id == "shop/orders" })
        XCTAssertEqual(orders.hosts, ["*.example.com"])
        XCTAssertEqual(orders.upstream, "shop/web")
        XCTAssertEqual(orders.priority, 5)
        XCTAssertEqual(orders.headers, [HeaderPair(name: "x-canary", value: "1")])
        XCTAssertEqual(orders.plugins.count, 2)
        let inline = try XCTUnwrap(s.routes.first { $0.id == "shop/inline" })
        XCTAssertEqual(s.upstreams[inline.upstream]?.nodes.first?.port, 9003)
    }

    func testRouteWithUnenforcedAuthIsNotServed() {
        let out = SnapshotBuilder.build(state(docs))
        XCTAssertNil(out.snapshot.routes.first { $0.id == "shop/guarded" }, "fail closed")
        XCTAssertTrue(out.notServed[ResourceKey(.route, "shop", "guarded")]?.contains("key-auth") ?? false)
    }
}
