import XCTest
@testable import RampartModel

/// Manifests that would open a hole at serving time are refused at validation, with the field named.
final class HardeningValidationTests: XCTestCase {
    private func errors(_ yaml: String) -> [String] {
        ManifestDecoder(dev: true).decode(file: "t.yaml", bytes: Array(yaml.utf8)).diagnostics
            .filter { $0.severity == .error }.map(\.description)
    }

    private func route(_ spec: String) -> String {
        "apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: r}\nspec:\n  upstreamRef: {name: u}\n" + spec
    }

    func testCredentialedCORSNeedsListedOrigins() {
        let anyOrigin = errors(route("  paths: [/x]\n  plugins:\n    cors: {allowCredentials: true}\n"))
        XCTAssertEqual(anyOrigin.count, 1, anyOrigin.joined(separator: "\n"))
        XCTAssertTrue(anyOrigin.first?.contains("spec.plugins.cors.allowOrigins") ?? false, anyOrigin.joined())
        let star = errors(route("  paths: [/x]\n  plugins:\n    cors: {allowCredentials: true, allowOrigins: [\"*\"]}\n"))
        XCTAssertEqual(star.count, 1, star.joined(separator: "\n"))
        XCTAssertEqual(errors(route("  paths: [/x]\n  plugins:\n    cors: {allowCredentials: true, allowOrigins: [\"https://a.example\"]}\n")), [])
        XCTAssertEqual(errors(route("  paths: [/x]\n  plugins:\n    cors: {allowOrigins: [\"*\"]}\n")), [])
    }

    func testRoutePathsMustBeInTheNormalFormRequestsAreMatchedIn() {
        let doubled = errors(route("  paths: [\"//admin/*\"]\n"))
        XCTAssertEqual(doubled.count, 1)
        XCTAssertTrue(doubled.first?.contains("spec.paths[0]") ?? false, doubled.joined())
        XCTAssertTrue(doubled.first?.contains("write \"/admin/*\"") ?? false, doubled.joined())
        XCTAssertEqual(errors(route("  paths: [\"/a;b\"]\n")).count, 1)
        XCTAssertEqual(errors(route("  paths: [\"/%61dmin\"]\n")).count, 1)
        XCTAssertEqual(errors(route("  paths: [\"/admin/*\", \"/a%2Fb\"]\n")).count, 1)
        XCTAssertEqual(errors(route("  paths: [\"/admin/*\", \"/caf%C3%A9\"]\n")), [])
    }
}
