import Foundation
@testable import RampartGateway
import Synchronization
import TestSupport
import XCTest

/// The admin listener's bounds, with small limits: deadlines, connection caps, the worker queue.
final class AdminLimitsTests: XCTestCase {
    /// Holds handler calls until `release` (a worker stuck in a slow handler).
    final class Gate: Sendable {
        let open = Atomic<Bool>(false)
        let entered = Atomic<Int>(0)
        func wait() {
            entered.add(1, ordering: .relaxed)
            while !open.load(ordering: .relaxed) { usleep(1000) }
        }
    }

    func server(_ limits: AdminLimits, gate: Gate? = nil) throws -> (AdminServer, Int) {
        let s = try AdminServer(listen: "127.0.0.1:0", limits: limits) { req in
            if req.path == "/healthz" { return .text(200, "ok\n") }
            gate?.wait()
            return .json(200, "{\"path\":\"\(req.path)\"}")
        }
        try s.start()
        let port = try XCTUnwrap(Int(s.boundAddress.split(separator: ":").last ?? ""))
        return (s, port)
    }

    func testHalfAHeadIsAnswered408AndClosedAtTheHeaderDeadline() throws {
        var l = AdminLimits()
        l.headerTimeoutMs = 300
        let (s, port) = try server(l)
        defer { s.stop() }
        let slow = try RawClient(port: port, timeout: 10)
        slow.send("GET /api/v1/status HTTP/1.1\r\nHost: a\r\n")
        XCTAssertEqual(httpRequest(port: port, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")?.status, 200, "not blocked by the slow client")
        XCTAssertEqual(slow.readResponse()?.status, 408)
        XCTAssertTrue(slow.isClosed(timeout: 5))
        let silent = try RawClient(port: port, timeout: 10)
        XCTAssertTrue(silent.isClosed(timeout: 5), "a client that sends nothing is closed too")
    }

    func testSlowBodyIsClosedAtTheBodyDeadline() throws {
        var l = AdminLimits()
        l.bodyTimeoutMs = 300
        let (s, port) = try server(l)
        defer { s.stop() }
        let c = try RawClient(port: port, timeout: 10)
        c.send("POST /api/v1/diff HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        XCTAssertTrue(c.isClosed(timeout: 5))
    }

    func testConnectionCapsInAllAndPerClient() throws {
        var l = AdminLimits()
        l.maxConnectionsPerClient = 2
        l.maxConnections = 3
        let (s, port) = try server(l)
        defer { s.stop() }
        let a = try RawClient(port: port, timeout: 2)
        let b = try RawClient(port: port, timeout: 2)
        a.send("GET /healthz HTTP/1.1\r\nHost: a\r\n")
        b.send("GET /healthz HTTP/1.1\r\nHost: a\r\n")
        // Both are accepted once their bytes are read; then a third from 127.0.0.1 is over its cap.
        XCTAssertTrue(Poll.until(timeout: 5) { httpRequest(port: port, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", timeout: 1) == nil })
        let other = try RawClient(port: port, source: "127.0.0.2", timeout: 2)
        other.send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(other.readResponse()?.status, 200, "another address has its own share")
        let third = try RawClient(port: port, source: "127.0.0.3", timeout: 2)
        let fourth = try RawClient(port: port, source: "127.0.0.4", timeout: 2)
        fourth.send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertNil(fourth.readResponse(), "past the total cap a connection is closed")
        _ = third
        a.send("\r\n")
        XCTAssertEqual(a.readResponse()?.status, 200)
    }

    func testProbesAnswerWhileEveryWorkerIsBusyAndAFullQueueGets503() throws {
        var l = AdminLimits()
        l.workers = 1
        l.maxQueued = 1
        let gate = Gate()
        let (s, port) = try server(l, gate: gate)
        defer {
            gate.open.store(true, ordering: .relaxed)
            s.stop()
        }
        let busy = try RawClient(port: port, timeout: 10)
        busy.send("GET /api/v1/a HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertTrue(Poll.until(timeout: 5) { gate.entered.load(ordering: .relaxed) == 1 })
        let queued = try RawClient(port: port, timeout: 10)
        queued.send("GET /api/v1/b HTTP/1.1\r\nHost: a\r\n\r\n")
        // The queue holds one; the next is refused at once.
        var refused: TestResponse?
        XCTAssertTrue(Poll.until(timeout: 5) {
            refused = httpRequest(port: port, "GET /api/v1/c HTTP/1.1\r\nHost: a\r\n\r\n", timeout: 2)
            return refused?.status == 503
        })
        XCTAssertEqual(refused?.header("retry-after"), "1")
        XCTAssertEqual(httpRequest(port: port, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")?.status, 200, "probes never wait for workers")
        gate.open.store(true, ordering: .relaxed)
        XCTAssertEqual(busy.readResponse()?.status, 200)
        XCTAssertEqual(queued.readResponse()?.bodyString, "{\"path\":\"/api/v1/b\"}")
    }
}
