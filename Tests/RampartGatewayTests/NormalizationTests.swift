import Foundation
import XCTest
@testable import RampartGateway
import TestSupport

/// The router and the upstream read the same path, and no header a client sends can pose as one
/// the gateway vouches for.
final class NormalizationTests: XCTestCase {
    var open: TestUpstream!
    var admin: TestUpstream!
    var gw: TestGateway!

    override func setUpWithError() throws {
        open = try TestUpstream(name: "open")
        admin = try TestUpstream(name: "admin")
        gw = try TestGateway(GatewaySnapshot(generation: 1, routes: [
            route("default/all", upstream: "default/open"),
            route("default/admin", paths: ["/admin/*"], upstream: "default/admin"),
        ], upstreams: [
            "default/open": upstreamConfig("default/open", [open]),
            "default/admin": upstreamConfig("default/admin", [admin]),
        ]), config: GatewayConfig(workers: 1))
    }

    override func tearDown() {
        gw?.stop()
        open?.stop()
        admin?.stop()
    }

    func testPathTricksAreRoutedAndForwardedInOneNormalForm() throws {
        let tricks = ["/%61dmin/x", "//admin/x", "/admin//x", "/./admin/x", "/public/../admin/x", "/a/%2e%2e/admin/x",
                      "/a/.%2E/admin/x", "/%2561dmin/../admin/x", "///admin///x"]
        for path in tricks {
            let r = gw.get(path)
            XCTAssertEqual(r?.status, 200, path)
            XCTAssertEqual(r?.echoServer, "admin", "\(path) must reach the /admin/* route")
            XCTAssertEqual(r?.echoTarget, "/admin/x", "\(path) must be forwarded as the path that was routed")
        }
        XCTAssertEqual(open.requestCount, 0, "no trick may reach the open route")
    }

    func testQueryIsForwardedAsSentAndOtherEscapesUpperCased() throws {
        let r = gw.get("/%61dmin/a%3fb%c3%a9?q=%61&x=%2f..//")
        XCTAssertEqual(r?.echoServer, "admin")
        XCTAssertEqual(r?.echoTarget, "/admin/a%3Fb%C3%A9?q=%61&x=%2f..//")
    }

    func testAbsoluteFormIsNormalizedToo() throws {
        let c = try RawClient(port: gw.port)
        c.send("GET http://example.com//%61dmin/./x HTTP/1.1\r\nHost: example.com\r\n\r\n")
        let r = c.readResponse()
        XCTAssertEqual(r?.status, 200)
        XCTAssertEqual(r?.echoServer, "admin")
        XCTAssertEqual(r?.echoTarget, "/admin/x")
    }

    func testCaseStaysSignificant() throws {
        XCTAssertEqual(gw.get("/ADMIN/x")?.echoServer, "open")
        XCTAssertEqual(gw.get("/%41dmin/x")?.echoServer, "open")
    }

    func testClientCannotPoseAsTheGatewayOrATrustedProxy() throws {
        let spoofed = [
            "Forwarded: for=10.0.0.1;proto=https", "X-Forwarded-Port: 443", "X-Forwarded-Prefix: /internal",
            "True-Client-IP: 10.0.0.1", "X-Original-URL: /admin/x", "X-Rewrite-URL: /admin/x", "X-Client-IP: 10.0.0.1",
            "X-Cluster-Client-IP: 10.0.0.1", "CF-Connecting-IP: 10.0.0.1", "X-Forwarded-Server: internal",
            "X_Forwarded_For: 10.0.0.1", "X_Real_IP: 10.0.0.1", "x_forwarded_proto: https", "X_Forwarded_Host: evil",
            "X-Client-Cert-Subject: CN=admin", "X_Client_Cert_Subject: CN=admin", "X_Request_Id: forged",
            "Content_Length: 5", "Transfer_Encoding: chunked",
        ]
        let r = gw.get("/x", headers: spoofed + ["X-Forwarded-For: 10.0.0.9", "X-Real-IP: 10.0.0.9", "X-Keep: yes"])
        XCTAssertEqual(r?.status, 200)
        let names = Set((r?.echoHeaders ?? []).map { $0.0.lowercased() })
        for header in spoofed {
            let name = String(header.prefix { $0 != ":" }).lowercased()
            XCTAssertFalse(names.contains(name), "\(name) must not reach the upstream from an untrusted client")
        }
        XCTAssertEqual(r?.echoHeader("X-Forwarded-For"), "127.0.0.1", "the client's own X-Forwarded-For is replaced")
        XCTAssertEqual(r?.echoHeader("X-Real-IP"), "127.0.0.1")
        XCTAssertEqual(r?.echoHeader("X-Keep"), "yes", "ordinary headers pass")
    }

    func testUpstreamCannotNominateFramingHeaders() throws {
        for name in ["content-length", "Transfer-Encoding", "content_length"] {
            let r = gw.get("/nominate/\(name)")
            XCTAssertEqual(r?.status, 502, name)
            XCTAssertFalse(r?.bodyString.contains("smuggled") ?? true, name)
        }
        // An ordinary hop-by-hop nomination is still honoured (the nominated header is dropped).
        let r = gw.get("/nominate/x-hop")
        XCTAssertEqual(r?.status, 200)
        XCTAssertEqual(r?.bodyString, "hello")
    }

    func testHeadIsCaseSensitive() throws {
        let c = try RawClient(port: gw.port)
        c.send("HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = c.readResponse(headRequest: true)
        XCTAssertEqual(r?.status, 200)
        XCTAssertEqual(r?.body.count, 0)
        XCTAssertEqual(admin.requestCount + open.requestCount, 1)
    }
}
