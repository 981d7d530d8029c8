import XCTest
@testable import RampartGateway

final class RouterTests: XCTestCase {
    func snap(_ routes: [RouteConfig]) -> CompiledSnapshot {
        CompiledSnapshot(GatewaySnapshot(generation: 1, routes: routes, upstreams: [:]), registry: HealthRegistry(), loops: 1)
    }

    func r(_ id: String, hosts: [String] = [], paths: [String], methods: [String] = [], headers: [HeaderPair] = [],
           priority: Int = 0) -> RouteConfig {
        RouteConfig(id: id, hosts: hosts, paths: paths, methods: methods, headers: headers, priority: priority, upstream: "u")
    }

    func testPrecedenceTable() {
        let s = snap([
            r("any-prefix", paths: ["/*"]),
            r("any-orders-prefix", paths: ["/orders/*"]),
            r("any-orders-exact", paths: ["/orders"]),
            r("wild-prefix", hosts: ["*.example.com"], paths: ["/*"]),
            r("wild-orders", hosts: ["*.example.com"], paths: ["/orders/*"]),
            r("exact-host-root", hosts: ["api.example.com"], paths: ["/*"]),
            r("exact-host-v1", hosts: ["api.example.com"], paths: ["/v1/*"]),
            r("exact-host-v1-exact", hosts: ["api.example.com"], paths: ["/v1/"]),
            r("prio-low", hosts: ["prio.test"], paths: ["/p"], priority: 1),
            r("prio-high", hosts: ["prio.test"], paths: ["/p"], priority: 5),
            r("name-b", hosts: ["name.test"], paths: ["/n"]),
            r("name-a", hosts: ["name.test"], paths: ["/n"]),
            r("post-only", hosts: ["m.test"], paths: ["/m"], methods: ["POST"]),
            r("m-any", hosts: ["m.test"], paths: ["/*"]),
            r("canary", hosts: ["h.test"], paths: ["/h"], headers: [HeaderPair(name: "X-Canary", value: "1")], priority: 0),
            r("stable", hosts: ["h.test"], paths: ["/h"], priority: -1),
        ])
        let table: [(host: String, path: String, method: String, headers: [HeaderPair], want: String?)] = [
            ("other.org", "/", "GET", [], "any-prefix"),
            ("other.org", "/orders", "GET", [], "any-orders-exact"),
            ("other.org", "/orders/", "GET", [], "any-orders-prefix"),
            ("other.org", "/orders/1", "GET", [], "any-orders-prefix"),
            ("other.org", "/ordersX", "GET", [], "any-prefix"),
            ("shop.example.com", "/x", "GET", [], "wild-prefix"),
            ("shop.example.com", "/orders/9", "GET", [], "wild-orders"),
            ("SHOP.Example.COM:8080", "/orders/9", "GET", [], "wild-orders"),
            ("a.b.example.com", "/x", "GET", [], "any-prefix"),        // wildcard is one label
            ("example.com", "/x", "GET", [], "any-prefix"),
            ("api.example.com", "/x", "GET", [], "exact-host-root"),   // exact host beats wildcard
            ("api.example.com", "/orders/1", "GET", [], "exact-host-root"), // host first, then path
            ("api.example.com", "/v1/a", "GET", [], "exact-host-v1"),
            ("api.example.com", "/v1/", "GET", [], "exact-host-v1-exact"), // exact beats prefix of same length
            ("api.example.com.", "/v1/a", "GET", [], "exact-host-v1"),
            ("prio.test", "/p", "GET", [], "prio-high"),
            ("name.test", "/n", "GET", [], "name-a"),
            ("m.test", "/m", "POST", [], "post-only"),
            ("m.test", "/m", "GET", [], "m-any"),
            ("h.test", "/h", "GET", [HeaderPair(name: "x-canary", value: "1")], "canary"),
            ("h.test", "/h", "GET", [HeaderPair(name: "x-canary", value: "2")], "stable"),
            ("h.test", "/other", "GET", [], "any-prefix"),
        ]
        for t in table {
            XCTAssertEqual(s.lookup(host: t.host, path: t.path, method: t.method, headers: t.headers)?.config.id, t.want,
                           "\(t.method) \(t.host)\(t.path)")
        }
    }

    func testNoMatch() {
        let s = snap([r("a", hosts: ["a.test"], paths: ["/a"])])
        XCTAssertNil(s.lookup(host: "a.test", path: "/b"))
        XCTAssertNil(s.lookup(host: "b.test", path: "/a"))
        XCTAssertNil(s.lookup(host: "a.test", path: "/a/"))
    }

    func testManyRoutesStillMatchExactly() {
        var routes: [RouteConfig] = []
        for i in 0..<10_000 { routes.append(r("r\(i)", paths: ["/svc\(i)/*"])) }
        let s = snap(routes)
        XCTAssertEqual(s.lookup(host: "x", path: "/svc1234/a")?.config.id, "r1234")
        XCTAssertEqual(s.lookup(host: "x", path: "/svc9999/")?.config.id, "r9999")
        XCTAssertNil(s.lookup(host: "x", path: "/svc10000/"))
    }

    func testCIDR() {
        let v4 = CIDR("10.0.0.0/8")
        XCTAssertEqual(v4?.contains(CIDR.parseIP("10.1.2.3") ?? []), true)
        XCTAssertEqual(v4?.contains(CIDR.parseIP("11.1.2.3") ?? []), false)
        XCTAssertEqual(v4?.contains(CIDR.parseIP("::ffff:10.9.9.9") ?? []), true)
        let v6 = CIDR("2001:db8::/32")
        XCTAssertEqual(v6?.contains(CIDR.parseIP("2001:db8:1::1") ?? []), true)
        XCTAssertEqual(v6?.contains(CIDR.parseIP("2001:db9::1") ?? []), false)
        XCTAssertNil(CIDR("10.0.0.0/33"))
        XCTAssertNil(CIDR("nope"))
        XCTAssertEqual(CIDR("192.168.1.7")?.prefix, 32)
        XCTAssertEqual(CIDR("10.0.0.0/12")?.contains(CIDR.parseIP("10.15.255.255") ?? []), true)
        XCTAssertEqual(CIDR("10.0.0.0/12")?.contains(CIDR.parseIP("10.16.0.0") ?? []), false)
    }

    func testChunkedParser() {
        func run(_ s: String) -> (ok: Bool, data: String, done: Bool) {
            var p = ChunkedParser()
            var data = [UInt8]()
            let bytes = Array(s.utf8)
            var off = 0
            // one byte at a time, to exercise every state boundary
            while off < bytes.count && !p.isDone {
                let r = bytes[off...off].withUnsafeBufferPointer { p.next($0.baseAddress!, 1) }
                switch r {
                case .error: return (false, "", false)
                case .framing(let k): off += k
                case .data(let k): data += bytes[off..<(off + k)]; off += k
                }
            }
            return (true, String(decoding: data, as: UTF8.self), p.isDone)
        }
        XCTAssertEqual(run("3\r\nabc\r\n0\r\n\r\n").data, "abc")
        XCTAssertTrue(run("3\r\nabc\r\nA;x=y\r\n0123456789\r\n0\r\nT: v\r\n\r\n").done)
        XCTAssertFalse(run("g\r\n").ok)
        XCTAssertFalse(run("3\nabc").ok)
        XCTAssertFalse(run("3\r\nabcd\r\n").ok)
        XCTAssertFalse(run("\r\n").ok)
        XCTAssertFalse(run("0\r\n folded\r\n\r\n").ok)
    }
}
