import XCTest
@testable import RampartGateway

/// The response writer and the request-target helpers, in memory (no sockets), as SwiftNIO tests
/// its HTTPEncoder: bytes in, bytes out.
final class HTTP1WriterTests: XCTestCase {
    private func text(_ b: ByteBuffer) -> String { String(decoding: b.bytes(b.readIndex, b.readable), as: UTF8.self) }

    /// `s`'s bytes (one zero byte behind an empty string, so there is always a pointer), and its length.
    private func withBytes<T>(_ s: String, _ body: (UnsafePointer<UInt8>, Int) throws -> T) rethrows -> T {
        let bytes = Array(s.utf8) + [0]
        return try bytes.withUnsafeBufferPointer { bp in
            guard let base = bp.baseAddress else { preconditionFailure("a non-empty array has storage") }
            return try body(base, bp.count - 1)
        }
    }

    /// Parses `raw` as an upstream response head and writes it relayed.
    private func relay(_ raw: String, requestMinor: Int = 1, keepAlive: Bool = true, drop: [[UInt8]] = [],
                       requestWasHead: Bool = false) -> (String, RelayFraming) {
        let bytes = Array(raw.utf8)
        return bytes.withUnsafeBufferPointer { bp -> (String, RelayFraming) in
            guard let base = bp.baseAddress else { return ("", RelayFraming(keepAlive: false, decodeChunks: false)) }
            var scanner = HeadScanner()
            let n = scanner.scan(base, bp.count, maxHead: 64 * 1024, maxStartLine: 8 * 1024)
            XCTAssertGreaterThan(n, 0, "complete head")
            var head = ResponseHead()
            XCTAssertEqual(HeadParser.parseResponse(base, base: 0, len: n, into: &head, requestWasHead: requestWasHead), .complete)
            let framing = RelayFraming.decide(head.framing, requestMinor: requestMinor, keepAlive: keepAlive)
            let out = ByteBuffer(capacity: 256)
            let w = ResponseWriter(out: out)
            w.relayed(head, base, decodeChunks: framing.decodeChunks, drop: drop)
            w.end(close: !framing.keepAlive, requestMinor: requestMinor)
            return (text(out), framing)
        }
    }

    // MARK: responses the gateway makes

    func testLocalErrorHasJSONBodyAndExactLength() {
        let out = ByteBuffer(capacity: 64)
        ResponseWriter(out: out).local(status: 404, body: nil, requestId: Array("abc".utf8), close: false,
                                       requestMinor: 1, headMethod: false)
        XCTAssertEqual(text(out), "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 21\r\n"
                       + "X-Request-Id: abc\r\n\r\n{\"error\":\"no route\"}\n")
    }

    func testLocalHeadRequestGetsTheHeadOnlyWithTheBodysLength() {
        let out = ByteBuffer(capacity: 64)
        ResponseWriter(out: out).local(status: 503, body: Array("{\"x\":1}".utf8), requestId: [], close: true,
                                       requestMinor: 1, headMethod: true)
        XCTAssertEqual(text(out), "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 8\r\n"
                       + "Connection: close\r\n\r\n")
    }

    func testLocal204HasNoBodyAndPluginLinesBeforeTheEnd() {
        let out = ByteBuffer(capacity: 64)
        ResponseWriter(out: out).local(status: 204, body: nil, requestId: [], close: false, requestMinor: 0, headMethod: false) { o in
            o.appendHeaderLine(Array("Vary".utf8), Array("Origin".utf8))
        }
        XCTAssertEqual(text(out), "HTTP/1.1 204 No Content\r\nVary: Origin\r\nConnection: keep-alive\r\n\r\n")
    }

    // MARK: relayed responses

    func testRelayDropsHopByHopAndNominatedHeaders() {
        let (head, framing) = relay("HTTP/1.1 200 Fine\r\nContent-Length: 2\r\nConnection: x-secret, keep-alive\r\n"
                                    + "Keep-Alive: timeout=5\r\nX-Secret: 1\r\nUpgrade: h2c\r\nProxy-Authenticate: Basic\r\n"
                                    + "TE: trailers\r\nX-Kept: yes\r\n\r\n")
        XCTAssertEqual(framing, RelayFraming(keepAlive: true, decodeChunks: false))
        XCTAssertEqual(head, "HTTP/1.1 200 Fine\r\nContent-Length: 2\r\nX-Kept: yes\r\n\r\n")
    }

    func testRelayDropsConfiguredNamesInAnyCase() {
        let (head, _) = relay("HTTP/1.1 200 OK\r\nServer: x\r\nSERVER: y\r\nX-Powered-By: z\r\nContent-Length: 0\r\n\r\n",
                              drop: [Array("server".utf8), Array("x-powered-by".utf8)])
        XCTAssertEqual(head, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    }

    func testRelayChunkedToHTTP10ClientIsDecodedAndCloses() {
        let (head, framing) = relay("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", requestMinor: 0)
        XCTAssertEqual(framing, RelayFraming(keepAlive: false, decodeChunks: true))
        XCTAssertEqual(head, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", "no Transfer-Encoding: the body is sent decoded")
        let (head11, framing11) = relay("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", requestMinor: 1)
        XCTAssertEqual(framing11, RelayFraming(keepAlive: true, decodeChunks: false))
        XCTAssertEqual(head11, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    }

    func testRelayBodyUntilCloseEndsTheConnection() {
        let (head, framing) = relay("HTTP/1.1 200 OK\r\nX: 1\r\n\r\n")
        XCTAssertEqual(framing, RelayFraming(keepAlive: false, decodeChunks: false))
        XCTAssertEqual(head, "HTTP/1.1 200 OK\r\nX: 1\r\nConnection: close\r\n\r\n")
    }

    func testSwitchingProtocolsKeepsNoFramingHeaders() {
        let raw = Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 5\r\nSec-WebSocket-Accept: k\r\n\r\n".utf8)
        raw.withUnsafeBufferPointer { bp in
            guard let base = bp.baseAddress else { return XCTFail("bytes") }
            var scanner = HeadScanner()
            let n = scanner.scan(base, bp.count, maxHead: 4096, maxStartLine: 4096)
            var head = ResponseHead()
            _ = HeadParser.parseResponse(base, base: 0, len: n, into: &head, requestWasHead: false)
            let out = ByteBuffer(capacity: 128)
            ResponseWriter(out: out).switchingProtocols(head, base)
            XCTAssertEqual(text(out), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: k\r\nConnection: Upgrade\r\n\r\n")
        }
    }

    // MARK: request-target helpers

    func testTargetForms() throws {
        try withBytes("/a/b?x=1") { p, n in
            let t = try XCTUnwrap(RequestTarget.parse(p, start: 0, length: n))
            XCTAssertEqual(t.form, .origin)
            XCTAssertEqual(t.pathStart, 0)
            XCTAssertEqual(t.pathLength, 4)
            XCTAssertEqual(t.queryStart, 4)
            XCTAssertTrue(t.hasQuery)
        }
        try withBytes("http://example.com:8080/p") { p, n in
            let t = try XCTUnwrap(RequestTarget.parse(p, start: 0, length: n))
            XCTAssertEqual(t.form, .absolute)
            XCTAssertEqual(String(decoding: UnsafeBufferPointer(start: p + t.authorityStart, count: t.authorityLength), as: UTF8.self),
                           "example.com:8080")
            XCTAssertEqual(t.pathLength, 2)
            XCTAssertFalse(t.hasQuery)
        }
        try withBytes("https://h?q") { p, n in
            let t = try XCTUnwrap(RequestTarget.parse(p, start: 0, length: n))
            XCTAssertEqual(t.pathLength, 0, "no path: the router and the upstream see /")
            XCTAssertEqual(t.queryStart, 9)
        }
        withBytes("*") { p, n in XCTAssertEqual(RequestTarget.parse(p, start: 0, length: n)?.form, .asterisk) }
        withBytes("http:///p") { p, n in XCTAssertNil(RequestTarget.parse(p, start: 0, length: n), "absolute-form without authority") }
    }

    func testHostChecks() {
        func without(_ s: String) -> String {
            withBytes(s) { p, n in String(decoding: UnsafeBufferPointer(start: p, count: HostName.lengthWithoutPort(p, n)), as: UTF8.self) }
        }
        XCTAssertEqual(without("example.com:8080"), "example.com")
        XCTAssertEqual(without("example.com."), "example.com")
        XCTAssertEqual(without("[::1]:443"), "[::1]")
        XCTAssertEqual(without("host:"), "host")
        for bad in ["a b", "a/b", "a@b", "a%2eb", "é"] {
            withBytes(bad) { p, n in XCTAssertFalse(HostName.isValid(p, n), bad) }
        }
        for bad in ["", ".a", "a..b", "[]", "[::1"] {
            withBytes(bad) { p, n in XCTAssertFalse(HostName.isWellFormed(p, n), bad) }
        }
        withBytes("a.b-c_d") { p, n in XCTAssertTrue(HostName.isWellFormed(p, n) && HostName.isValid(p, n)) }
    }

    func testRequestIDs() {
        withBytes("abc-123_x.y:z") { p, n in XCTAssertTrue(RequestID.isValid(p, n)) }
        for bad in ["", "a b", "a\r\nX-Injected: 1", String(repeating: "a", count: 129)] {
            withBytes(bad) { p, n in XCTAssertFalse(RequestID.isValid(p, n), bad) }
        }
    }

    func testQueryParamsDecodingAndStripping() {
        withBytes("?apikey=k%41y&a=1&&flag&apikey=x+y") { p, n in
            var pairs: [String] = []
            QueryString.forEachParam(p, from: 1, to: n) { ns, nl, vs, vl in
                let name = String(decoding: UnsafeBufferPointer(start: p + ns, count: nl), as: UTF8.self)
                pairs.append(name + "=" + String(decoding: QueryString.percentDecode(p + vs, vl), as: UTF8.self))
            }
            XCTAssertEqual(pairs, ["apikey=kAy", "a=1", "flag=", "apikey=x y"])
            let out = ByteBuffer(capacity: 64)
            QueryString.append(to: out, p, from: 0, to: n, strip: Array("apikey".utf8))
            XCTAssertEqual(text(out), "?a=1&flag", "every copy of the key parameter is gone, the rest as sent")
            let none = ByteBuffer(capacity: 8)
            withBytes("?apikey=1") { q, m in QueryString.append(to: none, q, from: 0, to: m, strip: Array("apikey".utf8)) }
            XCTAssertEqual(text(none), "", "no lone ? is left")
        }
        withBytes("%4") { p, n in XCTAssertEqual(QueryString.percentDecode(p, n), Array("%4".utf8), "a short escape is kept") }
    }
}
