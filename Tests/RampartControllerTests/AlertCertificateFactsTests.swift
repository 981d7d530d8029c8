import Foundation
import RampartAlerts
import RampartCrypto
import RampartModel
import TestSupport
import XCTest
@testable import RampartController

/// The certificates `certificateExpiry` watches besides those served by SNI: client certificates, CA-only SSLs
/// and the CAs that verify client certificates (mTLS), each CA of a bundle on its own.
final class AlertCertificateFactsTests: XCTestCase {
    static let pkiBox = Result { try TestPKI() }

    func testClientCertificatesCAOnlySSLsAndClientAuthCAsAreWatched() throws {
        let pki = try Self.pkiBox.get()
        try (pki.pem("ca.crt") + pki.pem("otherca.crt")).write(toFile: pki.path("two-cas.crt"), atomically: true, encoding: .utf8)
        let yaml = [
            pki.sslManifest("gw", cert: "client.crt", key: "client.key", snis: [], type: "client"),
            pki.sslManifest("internal-ca", cert: "ca.crt", key: nil, snis: [], type: "client"),
            pki.sslManifest("two-cas", cert: "two-cas.crt", key: nil, snis: [], type: "client"),
            pki.sslManifest("mtls", cert: "wild.crt", key: "wild.key", snis: ["*.example.com"], clientAuth: (ca: "ca.crt", mode: "require")),
            pki.sslManifest("plain", cert: "exact.crt", key: "exact.key", snis: ["api.example.com"]),
        ].joined(separator: "---\n")
        let decoded = ManifestDecoder(dev: true).decode(file: "t.yaml", bytes: Array(yaml.utf8))
        XCTAssertEqual(decoded.diagnostics.filter { $0.severity == .error }.map(\.description), [])
        let state = DesiredState(generation: 1, origin: "test", resources: Dictionary(decoded.resources.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a }))
        let facts = AlertsRuntime.unservedCertificates(state, values: SensitiveValues(master: nil, lookup: nil))
        func notAfter(_ file: String) throws -> Double {
            try XCTUnwrap(try Certificate.parseChain(pem: pki.pem(file)).first).notAfter.timeIntervalSince1970
        }
        let ca = try notAfter("ca.crt"), other = try XCTUnwrap(try Certificate.parseChain(pem: pki.pem("otherca.crt")).first)
        XCTAssertEqual(facts, [
            CertificateFact(sni: nil, certificate: "SSL default/gw", notAfter: try notAfter("client.crt")),
            CertificateFact(sni: nil, certificate: "SSL default/internal-ca (CA bundle)", notAfter: ca),
            CertificateFact(sni: nil, certificate: "SSL default/mtls (clientAuth.ca)", notAfter: ca),
            CertificateFact(sni: nil, certificate: "SSL default/two-cas (CA bundle #1: CN=Rampart Test CA)", notAfter: ca),
            CertificateFact(sni: nil, certificate: "SSL default/two-cas (CA bundle #2: CN=\(other.subjectCommonName ?? ""))", notAfter: other.notAfter.timeIntervalSince1970),
        ], "served server certificates come from the gateway by SNI, not from here")
    }
}
