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

/// Inputs the fuzz targets (Fuzz/) found, each kept as a regression test beside the code it broke.
final class FuzzFindingsTests: XCTestCase {
    private func decode(_ yaml: String) -> ManifestDecoder.Result {
        ManifestDecoder(dev: true).decode(file: "t.yaml", bytes: Array(yaml.utf8))
    }

    private func secretRef(_ spec: String) -> String {
        "apiVersion: rampart.io/v1alpha1\nkind: SecretRef\nmetadata: {name: keyring-keys}\nspec:\n  provider: vault\n" + spec
    }

    /// FuzzManifest crash-7a0ef079 (minimized): `auth: {appRole: ~}` validated, because the one-auth rule counted the
    /// null entry while the schema checker skipped it (and appRole's required roleId/secretId with it). Its canonical
    /// form, which leaves nulls out, then failed validation; serving it would have failed at secret resolution.
    func testAnExplicitNullIsAnAbsentFieldForTheSecretRefRules() {
        let vault = "  vault:\n    address: https://vault.internal:8200\n    path: secret/gateway/keyring\n"
        let nullAuth = decode(secretRef(vault + "    auth:\n      appRole:\n"))
        XCTAssertTrue(nullAuth.resources.isEmpty)
        XCTAssertTrue(nullAuth.diagnostics.contains { $0.description.contains("spec.vault.auth: give exactly one of token, kubernetes, appRole") },
                      nullAuth.diagnostics.map(\.description).joined(separator: "\n"))
        // A null beside a real method is that method alone.
        let withToken = decode(secretRef(vault + "    auth:\n      appRole: ~\n      token: {secretRef: {name: t}}\n"))
        XCTAssertEqual(withToken.resources.count, 1, withToken.diagnostics.map(\.description).joined(separator: "\n"))
        // The provider's own block given as null is missing, and another provider's null block is not "set".
        let nullBlock = decode(secretRef("  vault: ~\n  env: ~\n"))
        XCTAssertTrue(nullBlock.resources.isEmpty)
        XCTAssertTrue(nullBlock.diagnostics.contains { $0.description.contains("provider vault needs a spec.vault block") })
        XCTAssertFalse(nullBlock.diagnostics.contains { $0.description.contains("set, but provider is") })
    }
}
