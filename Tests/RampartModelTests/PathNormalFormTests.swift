import RampartModel
import XCTest

/// The one normal form that routing and forwarding share (and that Route paths are written in).
final class PathNormalFormTests: XCTestCase {
    private func normal(_ s: String) -> String? {
        PathNormalForm.normalize(Array(s.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    func testNormalForms() {
        let cases: [(String, String?)] = [
            ("/", "/"),
            ("/orders", "/orders"),
            ("/orders/", "/orders/"),
            // percent-encoded unreserved characters are decoded
            ("/%61dmin/x", "/admin/x"),
            ("/%41%5a%7e%2D%2e%5F", "/AZ~-._"),
            // other escapes keep their %, hex digits upper-cased
            ("/a%3fb", "/a%3Fb"),
            ("/a%20b", "/a%20b"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a%23b", "/a%23b"),
            ("/a%3bb", "/a%3Bb"),
            // merged slashes
            ("//admin/x", "/admin/x"),
            ("/a///b//", "/a/b/"),
            // dot segments, after decoding
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/a/b/../../c", "/c"),
            ("/a/.", "/a/"),
            ("/a/..", "/"),
            ("/a/%2e%2e/admin", "/admin"),
            ("/a/.%2E/admin", "/admin"),
            ("/public/..//admin", "/admin"),
            ("/.hidden/..x/...", "/.hidden/..x/..."),
            // raw bytes a path may not hold are escaped
            ("/a\"b", "/a%22b"),
            ("/a{b}|^`", "/a%7Bb%7D%7C%5E%60"),
            ("/caf\u{e9}", "/caf%C3%A9"),
            // case is significant
            ("/Admin", "/Admin"),
            // refused
            ("/a%2fb", nil), ("/a%2Fb", nil), ("/a%5cb", nil), ("/a\\b", nil),
            ("/a%00", nil), ("/a%0a", nil), ("/a%7f", nil),
            ("/a#b", nil), ("/admin;x/y", nil),
            ("/..", nil), ("/a/../..", nil), ("/%2e%2e/etc", nil), ("/../a", nil),
            ("/a%", nil), ("/a%2", nil), ("/a%zz", nil), ("/a%g0", nil),
            ("a", nil), ("", nil),
        ]
        for (input, expected) in cases {
            XCTAssertEqual(normal(input), expected, "normal form of \(input)")
        }
    }

    func testNormalizingIsIdempotentAndNeverLeavesDotsOrDoubleSlashes() {
        let samples = ["/a/%2e/b", "//x//y/", "/%7e/../%7E", "/a/b/c/../../d/./e//", "/x%c3%a9/.%2e/y", "/a/b%2F"]
        for s in samples {
            guard let once = PathNormalForm.normalize(Array(s.utf8)) else { continue }
            XCTAssertEqual(PathNormalForm.normalize(once), once, s)
            let text = String(decoding: once, as: UTF8.self)
            for bad in ["//", "/./", "/../"] { XCTAssertFalse(text.contains(bad), "\(s) → \(text)") }
            XCTAssertFalse(text.hasSuffix("/.") || text.hasSuffix("/.."), text)
        }
    }

    func testScratchTooSmallIsRefusedNotOverrun() {
        let path = Array("/\u{e9}\u{e9}".utf8)
        let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 4)
        defer { scratch.deallocate() }
        let result = path.withUnsafeBufferPointer { PathNormalForm.normalize($0.baseAddress!, $0.count, scratch: scratch, capacity: 4) }
        XCTAssertNil(result)
    }

    func testRoutePathsMustBeInNormalForm() {
        XCTAssertNil(Values.routePathNormalFormProblem("/orders/*"))
        XCTAssertNil(Values.routePathNormalFormProblem("/"))
        XCTAssertEqual(Values.routePathNormalFormProblem("//orders/*"), "is not in normal form and would never match; write \"/orders/*\"")
        XCTAssertEqual(Values.routePathNormalFormProblem("/%61dmin"), "is not in normal form and would never match; write \"/admin\"")
        XCTAssertNotNil(Values.routePathNormalFormProblem("/a;b"))
        XCTAssertNotNil(Values.routePathNormalFormProblem("/a/../.."))
    }
}
