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
        let g = try Gateway(config: GatewayConfig(listen: [listen], workers: workers, accessLog: .off))
        var rs: [RouteConfig] = []
        for i in 1..<max(routes, 1) { rs.append(RouteConfig(id: "bench/r\(i)", paths: ["/r\(i)/*"], upstream: "bench/up")) }
        if env["RAMPART_BENCH_PLUGINS"] != nil {
            // bench/callgrind.sh: the key-auth + limit-count (local) + proxy-rewrite route.
            rs.append(RouteConfig(id: "bench/plugins", paths: ["/plugins"], upstream: "bench/up", plugins: [
                .keyAuth(KeyAuthConfig(keys: [Array("bench-key-0123456789".utf8)])),
                .limitCount(LimitCountConfig(count: 1_000_000_000, windowMs: 60_000, key: .remoteAddr)),
                .proxyRewrite(uri: "/rewritten", regexUri: nil, host: nil, setHeaders: [HeaderPair(name: "X-Bench", value: "1")],
                              addHeaders: [], removeHeaders: []),
            ]))
        }
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
