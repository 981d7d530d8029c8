import Foundation
import XCTest
@testable import RampartGateway
import TestSupport

/// Validation bounds every duration; should one slip past it, a deadline saturates instead of trapping the data plane.
final class SaturationTests: XCTestCase {
    func testAddingSaturatedPinsAtTheEnds() {
        XCTAssertEqual(Int64(1000).addingSaturated(500), 1500)
        XCTAssertEqual(Int64(1000).addingSaturated(Int.max), .max)
        XCTAssertEqual(Int64.max.addingSaturated(1), .max)
        XCTAssertEqual(Int64(-5).addingSaturated(Int.min), .min)
        XCTAssertEqual(Int64(5).addingSaturated(-10), -5)
    }

    /// The reproduced crash: a read timeout of Int.max ms trapped `now + timeout` on the first request.
    func testIntMaxDurationsEverywhereStillServe() throws {
        let up = try TestUpstream(name: "up")
        let huge = Timeouts(connectMs: Int.max, sendMs: Int.max, readMs: Int.max)
        var upstream = upstreamConfig("default/up", [up], health: HealthCheckConfig(
            active: ActiveHealthCheck(path: "/", intervalMs: Int.max, timeoutMs: Int.max, healthyAfter: 1),
            passive: PassiveHealthCheck(downMs: Int.max)), timeout: huge)
        upstream.keepalive = KeepaliveConfig(maxIdle: 4, idleTimeoutMs: Int.max)
        let limit = LimitCountConfig(count: 1_000_000, windowMs: Int.max)
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/r", timeout: huge, plugins: [.limitCount(limit)])],
                                                upstreams: ["default/up": upstream]))
        XCTAssertTrue(TestSupport.waitUntil(timeout: 10) { g.get("/x")?.echoServer == "up" })
        // Again over a pooled upstream connection (its idle deadline was set with the same huge value).
        XCTAssertEqual(g.get("/y")?.echoServer, "up")
        XCTAssertEqual(g.get("/y")?.status, 200)
        g.gateway.stop(drainTimeoutMs: Int.max)
    }

    /// Header offsets are Int32: a limit past that is refused when the gateway is built, not at the first big request.
    func testHeaderLimitPastInt32OffsetsIsRefused() {
        XCTAssertThrowsError(try Gateway(config: GatewayConfig(listen: ["127.0.0.1:0"], maxHeaderBytes: 2 << 30)))
        XCTAssertThrowsError(try Gateway(config: GatewayConfig(listen: ["127.0.0.1:0"], maxHeaderBytes: 0)))
    }
}
