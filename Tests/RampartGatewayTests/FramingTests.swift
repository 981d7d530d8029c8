import Foundation
import XCTest
@testable import RampartGateway
import TestSupport

/// Request smuggling / framing suite: each malformed request gets 400 (or the given status),
/// the connection is closed, and the upstream never sees a request.
final class FramingTests: XCTestCase {
    var up: TestUpstream!
    var gw: TestGateway!

    override func setUpWithError() throws {
        up = try TestUpstream(name: "a")
        gw = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/all")],
                                             upstreams: ["default/up": upstreamConfig("default/up", [up])]),
                             config: GatewayConfig(workers: 1, maxHeaderBytes: 4096, maxURIBytes: 1024, headerTimeoutMs: 300))
    }

    override func tearDown() {
        gw?.stop()
        up?.stop()
    }

    static let cases: [(String, String, Int)] = [
        ("CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("TE and CL", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
        ("repeated CL same", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
        ("repeated CL differ", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        ("CL list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
        ("CL sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400),
        ("CL negative", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        ("CL hex", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc", 400),
        ("CL huge", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
        ("TE identity", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 400),
        ("TE chunked not final", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
        ("TE chunked twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
        ("TE repeated header", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("TE obfuscated", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
        ("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("bad chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
        ("chunk size overflow", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n", 400),
        ("chunk size space", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n", 400),
        ("chunk bare LF", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400),
        ("chunk data too long", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", 400),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400),
        ("space before colon", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc", 400),
        ("tab before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A\t: 1\r\n\r\n", 400),
        ("bare CR in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400),
        ("NUL in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{0}b\r\n\r\n", 400),
        ("bare LF line end", "GET / HTTP/1.1\nHost: x\n\n", 400),
        ("bare LF in headers", "GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n", 400),
        ("invalid method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("empty method", " / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("double space", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("target without slash", "GET foo HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("control in target", "GET /a\u{01}b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("bad version", "GET / HTTX/1.1\r\nHost: x\r\n\r\n", 400),
        ("HTTP/2.0 line", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("missing host", "GET / HTTP/1.1\r\n\r\n", 400),
        ("two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("bad host", "GET / HTTP/1.1\r\nHost: a b@c\r\n\r\n", 400),
        ("climb above the root", "GET /../admin HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("encoded climb above the root", "GET /a/%2e%2e/%2E%2E/admin HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("encoded slash", "GET /admin%2fx HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("encoded backslash", "GET /admin%5Cx HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("raw backslash", "GET /admin\\x HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("encoded NUL", "GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("encoded control byte", "GET /a%0d%0aSet-Cookie:x HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("fragment in target", "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("path parameter", "GET /admin;x/y HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("malformed escape", "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("truncated escape", "GET /a%4 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("lower-case method", "get / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("mixed-case method", "Get / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("Connection nominates Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: content-length\r\n\r\nabc", 400),
        ("Connection nominates CONTENT-LENGTH", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: keep-alive, CONTENT-LENGTH\r\n\r\nabc", 400),
        ("Connection nominates Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: transfer-encoding\r\n\r\n0\r\n\r\n", 400),
        ("Connection nominates Host", "GET / HTTP/1.1\r\nHost: x\r\nConnection: host\r\n\r\n", 400),
        ("Connection nominates X-Forwarded-For", "GET / HTTP/1.1\r\nHost: x\r\nConnection: x-forwarded-for\r\n\r\n", 400),
        ("Connection nominates X-Real-IP", "GET / HTTP/1.1\r\nHost: x\r\nConnection: X-Real-IP\r\n\r\n", 400),
        ("Connection nominates X-Request-Id", "GET / HTTP/1.1\r\nHost: x\r\nConnection: x-request-id\r\n\r\n", 400),
        ("Connection nominates Via", "GET / HTTP/1.1\r\nHost: x\r\nConnection: via\r\n\r\n", 400),
        ("Connection nominates X-Forwarded-Proto", "GET / HTTP/1.1\r\nHost: x\r\nConnection: x-forwarded-proto\r\n\r\n", 400),
        ("Connection nominates X-Client-Cert-Subject", "GET / HTTP/1.1\r\nHost: x\r\nConnection: x-client-cert-subject\r\n\r\n", 400),
        ("Connection nominates an underscore alias", "GET / HTTP/1.1\r\nHost: x\r\nConnection: content_length\r\n\r\n", 400),
        ("Connection upgrade without Upgrade", "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n", 400),
        ("Connection token not a token", "GET / HTTP/1.1\r\nHost: x\r\nConnection: a b\r\n\r\n", 400),
        ("empty header name", "GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", 400),
        ("long URI", "GET /" + String(repeating: "a", count: 2000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        ("big headers", "GET / HTTP/1.1\r\nHost: x\r\n" + String(repeating: "X-Pad: " + String(repeating: "p", count: 100) + "\r\n", count: 50) + "\r\n", 431),
        ("expect unknown", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nExpect: 200-ok\r\n\r\na", 417),
    ]

    func testMalformedRequestsAreRejectedAndNeverForwarded() throws {
        for (name, raw, status) in Self.cases {
            let c = try RawClient(port: gw.port, timeout: 3)
            c.send(raw)
            let r = c.readResponse()
            XCTAssertEqual(r?.status, status, name)
            XCTAssertEqual(r?.header("Connection"), "close", name)
            XCTAssertTrue(c.isClosed(timeout: 2), "\(name): connection must be closed")
        }
        // A valid request afterwards proves the upstream is reachable; it must be the only one it saw.
        XCTAssertEqual(gw.get("/ok")?.status, 200)
        XCTAssertEqual(up.log.filter { $0.hasPrefix("REQ") }, ["REQ GET /ok"])
    }

    func testBodyCannotBeSmuggledByNominatingContentLength() throws {
        // Dropping a Connection-nominated Content-Length would forward the body as a second request.
        let hidden = "GET /admin/x HTTP/1.1\r\nHost: x\r\n\r\n"
        let c = try RawClient(port: gw.port)
        c.send("POST /public HTTP/1.1\r\nHost: x\r\nContent-Length: \(hidden.utf8.count)\r\nConnection: content-length\r\n\r\n" + hidden)
        XCTAssertEqual(c.readResponse()?.status, 400)
        XCTAssertTrue(c.isClosed(timeout: 2))
        XCTAssertEqual(up.requestCount, 0)
    }

    func testSmuggledSecondRequestIsNotForwarded() throws {
        // Classic CL.TE: a proxy trusting CL would forward "GET /smuggled" as a second request.
        let c = try RawClient(port: gw.port)
        c.send("POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.status, 400)
        XCTAssertTrue(c.isClosed(timeout: 2))
        XCTAssertEqual(up.requestCount, 0)
    }

    func testHeaderTimeoutCutsSlowClient() throws {
        let c = try RawClient(port: gw.port)
        c.send("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        let r = c.readResponse()
        XCTAssertEqual(r?.status, 408)
        XCTAssertTrue(c.isClosed(timeout: 2))
        XCTAssertEqual(up.requestCount, 0)
    }

    func testSlowlorisTricklingBytesStillTimesOut() throws {
        let c = try RawClient(port: gw.port)
        let start = Date()
        var closed = false
        for b in Array("GET / HTTP/1.1\r\nHost: x\r\n".utf8) + Array(repeating: UInt8(ascii: "a"), count: 200) {
            c.send([b])
            usleep(20_000)
            var pfd = pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 0) > 0 { closed = true; break }
        }
        XCTAssertTrue(closed, "the gateway must cut a trickling client")
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
    }

    func testIdleKeepAliveIsClosed() throws {
        let g = try TestGateway(GatewaySnapshot(generation: 1, routes: [route("default/all")],
                                                upstreams: ["default/up": upstreamConfig("default/up", [up])]),
                                config: GatewayConfig(workers: 1, idleTimeoutMs: 200))
        defer { g.stop() }
        let c = try RawClient(port: g.port)
        c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.status, 200)
        XCTAssertTrue(c.isClosed(timeout: 3))
    }

    func testLeadingEmptyLinesAreIgnored() throws {
        let c = try RawClient(port: gw.port)
        c.send("\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.status, 200)
    }

    func testValidChunkExtensionsAndTransferCodingListAccepted() throws {
        let c = try RawClient(port: gw.port)
        c.send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2;a=b\r\nhi\r\n0\r\n\r\n")
        let r = c.readResponse()
        XCTAssertEqual(r?.status, 200)
        XCTAssertEqual(r?.echoHeader("Transfer-Encoding"), "gzip, chunked")
    }
}
