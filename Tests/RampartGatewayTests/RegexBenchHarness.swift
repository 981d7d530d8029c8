import Foundation
import RampartModel
import XCTest

/// Not a test: measures a regexUri rewrite with the engine the gateway uses (Swift Regex, through
/// RewriteRegex) against ICU's NSRegularExpression, when RAMPART_BENCH_REGEX is set (skipped otherwise).
/// Debug builds distort both; measured -O (swiftc) on this machine: ~1.8 us against ~1.2 us a match.
final class RegexBenchHarness: XCTestCase {
    func testRewriteCostPerEngine() throws {
        guard ProcessInfo.processInfo.environment["RAMPART_BENCH_REGEX"] != nil else {
            throw XCTSkip("regex bench: RAMPART_BENCH_REGEX not set")
        }
        let pattern = "^/v1/([a-z]+)/(\\d+)$", path = "/v1/orders/123456", rounds = 100_000
        let swift = try RewriteRegex(pattern: pattern, replacement: "/v2/$2/$1")
        let icu = try NSRegularExpression(pattern: pattern)
        var sink = 0
        var start = Date()
        for _ in 0..<rounds { sink &+= swift.rewrite(path)?.utf8.count ?? 0 }
        let swiftNs = Date().timeIntervalSince(start) / Double(rounds) * 1e9
        start = Date()
        for _ in 0..<rounds {
            let range = NSRange(location: 0, length: path.utf16.count)
            sink &+= icu.stringByReplacingMatches(in: path, range: range, withTemplate: "/v2/$2/$1").utf8.count
        }
        let icuNs = Date().timeIntervalSince(start) / Double(rounds) * 1e9
        print("regexUri rewrite: Swift Regex \(Int(swiftNs)) ns, NSRegularExpression \(Int(icuNs)) ns (\(sink))")
    }
}
