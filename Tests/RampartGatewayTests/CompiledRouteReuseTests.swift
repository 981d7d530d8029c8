import RampartModel
import TestSupport
import XCTest
@testable import RampartGateway

/// An apply keeps the compiled form of a route whose config is unchanged (plugins and their
/// credential digests included): what it serves must equal a build from scratch at every step, and a
/// rotated key, a changed limit or a changed redis password is compiled again.
final class CompiledRouteReuseTests: XCTestCase {
    let slots = MetricSlots()
    let keys: [[UInt8]] = [Array("key-one".utf8), Array("key-two".utf8), Array("key-three".utf8)]
    let hosts = ["a.test", "b.test", "*.example.com"]
    let paths = ["/", "/*", "/api", "/api/*", "/b"]

    func compile(_ routes: [RouteConfig], _ upstreams: [String: UpstreamConfig], previous: CompiledSnapshot? = nil,
                 slots: MetricSlots? = nil) -> CompiledSnapshot {
        CompiledSnapshot(GatewaySnapshot(generation: 1, routes: routes, upstreams: upstreams), registry: HealthRegistry(), loops: 2,
                         metricSlots: slots ?? self.slots, previous: previous)
    }

    func upstream(_ id: String, port: Int) -> UpstreamConfig {
        UpstreamConfig(id: id, nodes: [UpstreamNode(host: "127.0.0.1", port: port)])
    }

    func randomPlugins(_ rng: inout SplitMix) -> [PluginConfig] {
        switch rng.below(6) {
        case 0: return [.keyAuth(KeyAuthConfig(keys: [keys[rng.below(keys.count)]]))]
        case 1: return [.limitCount(LimitCountConfig(count: 1 + rng.below(3), windowMs: 60_000))]
        case 2: return [.limitCount(LimitCountConfig(count: 5, windowMs: 60_000, redis: RedisConfig(password: SecretValue(keys[rng.below(2)]))))]
        case 3: return [.ipRestriction(allow: [rng.below(2) == 0 ? "127.0.0.0/8" : "10.0.0.0/8"], deny: [])]
        // A plugin that does not compile: the route is kept as not served, and compiled again each time.
        case 4: return [.ipRestriction(allow: ["not-a-cidr"], deny: [])]
        default: return []
        }
    }

    func randomRoute(_ id: String, _ rng: inout SplitMix) -> RouteConfig {
        let notServed: NotServedReason? = rng.below(8) == 0 ? .secretUnavailable : nil
        return RouteConfig(id: id, hosts: (0..<rng.below(2)).map { _ in hosts[rng.below(hosts.count)] },
                           paths: [paths[rng.below(paths.count)]], priority: rng.below(2),
                           upstream: rng.below(4) == 0 ? "default/b" : "default/a", plugins: randomPlugins(&rng), notServed: notServed)
    }

    /// What a compiled route serves, as far as a request can tell.
    func served(_ s: CompiledSnapshot) -> [String] {
        s.routes.map { r in
            let p = r.plugins
            return [r.config.id, "\(r.config.paths)", "\(r.config.hosts)", "\(r.metricSlot)", "\(r.timeouts)",
                    r.upstream.map { "\($0.key) \($0.config.nodes)" } ?? "-", r.notServedBody.map { String(decoding: $0, as: UTF8.self) } ?? "served",
                    "\(p.keyAuth?.digests ?? [])", "\(p.limitCount.map { "\($0.limit) \($0.redis != nil)" } ?? "-")",
                    "\(p.ipRestriction != nil)", "\(p.basicAuth != nil)"].joined(separator: " | ")
        } + s.rejected.sorted { $0.key < $1.key }.map { "rejected \($0.key): \($0.value)" }
    }

    func routing(_ s: CompiledSnapshot) -> [String] {
        ["a.test", "b.test", "x.example.com", "other"].flatMap { h in
            ["/", "/x", "/api", "/api/1", "/b"].map { p in "\(h)\(p) -> \(s.lookup(host: h, path: p)?.config.id ?? "none")" }
        }
    }

    func testRandomEditsServeAsAFreshBuild() {
        var rng = SplitMix(seed: 12)
        var routes = (0..<40).map { randomRoute("r\($0)", &rng) }
        var upstreams = ["default/a": upstream("default/a", port: 1000), "default/b": upstream("default/b", port: 2000)]
        var current = compile(routes, upstreams)
        var reused = 0
        for step in 0..<300 {
            let before = routes
            let upstreamsBefore = upstreams
            switch rng.below(6) {
            case 0, 1:
                for _ in 0..<(1 + rng.below(3)) {
                    let i = rng.below(routes.count)
                    routes[i] = randomRoute(routes[i].id, &rng)
                }
            case 2:
                // A rotated credential, nothing else: the route must be compiled again.
                let i = rng.below(routes.count)
                routes[i].plugins = [.keyAuth(KeyAuthConfig(keys: [keys[rng.below(keys.count)]]))]
            case 3:
                // The Upstream changes: its routes keep their plugins but must serve the new one.
                upstreams["default/b"] = upstream("default/b", port: 2000 + rng.below(3))
            case 4:
                if rng.below(2) == 0 || routes.count < 5 {
                    routes.insert(randomRoute("n\(step)", &rng), at: rng.below(routes.count + 1))
                } else {
                    routes.remove(at: rng.below(routes.count))
                }
            default:
                // An equal config made anew (not a copy): kept by comparing the fields.
                let i = rng.below(routes.count)
                let r = routes[i]
                routes[i] = RouteConfig(id: r.id, hosts: r.hosts, paths: r.paths, methods: r.methods, headers: r.headers, priority: r.priority,
                                        upstream: r.upstream, timeout: r.timeout, websocket: r.websocket, plugins: r.plugins, notServed: r.notServed)
            }
            let next = compile(routes, upstreams, previous: current)
            let fresh = compile(routes, upstreams)
            XCTAssertEqual(served(next), served(fresh), "step \(step)")
            XCTAssertEqual(routing(next), routing(fresh), "step \(step)")
            for r in next.routes {
                if let u = r.upstream { XCTAssertTrue(u === next.upstreams[u.key], "step \(step): \(r.config.id) serves an upstream of this snapshot") }
                guard let old = current.routes.first(where: { $0.config.id == r.config.id }) else { continue }
                let unchanged = before.first { $0.id == r.config.id } == routes.first { $0.id == r.config.id }
                    && upstreamsBefore[r.config.upstream] == upstreams[r.config.upstream] && current.rejected[r.config.id] == nil
                if unchanged {
                    XCTAssertTrue(old === r, "step \(step): \(r.config.id) is unchanged and kept")
                    reused += 1
                } else if before.first(where: { $0.id == r.config.id }) != routes.first(where: { $0.id == r.config.id }) {
                    XCTAssertFalse(old === r, "step \(step): \(r.config.id) changed and is compiled again")
                }
            }
            current = next
        }
        XCTAssertGreaterThan(reused, 1000)
    }

    func testARotatedKeyOrRedisPasswordIsAChange() {
        let a = RouteConfig(id: "r", paths: ["/"], upstream: "u", plugins: [.keyAuth(KeyAuthConfig(keys: [keys[0]]))])
        var b = a
        XCTAssertTrue(a.isSameValue(as: b))
        b.plugins = [.keyAuth(KeyAuthConfig(keys: [keys[1]]))]
        XCTAssertFalse(a.isSameValue(as: b))
        XCTAssertNotEqual(a, b)
        b.plugins = [.keyAuth(KeyAuthConfig(keys: [keys[0]]))]
        XCTAssertEqual(a, b, "the same key made anew is the same config")
        let redis = { (password: String) in
            RouteConfig(id: "r", paths: ["/"], upstream: "u",
                        plugins: [.limitCount(LimitCountConfig(count: 1, windowMs: 1000, redis: RedisConfig(password: SecretValue(Array(password.utf8)))))])
        }
        XCTAssertEqual(redis("one"), redis("one"))
        XCTAssertNotEqual(redis("one"), redis("two"))
        XCTAssertNotEqual(redis("one"), redis("one-longer"))
        let user = { (hash: String) in RouteConfig(id: "r", paths: ["/"], upstream: "u", plugins: [.basicAuth([BasicAuthUserConfig(username: "u", passwordHash: hash)])]) }
        XCTAssertNotEqual(user("$pbkdf2-sha256$i=1$AAAA$BBBB"), user("$pbkdf2-sha256$i=1$AAAA$CCCC"))
    }

    func testRotatedKeyIsAdmittedAndTheOldRefusedAtOnceWhileOtherRoutesAreKept() throws {
        let up = try TestUpstream(name: "a")
        defer { up.stop() }
        let ups = ["default/up": upstreamConfig("default/up", [up])]
        var routes = (0..<50).map { route("default/r\($0)", paths: ["/r\($0)"]) }
        routes.append(route("default/k", paths: ["/k"], plugins: [.keyAuth(KeyAuthConfig(keys: [keys[0]]))]))
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: routes, upstreams: ups))
        defer { g.stop() }
        XCTAssertEqual(g.get("/k", headers: ["apikey: key-one"])?.status, 200)
        routes[50].plugins = [.keyAuth(KeyAuthConfig(keys: [keys[1]]))]
        g.gateway.apply(GatewaySnapshot(generation: 2, routes: routes, upstreams: ups))
        XCTAssertTrue(Poll.until { g.get("/k", headers: ["apikey: key-two"])?.status == 200 })
        XCTAssertEqual(g.get("/k", headers: ["apikey: key-one"])?.status, 401, "the old key is refused by the snapshot that admits the new one")
        XCTAssertEqual(g.get("/k")?.status, 401)
        XCTAssertEqual(g.get("/r7")?.status, 200)
        // An attacker's hope: a change elsewhere brings back the route's earlier compiled form.
        routes[3].paths = ["/moved"]
        g.gateway.apply(GatewaySnapshot(generation: 3, routes: routes, upstreams: ups))
        XCTAssertTrue(Poll.until { g.get("/moved")?.status == 200 })
        XCTAssertEqual(g.get("/k", headers: ["apikey: key-one"])?.status, 401)
        XCTAssertEqual(g.get("/k", headers: ["apikey: key-two"])?.status, 200)
    }
}
