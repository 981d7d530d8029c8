import Foundation
import RampartGateway
import RampartCrypto
import RampartModel
import Synchronization
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

    func testAuthRouteIsServedWithDigestsOnly() throws {
        let out = SnapshotBuilder.build(state(docs))
        let guarded = try XCTUnwrap(out.snapshot.routes.first { $0.id == "shop/guarded" })
        XCTAssertNil(out.notServed[ResourceKey(.route, "shop", "guarded")])
        guard case .keyAuth(let ka) = guarded.plugins.first else { return XCTFail("key-auth first: \(guarded.plugins)") }
        XCTAssertEqual(ka.header, "apikey")
        XCTAssertEqual(ka.keyDigests, [KeyAuthConfig.digest(Array("k1".utf8))])
    }

    let secured = """
    apiVersion: rampart.io/v1alpha1
    kind: Route
    metadata: {name: secured, namespace: shop}
    spec:
      paths: ["/s"]
      upstream: {nodes: [{host: 127.0.0.1, port: 9003}]}
      plugins:
        key-auth: {header: x-key, keys: [{secretRef: {name: api-keys, key: first}}, {value: second-key}]}
        basic-auth: {users: [{username: alice, password: {value: "alice pw"}}]}
        limit-count: {count: 10, window: 2s, key: consumer, policy: redis,
                      redis: {host: 127.0.0.1, port: 6390, password: {secretRef: {name: redis}}, database: 3}, failOpen: false}
    """

    func testSensitiveValuesResolvedThroughTheHook() throws {
        let seen = Mutex<[String]>([])
        let resolve: SnapshotBuilder.Resolve = { value, key, path in
            seen.withLock { $0.append("\(key.namespace)/\(key.name) \(path)") }
            if let ref = value.secretRef { return Array("from-\(ref.name)".utf8) }
            return try SnapshotBuilder.inlineOnly(value, key, path)
        }
        let out = SnapshotBuilder.build(state(secured), resolve: resolve)
        XCTAssertEqual(out.notServed, [:])
        let r = try XCTUnwrap(out.snapshot.routes.first { $0.id == "shop/secured" })
        XCTAssertEqual(Set(seen.withLock { $0 }), [
            "shop/secured spec.plugins.key-auth.keys[0]", "shop/secured spec.plugins.key-auth.keys[1]",
            "shop/secured spec.plugins.basic-auth.users[0].password", "shop/secured spec.plugins.limit-count.redis.password",
        ])
        var sawKey = false, sawBasic = false, sawLimit = false
        for p in r.plugins {
            switch p {
            case .keyAuth(let k):
                sawKey = true
                XCTAssertEqual(k.header, "x-key")
                XCTAssertEqual(k.keyDigests, [KeyAuthConfig.digest(Array("from-api-keys".utf8)), KeyAuthConfig.digest(Array("second-key".utf8))])
            case .basicAuth(let users):
                sawBasic = true
                XCTAssertEqual(users.map(\.username), ["alice"])
                XCTAssertTrue(PasswordHash.verify(password: "alice pw", against: users[0].passwordHash))
            case .limitCount(let l):
                sawLimit = true
                XCTAssertEqual(l.count, 10)
                XCTAssertEqual(l.windowMs, 2000)
                XCTAssertEqual(l.key, .consumer)
                XCTAssertFalse(l.failOpen)
                XCTAssertEqual(l.redis?.port, 6390)
                XCTAssertEqual(l.redis?.database, 3)
                XCTAssertEqual(l.redis?.password?.bytes, Array("from-redis".utf8))
            default:
                break
            }
        }
        XCTAssertTrue(sawKey && sawBasic && sawLimit)
        let text = "\(out.snapshot)"
        for secret in ["from-api-keys", "second-key", "alice pw", "from-redis"] {
            XCTAssertFalse(text.contains(secret), "\(secret) in the snapshot's description")
        }
        // A rebuild reuses the basic-auth hash (PBKDF2 once per credential and process).
        let again = SnapshotBuilder.build(state(secured), resolve: resolve)
        func hashOf(_ o: SnapshotBuilder.Output) -> String? {
            for p in o.snapshot.routes.first?.plugins ?? [] { if case .basicAuth(let u) = p { return u.first?.passwordHash } }
            return nil
        }
        XCTAssertNotNil(hashOf(out))
        XCTAssertEqual(hashOf(out), hashOf(again))
    }

    func testUnresolvableSecretFailsClosed() throws {
        // inlineOnly cannot read SecretRefs: the route must not be served, and the reason says why.
        let out = SnapshotBuilder.build(state(secured))
        let kept = try XCTUnwrap(out.snapshot.routes.first { $0.id == "shop/secured" }, "kept in place, not dropped")
        XCTAssertEqual(kept.notServed, .secretUnavailable)
        XCTAssertEqual(kept.paths, ["/s"])
        XCTAssertTrue(kept.plugins.isEmpty, "nothing of the route's policy half-applied")
        XCTAssertEqual(kept.upstream, "")
        let why = out.notServed[ResourceKey(.route, "shop", "secured")] ?? ""
        XCTAssertTrue(why.contains("key-auth"), why)
        XCTAssertTrue(why.contains("spec.plugins.key-auth.keys[0]"), why)
        XCTAssertFalse(why.contains("second-key"))
        // A resolver that throws for one value only (the redis password) also keeps the route out.
        let partial: SnapshotBuilder.Resolve = { value, key, path in
            if path.contains("redis") { throw SnapshotBuilder.Unresolved(description: "\(key) \(path): unavailable") }
            if value.secretRef != nil { return Array("x".utf8) }
            return try SnapshotBuilder.inlineOnly(value, key, path)
        }
        let out2 = SnapshotBuilder.build(state(secured), resolve: partial)
        XCTAssertEqual(out2.snapshot.routes.map(\.notServed), [.secretUnavailable])
        XCTAssertTrue(out2.notServed[ResourceKey(.route, "shop", "secured")]?.contains("limit-count") ?? false)
    }

    func testNotServedRouteKeepsItsMatchKeysOnly() throws {
        let out = SnapshotBuilder.build(state("""
        apiVersion: rampart.io/v1alpha1
        kind: Upstream
        metadata: {name: discovered, namespace: shop}
        spec: {service: {name: orders, port: 8080}}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: Route
        metadata: {name: orders, namespace: shop}
        spec:
          hosts: ["api.example.com"]
          paths: ["/orders/*"]
          methods: [GET]
          headers: [{name: x-canary, value: "1"}]
          priority: 7
          upstreamRef: {name: discovered}
          plugins: {key-auth: {keys: [{value: k1}]}}
        """))
        let r = try XCTUnwrap(out.snapshot.routes.first)
        XCTAssertEqual(r.notServed, .upstreamNotServed)
        XCTAssertEqual(r.hosts, ["api.example.com"])
        XCTAssertEqual(r.paths, ["/orders/*"])
        XCTAssertEqual(r.methods, ["GET"])
        XCTAssertEqual(r.headers, [HeaderPair(name: "x-canary", value: "1")])
        XCTAssertEqual(r.priority, 7)
        XCTAssertTrue(r.plugins.isEmpty)
        XCTAssertEqual(out.notServed[ResourceKey(.route, "shop", "orders")], "Upstream shop/discovered is not served")
    }

    func testRedisTLSIsNotServed() {
        let out = SnapshotBuilder.build(state("""
        apiVersion: rampart.io/v1alpha1
        kind: Route
        metadata: {name: tls, namespace: shop}
        spec:
          paths: ["/t"]
          upstream: {nodes: [{host: 127.0.0.1, port: 9003}]}
          plugins:
            limit-count: {count: 1, window: 1s, policy: redis, redis: {host: 127.0.0.1, tls: true}}
        """))
        XCTAssertEqual(out.snapshot.routes.map(\.notServed), [.pluginInvalid], "a plugin this build cannot enforce")
        XCTAssertTrue(out.snapshot.upstreams.isEmpty, "its inline upstream is not built")
        XCTAssertTrue(out.notServed[ResourceKey(.route, "shop", "tls")]?.contains("tls") ?? false)
    }
}
