@testable import RampartModel
import XCTest

/// regexUri is compiled by one engine (Swift Regex) for validation and serving alike.
final class RewriteRegexTests: XCTestCase {
    /// Syntax ICU (NSRegularExpression) accepts and Swift Regex does not: once passed by validation and
    /// refused by the gateway, now refused at validation with the field named.
    static let icuOnly = ["(?<=/api)/(.*)", "(?<!x)/secure/(.*)", "(?w)\\bfoo", "\\p{InBasicLatin}+"]

    private func errors(_ pattern: String) -> [String] {
        let yaml = "apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: r}\nspec:\n  upstreamRef: {name: u}\n"
            + "  paths: [/x]\n  plugins:\n    proxy-rewrite: {regexUri: ['\(pattern)', /v2/$1]}\n"
        return ManifestDecoder(dev: true).decode(file: "t.yaml", bytes: Array(yaml.utf8)).diagnostics
            .filter { $0.severity == .error }.map(\.description)
    }

    func testICUOnlySyntaxIsRefusedAtValidation() {
        for pattern in Self.icuOnly {
            XCTAssertThrowsError(try RewriteRegex(pattern: pattern, replacement: ""), pattern)
            let found = errors(pattern)
            XCTAssertEqual(found.count, 1, "\(pattern): \(found)")
            XCTAssertTrue(found.first?.contains("spec.plugins.proxy-rewrite.regexUri[0]") ?? false, "\(pattern): \(found)")
        }
    }

    func testWhatValidatesRewrites() throws {
        XCTAssertEqual(errors("^/api/(.*)"), [])
        let rx = try RewriteRegex(pattern: "^/api/(\\w+)/(\\d+)", replacement: "/v2/$2/$1$9")
        XCTAssertEqual(rx.rewrite("/api/users/42?x"), "/v2/42/users?x", "unknown groups ($9) are empty")
        XCTAssertNil(rx.rewrite("/other"))
        XCTAssertEqual(try RewriteRegex(pattern: "/a", replacement: "$").rewrite("/x/a/y"), "/x$/y", "a lone $ is literal")
    }
}
