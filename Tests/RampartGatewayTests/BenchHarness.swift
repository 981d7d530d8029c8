import Foundation
import XCTest
@testable import RampartGateway

/// Not a test: serves a gateway for bench/proxy.sh until killed, when RAMPART_BENCH_LISTEN and
/// RAMPART_BENCH_UPSTREAM are set (skipped otherwise). Stands in for `rampart run` until the
/// binary exists.
final class BenchHarness: XCTestCase {
    func testServeForBench() throws {
        let env = ProcessInfo.processInfo.environment
        guard let listen = env["RAMPART_BENCH_LISTEN"], let upstream = env["RAMPART_BENCH_UPSTREAM"],
              let colon = upstream.lastIndex(of: ":"), let port = Int(upstream[upstream.index(after: colon)...]) else {
            throw XCTSkip("bench harness: RAMPART_BENCH_LISTEN / RAMPART_BENCH_UPSTREAM not set")
        }
        let workers = Int(env["RAMPART_BENCH_WORKERS"] ?? "1") ?? 1
        let routes = Int(env["RAMPART_BENCH_ROUTES"] ?? "1") ?? 1
        let g = try Gateway(config: GatewayConfig(listen: [listen], workers: workers))
        var rs: [RouteConfig] = []
        for i in 1..<max(routes, 1) { rs.append(RouteConfig(id: "bench/r\(i)", paths: ["/r\(i)/*"], upstream: "bench/up")) }
        rs.append(RouteConfig(id: "bench/all", paths: ["/*"], upstream: "bench/up"))
        g.apply(GatewaySnapshot(generation: 1, routes: rs, upstreams: [
            "bench/up": UpstreamConfig(id: "bench/up", nodes: [UpstreamNode(host: String(upstream[..<colon]), port: port)],
                                       keepalive: KeepaliveConfig(maxIdle: 128, idleTimeoutMs: 60_000)),
        ]))
        try g.start()
        print("bench gateway listening on \(g.boundAddresses)")
        fflush(nil)
        while true { sleep(3600) }
    }
}
