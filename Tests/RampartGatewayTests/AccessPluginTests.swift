import Foundation
import XCTest
@testable import RampartGateway
import TestSupport

/// key-auth, basic-auth and limit-count (policy local) through a real gateway and upstream.
final class AccessPluginTests: XCTestCase {
    var up: TestUpstream!

    override func setUpWithError() throws { up = try TestUpstream(name: "a") }
    override func tearDown() { up?.stop() }

    func gateway(_ routes: [RouteConfig]) throws -> TestGateway {
        try TestGateway(GatewaySnapshot(generation: 1, routes: routes, upstreams: ["default/up": upstreamConfig("default/up", [up])]))
    }

    static func basic(_ user: String, _ password: String) -> String {
        "Authorization: Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    func testKeyAuthHeaderQueryMissingWrong() throws {
        let g = try gateway([route("default/k", plugins: [.keyAuth(KeyAuthConfig(keys: [Array("s3cret-one".utf8), Array("two/2+x".utf8)]))])])
        defer { g.stop() }
        let viaHeader = try XCTUnwrap(g.get("/a", headers: ["apikey: s3cret-one", "X-Other: 1"]))
        XCTAssertEqual(viaHeader.status, 200)
        XCTAssertNil(viaHeader.echoHeader("apikey"), "the key header is not proxied")
        XCTAssertEqual(viaHeader.echoHeader("X-Other"), "1")
        let viaQuery = try XCTUnwrap(g.get("/a?x=1&apikey=two%2F2%2Bx&y=2"))
        XCTAssertEqual(viaQuery.status, 200)
        XCTAssertEqual(viaQuery.echoTarget, "/a?x=1&y=2", "the key parameter is not proxied")
        let onlyKey = try XCTUnwrap(g.get("/b?apikey=s3cret-one"))
        XCTAssertEqual(onlyKey.status, 200)
        XCTAssertEqual(onlyKey.echoTarget, "/b")
        let missing = try XCTUnwrap(g.get("/a"))
        XCTAssertEqual(missing.status, 401)
        XCTAssertEqual(missing.bodyString, "{\"error\":\"unauthorized\"}\n")
        XCTAssertEqual(g.get("/a", headers: ["apikey: s3cret-onE"])?.status, 401)
        XCTAssertEqual(g.get("/a?apikey=s3cret-on")?.status, 401)
        XCTAssertEqual(g.get("/a", headers: ["apikey: "])?.status, 401)
        XCTAssertEqual(up.requestCount, 3)
        XCTAssertFalse(up.log.joined().contains("s3cret-one"), "the upstream never sees the key")
    }

    func testKeyAuthCustomNamesKeepAlive() throws {
        let g = try gateway([route("default/k", plugins: [.keyAuth(KeyAuthConfig(header: "X-Api-Key", query: "k", keys: [Array("abc".utf8)]))])])
        defer { g.stop() }
        let c = try RawClient(port: g.port)
        c.send("GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.status, 401)
        c.send("GET /x HTTP/1.1\r\nHost: h\r\nx-api-key: abc\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 200, "401 keeps the connection")
        XCTAssertNil(r.echoHeader("x-api-key"))
        XCTAssertEqual(g.get("/x?k=abc")?.status, 200)
        XCTAssertEqual(g.get("/x?apikey=abc")?.status, 401)
    }

    func testKeyAuthConfigHoldsDigestsOnly() throws {
        let cfg = KeyAuthConfig(keys: [Array("plain-key".utf8)])
        XCTAssertEqual(cfg.keyDigests, [KeyAuthConfig.digest(Array("plain-key".utf8))])
        XCTAssertFalse("\(cfg)".contains("plain-key"))
        XCTAssertThrowsError(try CompiledKeyAuth(KeyAuthConfig(keyDigests: [[1, 2, 3]])))
    }

    func testBasicAuth() throws {
        let alice = try BasicAuthUserConfig.hashing(username: "alice", password: Array("wonder land".utf8))
        XCTAssertTrue(alice.passwordHash.hasPrefix("$pbkdf2-sha256$i=\(BasicAuthUserConfig.iterations)$"))
        let bob = try BasicAuthUserConfig.hashing(username: "bob", password: Array("b:o:b".utf8))
        let g = try gateway([route("default/b", plugins: [.basicAuth([alice, bob])])])
        defer { g.stop() }
        for _ in 0..<3 {   // cached after the first verification
            let ok = try XCTUnwrap(g.get("/", headers: [Self.basic("alice", "wonder land")]))
            XCTAssertEqual(ok.status, 200)
            XCTAssertNil(ok.echoHeader("Authorization"), "credentials are not proxied")
        }
        XCTAssertEqual(g.get("/", headers: [Self.basic("bob", "b:o:b")])?.status, 200)
        for _ in 0..<2 {
            let wrong = try XCTUnwrap(g.get("/", headers: [Self.basic("alice", "wonderland")]))
            XCTAssertEqual(wrong.status, 401)
            XCTAssertEqual(wrong.header("WWW-Authenticate"), "Basic realm=\"rampart\"")
        }
        XCTAssertEqual(g.get("/", headers: [Self.basic("bob", "wonder land")])?.status, 401)
        XCTAssertEqual(g.get("/", headers: [Self.basic("carol", "x")])?.status, 401)
        XCTAssertEqual(g.get("/", headers: ["Authorization: Bearer abc"])?.status, 401)
        XCTAssertEqual(g.get("/", headers: ["Authorization: Basic !!!"])?.status, 401)
        let missing = try XCTUnwrap(g.get("/"))
        XCTAssertEqual(missing.status, 401)
        XCTAssertEqual(missing.header("WWW-Authenticate"), "Basic realm=\"rampart\"")
        XCTAssertEqual(up.requestCount, 4)
    }

    /// A request parked for its PBKDF2 check resumes where it was: pipelined requests behind it are
    /// answered in order, its body reaches the upstream, and a limit taken before it parked is not
    /// taken again when it resumes.
    func testBasicAuthParkedRequestsResumeInOrderWithTheirBodies() throws {
        let alice = try BasicAuthUserConfig.hashing(username: "alice", password: Array("pw".utf8))
        let lc = LimitCountConfig(count: 3, windowMs: 60_000, key: .remoteAddr)
        let g = try gateway([route("default/ba", plugins: [.basicAuth([alice]), .limitCount(lc)])])
        defer { g.stop() }
        let c = try RawClient(port: g.port, timeout: 10)
        c.send("POST /one HTTP/1.1\r\nHost: a\r\n\(Self.basic("alice", "pw"))\r\nContent-Length: 5\r\n\r\nhello"
               + "GET /two HTTP/1.1\r\nHost: a\r\n\(Self.basic("alice", "new-wrong"))\r\n\r\n"
               + "GET /three HTTP/1.1\r\nHost: a\r\n\(Self.basic("mallory", "pw"))\r\n\r\n")
        let one = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(one.status, 200)
        XCTAssertTrue(one.bodyString.contains("hello"), "the body of a parked request is proxied: \(one.bodyString)")
        XCTAssertEqual(one.header("RateLimit-Remaining"), "2", "counted once although parked")
        XCTAssertEqual(c.readResponse()?.status, 401)
        XCTAssertEqual(c.readResponse()?.status, 401)
        // Three hits of three: the next one is limited before any PBKDF2.
        XCTAssertEqual(g.get("/", headers: [Self.basic("alice", "pw")])?.status, 429)
        XCTAssertEqual(up.requestCount, 1)
    }

    func testBasicAuthRejectsPlaintextPassword() {
        XCTAssertThrowsError(try CompiledBasicAuth([BasicAuthUserConfig(username: "a", passwordHash: "plain")], loops: 1))
        XCTAssertThrowsError(try CompiledBasicAuth([BasicAuthUserConfig(username: "a:b", passwordHash: "plain")], loops: 1))
    }

    // MARK: limit-count, local

    func statuses(_ g: TestGateway, _ path: String, _ n: Int, headers: [String] = []) -> [Int] {
        (0..<n).map { _ in g.get(path, headers: headers)?.status ?? 0 }
    }

    /// Waits until the current wall-clock window has at least `ms` left, so a burst stays in one window.
    func alignWindow(_ windowMs: Int64, leaving ms: Int64) {
        TestSupport.waitUntil(timeout: Double(windowMs) / 1000 + 1) {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            return windowMs - now % windowMs >= ms
        }
    }

    func testLimitCountLocal() throws {
        let lc = LimitCountConfig(count: 3, windowMs: 2000)
        let g = try gateway([route("default/lc-a", paths: ["/a"], plugins: [.limitCount(lc)]),
                             route("default/lc-b", paths: ["/b"], plugins: [.limitCount(lc)])])
        defer { g.stop() }
        alignWindow(2000, leaving: 1500)
        let first = try XCTUnwrap(g.get("/a"))
        XCTAssertEqual(first.status, 200)
        XCTAssertEqual(first.header("RateLimit-Limit"), "3")
        XCTAssertEqual(first.header("RateLimit-Remaining"), "2")
        let reset = Int(first.header("RateLimit-Reset") ?? "") ?? -1
        XCTAssertTrue((1...2).contains(reset), "reset \(reset)")
        XCTAssertEqual(statuses(g, "/a", 2), [200, 200])
        let over = try XCTUnwrap(g.get("/a"))
        XCTAssertEqual(over.status, 429)
        XCTAssertEqual(over.bodyString, "{\"error\":\"too many requests\"}\n")
        XCTAssertEqual(over.header("RateLimit-Remaining"), "0")
        XCTAssertEqual(over.header("RateLimit-Limit"), "3")
        XCTAssertNotNil(over.header("Retry-After"))
        // Another route has its own counter.
        XCTAssertEqual(g.get("/b")?.status, 200)
        XCTAssertEqual(up.requestCount, 4)
        // A new window admits again.
        XCTAssertTrue(TestSupport.waitUntil(timeout: 5) { g.get("/a")?.status == 200 })
    }

    func testLimitCountByHeaderSeparatesUsers() throws {
        let g = try gateway([route("default/lc-h", plugins: [.limitCount(LimitCountConfig(count: 2, windowMs: 5000, key: .header("X-User")))])])
        defer { g.stop() }
        alignWindow(5000, leaving: 3000)
        XCTAssertEqual(statuses(g, "/", 3, headers: ["x-user: alice"]), [200, 200, 429])
        XCTAssertEqual(statuses(g, "/", 3, headers: ["x-user: bob"]), [200, 200, 429])
        XCTAssertEqual(statuses(g, "/", 3), [200, 200, 429], "without the header: the client address")
    }

    func testLimitCountByConsumer() throws {
        let g = try gateway([route("default/lc-c", plugins: [
            .keyAuth(KeyAuthConfig(keys: [Array("k1".utf8), Array("k2".utf8)])),
            .limitCount(LimitCountConfig(count: 1, windowMs: 5000, key: .consumer)),
        ])])
        defer { g.stop() }
        alignWindow(5000, leaving: 3000)
        XCTAssertEqual(statuses(g, "/", 2, headers: ["apikey: k1"]), [200, 429])
        XCTAssertEqual(statuses(g, "/", 2, headers: ["apikey: k2"]), [200, 429])
        XCTAssertEqual(g.get("/")?.status, 401, "auth runs before the limit")
    }

    func testLocalCountersTable() {
        let t = LocalCounters(log2Slots: 4)
        XCTAssertEqual(t.hit(hash: 0xAAAA_0000_0000_0001, window: 7), 1)
        XCTAssertEqual(t.hit(hash: 0xAAAA_0000_0000_0001, window: 7), 2)
        XCTAssertEqual(t.hit(hash: 0xBBBB_0000_0000_0001, window: 7), 1, "same slot, other key")
        XCTAssertEqual(t.hit(hash: 0xAAAA_0000_0000_0001, window: 8), 1, "new window")
        // Concurrent hits from several threads are all counted.
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<1000 { _ = t.hit(hash: 0xCCCC_0000_0000_0003, window: 1) }
        }
        XCTAssertEqual(t.hit(hash: 0xCCCC_0000_0000_0003, window: 1), 4001)
    }

    func testInvalidLimitCountRejectsRoute() throws {
        let g = try gateway([route("default/bad", plugins: [.limitCount(LimitCountConfig(count: 0, windowMs: 1000))])])
        defer { g.stop() }
        XCTAssertNotNil(g.gateway.rejectedRoutes["default/bad"])
    }
}
