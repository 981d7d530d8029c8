import RampartModel
import TestSupport
import XCTest
@testable import RampartGateway

/// A router built from the one before (only the tries of hosts whose routes changed are rebuilt) must
/// route every request as a router built from scratch does.
final class RouterIncrementalTests: XCTestCase {
    let hosts = ["a.test", "b.test", "*.example.com", "A.Test"]
    let paths = ["/", "/*", "/api", "/api/*", "/api/v1", "/api/v1/*", "*", "/b"]
    let probeHosts = ["a.test", "b.test", "shop.example.com", "other.org", "x.a.test"]
    let probePaths = ["/", "/x", "/api", "/api/", "/api/v1", "/api/v1/z", "/b", "/bb"]

    func compile(_ routes: [RouteConfig], previous: CompiledSnapshot? = nil) -> CompiledSnapshot {
        CompiledSnapshot(GatewaySnapshot(generation: 1, routes: routes, upstreams: [:]), registry: HealthRegistry(), loops: 1, previous: previous)
    }

    func randomRoute(_ id: String, _ rng: inout SplitMix) -> RouteConfig {
        let hostCount = rng.below(3)
        return RouteConfig(id: id, hosts: (0..<hostCount).map { _ in hosts[rng.below(hosts.count)] },
                           paths: (0..<(1 + rng.below(2))).map { _ in paths[rng.below(paths.count)] },
                           priority: rng.below(3), upstream: "u")
    }

    func routing(_ s: CompiledSnapshot) -> [String] {
        probeHosts.flatMap { h in probePaths.map { p in "\(h)\(p) -> \(s.lookup(host: h, path: p)?.config.id ?? "none")" } }
    }

    func testRandomChangesRouteAsAFreshBuild() {
        var rng = SplitMix(seed: 21)
        var routes = (0..<30).map { randomRoute("r\($0)", &rng) }
        var current = compile(routes)
        var rebuiltSome = false
        for step in 0..<300 {
            switch rng.below(5) {
            case 0, 1, 2:
                // A few routes change their match keys in place (the common case: a file edited).
                for _ in 0..<(1 + rng.below(3)) {
                    let i = rng.below(routes.count)
                    routes[i] = randomRoute(routes[i].id, &rng)
                }
                rebuiltSome = true
            case 3:
                // A change that keeps the match keys (a plugin, a timeout): everything is shared.
                let i = rng.below(routes.count)
                routes[i].websocket.toggle()
            default:
                // A route added or removed: places shift, so the router is built from scratch.
                if rng.below(2) == 0 || routes.count < 5 { routes.append(randomRoute("n\(step)", &rng)) } else { routes.remove(at: rng.below(routes.count)) }
            }
            let next = compile(routes, previous: current)
            XCTAssertEqual(routing(next), routing(compile(routes)), "step \(step)")
            current = next
        }
        XCTAssertTrue(rebuiltSome)
    }

    func testAPathChangeIsServedAndTheOldPathIsGone() {
        var routes = (0..<200).map { RouteConfig(id: "r\($0)", hosts: ["h\($0 % 5).test"], paths: ["/r\($0)"], upstream: "u") }
        routes.append(RouteConfig(id: "probe", paths: ["/probe-0"], upstream: "u"))
        let first = compile(routes)
        routes[200].paths = ["/probe-1"]
        routes[7].hosts = ["h9.test"]
        let second = compile(routes, previous: first)
        XCTAssertEqual(second.lookup(host: "any", path: "/probe-1")?.config.id, "probe")
        XCTAssertNil(second.lookup(host: "any", path: "/probe-0"))
        XCTAssertEqual(second.lookup(host: "h9.test", path: "/r7")?.config.id, "r7")
        XCTAssertNil(second.lookup(host: "h2.test", path: "/r7"), "the route left its old host")
        XCTAssertEqual(second.lookup(host: "h3.test", path: "/r8")?.config.id, "r8", "an untouched host still routes")
    }
}
