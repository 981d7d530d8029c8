import Foundation
import RampartGateway
import RampartModel
import TestSupport
import XCTest
@testable import RampartController

/// SSL resources through SnapshotBuilder: validation at reconcile and what reaches the gateway.
final class SSLSnapshotTests: XCTestCase {
    static let pkiBox = Result { try TestPKI() }

    func state(_ yaml: String) -> DesiredState {
        let r = ManifestDecoder(dev: true).decode(file: "t.yaml", bytes: Array(yaml.utf8))
        XCTAssertEqual(r.diagnostics.filter { $0.severity == .error }.map(\.description), [])
        return DesiredState(generation: 1, origin: "test", resources: Dictionary(r.resources.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a }))
    }

    func testValidCertificatesServedInvalidOnesNotWithReasons() throws {
        let pki = try Self.pkiBox.get()
        try (pki.pem("exact.crt") + pki.pem("ca.crt")).write(toFile: pki.path("exact-chain.crt"), atomically: true, encoding: .utf8)
        try (pki.pem("ca.crt") + pki.pem("exact.crt")).write(toFile: pki.path("reversed-chain.crt"), atomically: true, encoding: .utf8)
        let yaml = [
            pki.sslManifest("exact", cert: "exact-chain.crt", key: "exact.key", snis: ["api.example.com"]),
            pki.sslManifest("wild", cert: "wild.crt", key: "wild.key", snis: ["*.example.com", "x.example.com"], isDefault: true,
                            clientAuth: (ca: "ca.crt", mode: "optional"), minVersion: "TLSv1.3"),
            pki.sslManifest("reversed", cert: "reversed-chain.crt", key: "exact.key", snis: ["api.example.com"]),
            pki.sslManifest("expired", cert: "expired.crt", key: "expired.key", snis: ["old.example.com"]),
            pki.sslManifest("wrongkey", cert: "exact.crt", key: "wrong.key", snis: ["api.example.com"]),
            pki.sslManifest("uncovered", cert: "wild.crt", key: "wild.key", snis: ["a.b.example.com"]),
        ].joined(separator: "---\n")
        let out = SnapshotBuilder.build(state(yaml))
        let served = Dictionary(uniqueKeysWithValues: out.snapshot.certificates.map { ($0.name, $0) })
        XCTAssertEqual(Set(served.keys), ["default/exact", "default/wild"])
        XCTAssertEqual(served["default/exact"]?.chain.count, 2)
        XCTAssertEqual(served["default/wild"]?.isDefault, true)
        XCTAssertEqual(served["default/wild"]?.minVersion, .tls13)
        XCTAssertEqual(served["default/wild"]?.clientAuth?.required, false)
        XCTAssertEqual(served["default/exact"]?.isDefault, false)
        func reason(_ n: String) -> String { out.notServed[ResourceKey(.ssl, "default", n)] ?? "" }
        XCTAssertTrue(reason("reversed").contains("chain out of order"), reason("reversed"))
        XCTAssertTrue(reason("expired").contains("expired at 2020-02-01"), reason("expired"))
        XCTAssertTrue(reason("wrongkey").contains("does not match"), reason("wrongkey"))
        XCTAssertTrue(reason("uncovered").contains("\"a.b.example.com\" is not covered"), reason("uncovered"))
        // 20-day certificates: warnings, still served.
        XCTAssertTrue(out.warnings[ResourceKey(.ssl, "default", "exact")]?.contains("expires in") ?? false)
        // No key material in any reason or warning.
        let keyLine = String(pki.pem("wrong.key").split(separator: "\n")[1])
        XCTAssertFalse((Array(out.notServed.values) + Array(out.warnings.values)).joined().contains(keyLine))
        // Far from expiry: no warning.
        let early = SnapshotBuilder.build(state(pki.sslManifest("exact", cert: "exact.crt", key: "exact.key", snis: ["api.example.com"])),
                                          now: Date().addingTimeInterval(-30 * 86400))
        XCTAssertTrue(early.warnings.isEmpty)
    }

    func testHTTPSUpstreamResolvesCARefAndClientCert() throws {
        let pki = try Self.pkiBox.get()
        let yaml = [
            pki.sslManifest("ca", cert: "ca.crt", key: nil, snis: [], type: "client"),
            pki.sslManifest("me", cert: "client.crt", key: "client.key", snis: [], type: "client"),
            "apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: a}\nspec:\n  nodes: [{host: 127.0.0.1, port: 1}]\n  scheme: https\n  tls: {sni: a.internal, caRef: {name: ca}, clientCertRef: {name: me}}\n",
            "apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: b}\nspec:\n  nodes: [{host: 127.0.0.1, port: 1}]\n  scheme: https\n  tls: {caRef: {name: missing}}\n",
            "apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: c}\nspec:\n  nodes: [{host: 127.0.0.1, port: 1}]\n  scheme: https\n",
        ].joined(separator: "---\n")
        let out = SnapshotBuilder.build(state(yaml))
        let a = try XCTUnwrap(out.snapshot.upstreams["default/a"]?.tls)
        XCTAssertEqual(a.sni, "a.internal")
        XCTAssertTrue(a.verify)
        XCTAssertEqual(a.ca?.first?.subjectCommonName, "Rampart Test CA")
        XCTAssertEqual(a.clientChain.first?.subjectCommonName, "client-one")
        XCTAssertNotNil(a.clientKey)
        XCTAssertNil(out.snapshot.upstreams["default/b"])
        XCTAssertTrue(out.notServed[ResourceKey(.upstream, "default", "b")]?.contains("caRef") ?? false)
        XCTAssertEqual(out.snapshot.upstreams["default/c"]?.scheme, "https")
        XCTAssertNil(out.snapshot.upstreams["default/c"]?.tls?.ca, "no caRef: the system store")
    }
}
