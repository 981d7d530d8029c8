import Foundation
import TestSupport
import XCTest

/// `rampart run` with TLS: HTTPS admin API by default, SSL resources on --listen-tls, upstream TLS/mTLS.
final class TLSTests: XCTestCase {
    /// A rampart process with a TLS listener and the admin API in the given --admin-tls mode.
    final class Instance {
        let manifests: String
        let stateDir: String
        let port = Ports.free()
        let tlsPort = Ports.free()
        let adminPort = Ports.free()
        var process: Background?

        init() throws {
            let base = try TempDir.make("tls")
            manifests = base + "/manifests"
            stateDir = base + "/state"
            try FileManager.default.createDirectory(atPath: manifests, withIntermediateDirectories: true)
        }

        func start(adminTLS: String? = nil, extra: [String] = []) throws {
            var args = ["run"] + extra + [manifests, "--listen", "127.0.0.1:\(port)", "--listen-tls", "127.0.0.1:\(tlsPort)",
                        "--admin", "127.0.0.1:\(adminPort)", "--state-dir", stateDir, "--workers", "2", "--debounce", "20ms", "--dev"]
            if let adminTLS { args += ["--admin-tls", adminTLS] }
            process = try Background(PackagePaths.rampart, args)
        }

        func write(_ name: String, _ text: String) throws {
            let path = manifests + "/" + name
            try text.write(toFile: path + ".tmp", atomically: false, encoding: .utf8)
            rename(path + ".tmp", path)
        }

        var log: String { process?.output ?? "" }
        var token: String {
            ((try? String(contentsOfFile: stateDir + "/admin-token", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// HTTPS to the admin API as `localhost`, trusting `cacert`.
        func admin(_ path: String, cacert: String, token: String? = nil) -> (status: Int, body: String, error: String)? {
            TLSClient.curl(port: adminPort, host: "localhost", path: path, cacert: cacert,
                           headers: token.map { ["Authorization: Bearer \($0)"] } ?? [])
        }

        func stop() -> Int32 { process?.stop() ?? 0 }
    }

    static let pkiBox = Result { try TestPKI() }

    func testAdminAPIIsHTTPSByDefaultWithSelfSignedCertificate() throws {
        let r = try Instance()
        try r.start()
        let certPath = r.stateDir + "/admin-tls.crt"
        XCTAssertTrue(Poll.until { r.admin("/healthz", cacert: certPath)?.status == 200 }, r.log)
        // Key 0600, fingerprint logged (and equal to openssl's).
        let attrs = try FileManager.default.attributesOfItem(atPath: r.stateDir + "/admin-tls.key")
        XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let fp = try Command.run("/usr/bin/openssl", ["x509", "-in", certPath, "-noout", "-fingerprint", "-sha256"])
        let hex = fp.stdout.split(separator: "=").last.map { $0.replacingOccurrences(of: ":", with: "").lowercased() }?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        XCTAssertTrue(r.log.contains(hex), "fingerprint \(hex) not logged:\n\(r.log)")
        let text = try Command.run("/usr/bin/openssl", ["x509", "-in", certPath, "-noout", "-text"]).stdout
        XCTAssertTrue(text.contains("DNS:localhost") && text.contains("IP Address:127.0.0.1"), text)
        XCTAssertTrue(text.contains("prime256v1") || text.contains("P-256"), text)
        // Plain HTTP is refused; no token is 401; the token works.
        XCTAssertNil(Curl.get("http://127.0.0.1:\(r.adminPort)/healthz"), "plain HTTP must not be served")
        XCTAssertEqual(r.admin("/api/v1/config", cacert: certPath)?.status, 401)
        XCTAssertEqual(r.admin("/api/v1/config", cacert: certPath, token: "rmp_wrong")?.status, 401)
        XCTAssertEqual(r.admin("/api/v1/config", cacert: certPath, token: r.token)?.status, 200)
        XCTAssertEqual(r.stop(), 0)
        // A restart keeps the certificate.
        let before = try String(contentsOfFile: certPath, encoding: .utf8)
        try r.start()
        XCTAssertTrue(Poll.until { r.admin("/healthz", cacert: certPath)?.status == 200 }, r.log)
        XCTAssertEqual(try String(contentsOfFile: certPath, encoding: .utf8), before)
        XCTAssertFalse(r.log.contains("BEGIN PRIVATE KEY"))
        XCTAssertEqual(r.stop(), 0)
    }

    func testAdminKeyIsEncryptedWithTheMasterKey() throws {
        let r = try Instance()
        let masterFile = r.stateDir + ".master"
        try Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString().write(toFile: masterFile, atomically: true, encoding: .utf8)
        // First start without a master key writes the key in plaintext (0600) ...
        try r.start()
        let certPath = r.stateDir + "/admin-tls.crt"
        XCTAssertTrue(Poll.until { r.admin("/healthz", cacert: certPath)?.status == 200 }, r.log)
        XCTAssertEqual(r.stop(), 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: r.stateDir + "/admin-tls.key"))
        // ... a start with --master-key-file encrypts it and removes the plaintext; the same certificate serves.
        try r.start(extra: ["--master-key-file", masterFile])
        XCTAssertTrue(Poll.until { r.admin("/healthz", cacert: certPath)?.status == 200 }, r.log)
        XCTAssertEqual(r.stop(), 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: r.stateDir + "/admin-tls.key"))
        let enc = try String(contentsOfFile: r.stateDir + "/admin-tls.key.enc", encoding: .utf8)
        XCTAssertTrue(enc.hasPrefix("$enc:v2:master:"), enc)
        XCTAssertFalse(enc.contains("PRIVATE KEY"))
        // Without the master key the encrypted key cannot be used: a clear error, exit 2.
        try r.start()
        XCTAssertTrue(Poll.until { !(r.process?.process.isRunning ?? true) })
        XCTAssertEqual(r.process?.process.terminationStatus, 2)
        XCTAssertTrue(r.log.contains("encrypted with the master key; start with --master-key-file"), r.log)
    }

    func testAdminTLSWithGivenFilesAndOff() throws {
        let pki = try Self.pkiBox.get()
        let r = try Instance()
        try r.start(adminTLS: pki.path("localhost.crt") + "," + pki.path("localhost.key"))
        XCTAssertTrue(Poll.until { r.admin("/healthz", cacert: pki.path("ca.crt"))?.status == 200 }, r.log)
        XCTAssertEqual(r.stop(), 0)
        // A key that does not match is a startup error that names no key bytes.
        try r.start(adminTLS: pki.path("localhost.crt") + "," + pki.path("wrong.key"))
        XCTAssertTrue(Poll.until { !(r.process?.process.isRunning ?? false) })
        XCTAssertTrue(r.log.contains("does not match"), r.log)
        // off: plain HTTP with a warning.
        try r.start(adminTLS: "off")
        XCTAssertTrue(Poll.until { Curl.get("http://127.0.0.1:\(r.adminPort)/healthz")?.status == 200 }, r.log)
        XCTAssertTrue(r.log.contains("admin API TLS is off"), r.log)
        XCTAssertEqual(r.stop(), 0)
    }

    func testServerCertificatesFromSSLResources() throws {
        let pki = try Self.pkiBox.get()
        let up = try TestUpstream(name: "web")
        let r = try Instance()
        try r.write("app.yaml", Manifests.upstream("web", port: up.port) + "---\n" + Manifests.route("web", paths: ["/*"], upstream: "web"))
        try r.write("ssl-exact.yaml", pki.sslManifest("exact", cert: "exact.crt", key: "exact.key", snis: ["api.example.com"]))
        try r.write("ssl-wild.yaml", pki.sslManifest("wild", cert: "wild.crt", key: "wild.key", snis: ["*.example.com"], isDefault: true))
        try r.write("ssl-expired.yaml", pki.sslManifest("expired", cert: "expired.crt", key: "expired.key", snis: ["old.example.com"]))
        try r.write("ssl-wrongkey.yaml", pki.sslManifest("wrongkey", cert: "fallback.crt", key: "wrong.key", snis: ["default.test"]))
        try r.write("ssl-uncovered.yaml", pki.sslManifest("uncovered", cert: "fallback.crt", key: "fallback.key", snis: ["other.test"]))
        try r.write("ssl-mtls.yaml", pki.sslManifest("mtls", cert: "localhost.crt", key: "localhost.key", snis: ["localhost"],
                                                     clientAuth: (ca: "ca.crt", mode: "require")))
        try r.start()
        let certPath = r.stateDir + "/admin-tls.crt"
        XCTAssertTrue(Poll.until {
            TLSClient.curl(port: r.tlsPort, host: "api.example.com", path: "/x", cacert: pki.path("ca.crt"))?.status == 200
        }, r.log)
        let ok = try XCTUnwrap(TLSClient.curl(port: r.tlsPort, host: "api.example.com", path: "/x", cacert: pki.path("ca.crt")))
        XCTAssertTrue(ok.body.contains("X-Forwarded-Proto\", \"https"), ok.body)
        XCTAssertTrue(TLSClient.handshake(port: r.tlsPort, sni: "shop.example.com").subject.contains("wildcard.example.com"))
        // The expired certificate is not served: its SNI gets the default certificate.
        XCTAssertTrue(TLSClient.handshake(port: r.tlsPort, sni: "old.example.com").subject.contains("wildcard.example.com"))
        // mTLS on the same listener, by SNI.
        XCTAssertEqual(TLSClient.curl(port: r.tlsPort, host: "localhost", cacert: pki.path("ca.crt"))?.status, 0)
        let mtls = try XCTUnwrap(TLSClient.curl(port: r.tlsPort, host: "localhost", path: "/m", cacert: pki.path("ca.crt"),
                                                cert: pki.path("client.crt"), key: pki.path("client.key")))
        XCTAssertEqual(mtls.status, 200, mtls.error)
        XCTAssertTrue(mtls.body.contains("CN=client-one"), mtls.body)

        let status = try XCTUnwrap(r.admin("/api/v1/status", cacert: certPath, token: r.token)).body
        XCTAssertTrue(status.contains("expired at"), status)
        XCTAssertTrue(status.contains("does not match"), status)
        XCTAssertTrue(status.contains("is not covered by the certificate"), status)
        // 20-day certificates: a warning each.
        XCTAssertTrue(r.log.contains("expires in"), r.log)
        let metrics = try XCTUnwrap(r.admin("/metrics", cacert: certPath)).body
        XCTAssertTrue(metrics.contains("rampart_tls_certificate_expiry_timestamp_seconds{sni=\"api.example.com\"}"), metrics)
        XCTAssertFalse(metrics.contains("sni=\"old.example.com\""))

        // Hot swap: the exact certificate goes away, new handshakes get the wildcard.
        try FileManager.default.removeItem(atPath: r.manifests + "/ssl-exact.yaml")
        XCTAssertTrue(Poll.until { TLSClient.handshake(port: r.tlsPort, sni: "api.example.com").subject.contains("wildcard.example.com") }, r.log)
        for secretLine in pki.pem("exact.key").split(separator: "\n").dropFirst().prefix(1) {
            XCTAssertFalse(r.log.contains(secretLine), "a private key reached the log")
            XCTAssertFalse(status.contains(secretLine), "a private key reached the admin API")
        }
        XCTAssertEqual(r.stop(), 0)
    }

    func testUpstreamHTTPSAndMTLSFromManifests() throws {
        let pki = try Self.pkiBox.get()
        let up = try TLSUpstream(cert: pki.path("upstream.crt"), key: pki.path("upstream.key"), clientCA: pki.path("ca.crt"))
        defer { up.stop() }
        let r = try Instance()
        let caSSL = pki.sslManifest("internal-ca", cert: "ca.crt", key: nil, snis: [], type: "client")
        let clientSSL = pki.sslManifest("gateway-client", cert: "client.crt", key: "client.key", snis: [], type: "client")
        let upstream = Manifests.upstream("secure", port: up.port, extra: """
          scheme: https
          tls: {sni: upstream.internal, verify: true, caRef: {name: internal-ca}, clientCertRef: {name: gateway-client}}

        """)
        try r.write("a.yaml", caSSL + "---\n" + clientSSL + "---\n" + upstream + "---\n" + Manifests.route("secure", paths: ["/*"], upstream: "secure"))
        try r.start()
        XCTAssertTrue(Poll.until { Curl.get("http://127.0.0.1:\(r.port)/hello")?.status == 200 }, r.log)
        let body = Curl.get("http://127.0.0.1:\(r.port)/hello")?.body ?? ""
        XCTAssertTrue(body.contains("client-one"), body)

        // The wrong CA: 502 and a log line that says why.
        let wrongCA = pki.sslManifest("internal-ca", cert: "otherca.crt", key: nil, snis: [], type: "client")
        try r.write("a.yaml", wrongCA + "---\n" + clientSSL + "---\n" + upstream + "---\n" + Manifests.route("secure", paths: ["/*"], upstream: "secure"))
        XCTAssertTrue(Poll.until { Curl.get("http://127.0.0.1:\(r.port)/hello")?.status == 502 }, r.log)
        XCTAssertTrue(Poll.until { r.log.contains("upstream TLS handshake failed") && r.log.contains("certificate verify failed") }, r.log)
        XCTAssertEqual(r.stop(), 0)
    }
}
