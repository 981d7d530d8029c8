import Foundation
import XCTest
@testable import RampartGateway
import TestSupport

/// A real redis-server on 127.0.0.1 and a free port, nothing written to disk; stopped by PID.
final class RedisServer {
    let process: Process
    let port: Int
    let dir: String

    init(password: String? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server") else {
            throw XCTSkip("redis-server is not installed (apt-get install -y redis-server)")
        }
        port = RedisServer.freePort()
        dir = TestSupport.tempPath("redis")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        var args = ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir]
        if let password { args += ["--requirepass", password] }
        process.arguments = args
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let ready = TestSupport.waitUntil(timeout: 10) { self.ping(password: password) }
        if !ready {
            stop()
            throw NSError(domain: "RedisServer", code: 1, userInfo: [NSLocalizedDescriptionKey: "redis-server did not start"])
        }
    }

    /// One RESP round trip on a fresh connection: true when PING answers +PONG.
    func ping(password: String?) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        a.sin_port = in_port_t(UInt16(port).bigEndian)
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { return false }
        var cmd = ""
        if let password { cmd += "*2\r\n$4\r\nAUTH\r\n$\(password.utf8.count)\r\n\(password)\r\n" }
        cmd += "*1\r\n$4\r\nPING\r\n"
        _ = Array(cmd.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 256)
        while !String(decoding: got, as: UTF8.self).contains("PONG") {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return false }
            got += buf[0..<n]
        }
        return true
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        a.sin_port = 0
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: a.sin_port))
    }
}

/// limit-count with policy redis against a real redis-server.
final class RedisLimitTests: XCTestCase {
    var up: TestUpstream!

    override func setUpWithError() throws { up = try TestUpstream(name: "r") }
    override func tearDown() { up?.stop() }

    func gateway(_ lc: LimitCountConfig, id: String = "default/lr") throws -> TestGateway {
        try TestGateway(GatewaySnapshot(generation: 1, routes: [route(id, plugins: [.limitCount(lc)])],
                                        upstreams: ["default/up": upstreamConfig("default/up", [up])]))
    }

    func alignWindow(_ windowMs: Int64, leaving ms: Int64) {
        TestSupport.waitUntil(timeout: Double(windowMs) / 1000 + 1) {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            return windowMs - now % windowMs >= ms
        }
    }

    func testTwoGatewaysShareOneRedis() throws {
        let redis = try RedisServer(password: "p@ss w0rd")
        defer { redis.stop() }
        let lc = LimitCountConfig(count: 3, windowMs: 5000,
                                  redis: RedisConfig(port: redis.port, password: SecretValue(Array("p@ss w0rd".utf8)), database: 2))
        let a = try gateway(lc, id: "default/shared-\(redis.port)")
        defer { a.stop() }
        let b = try gateway(lc, id: "default/shared-\(redis.port)")
        defer { b.stop() }
        alignWindow(5000, leaving: 3000)
        let first = try XCTUnwrap(a.get("/"))
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(first.header("RateLimit-Remaining"), "2")
        XCTAssertEqual(b.get("/")?.status, 200)
        XCTAssertEqual(a.get("/")?.status, 200)
        let over = try XCTUnwrap(b.get("/"))
        XCTAssertEqual(over.status, 429, "the second gateway sees the first one's count")
        XCTAssertEqual(over.header("RateLimit-Limit"), "3")
        XCTAssertNotNil(over.header("Retry-After"))
        XCTAssertEqual(a.get("/")?.status, 429)
        XCTAssertEqual(up.requestCount, 3)
        // Keep-alive and pipelining through a parked request.
        let c = try RawClient(port: a.port)
        c.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.status, 429)
        XCTAssertEqual(c.readResponse()?.status, 429)
        // A new window admits again.
        XCTAssertTrue(TestSupport.waitUntil(timeout: 8) { a.get("/")?.status == 200 })
    }

    func testWrongPasswordCountsAsDown() throws {
        let redis = try RedisServer(password: "right")
        defer { redis.stop() }
        let g = try gateway(LimitCountConfig(count: 1, windowMs: 60_000,
                                             redis: RedisConfig(port: redis.port, password: SecretValue(Array("wrong".utf8))),
                                             failOpen: false), id: "default/wrongpw")
        defer { g.stop() }
        XCTAssertEqual(g.get("/")?.status, 503)
    }

    func testRedisDownFailOpenAndClosed() throws {
        let redis = try RedisServer()
        let port = redis.port
        let open = try gateway(LimitCountConfig(count: 1, windowMs: 60_000, redis: RedisConfig(port: port), failOpen: true), id: "default/fo")
        defer { open.stop() }
        let closed = try gateway(LimitCountConfig(count: 1, windowMs: 60_000, redis: RedisConfig(port: port), failOpen: false), id: "default/fc")
        defer { closed.stop() }
        XCTAssertEqual(open.get("/")?.status, 200)
        XCTAssertEqual(open.get("/")?.status, 429)
        redis.stop()
        for _ in 0..<3 {
            let r = try XCTUnwrap(open.get("/"))
            XCTAssertEqual(r.status, 200, "fail open admits while redis is down")
            XCTAssertNil(r.header("RateLimit-Remaining"))
            XCTAssertEqual(closed.get("/")?.status, 503)
        }
    }

    func testNothingListening() throws {
        let port = RedisServer.freePort()
        let g = try gateway(LimitCountConfig(count: 5, windowMs: 1000, redis: RedisConfig(port: port), failOpen: false), id: "default/none")
        defer { g.stop() }
        XCTAssertEqual(g.get("/")?.status, 503)
        XCTAssertEqual(g.get("/")?.status, 503)
    }

    func testRedisPasswordNeverPrinted() {
        let cfg = RedisConfig(password: SecretValue(Array("hunter2".utf8)))
        var dumped = ""
        dump(cfg, to: &dumped)
        XCTAssertFalse("\(cfg)".contains("hunter2"))
        XCTAssertFalse(String(reflecting: cfg).contains("hunter2"))
        XCTAssertFalse(dumped.contains("hunter2"))
    }
}
