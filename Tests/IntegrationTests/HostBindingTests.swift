import Foundation
import TestSupport
import XCTest

/// `clientAuth.mode: require` is bound to the Host (421 otherwise) and sessions never resume across
/// SSL/client-auth policies: the real binary, curl, openssl s_client and python ssl as clients.
final class HostBindingTests: XCTestCase {
    static let pkiBox = Result { try TestPKI() }

    /// One raw request over TLS (python ssl) with `sni`, optionally a client certificate; the status
    /// line, or "ERR <exception>" when the handshake or the read failed.
    static let rawTLSScript = """
    import ssl, socket, sys
    port, sni, cert, key, raw = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    if cert: ctx.load_cert_chain(cert, key)
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname=sni)
        s.sendall(raw.encode().decode("unicode_escape").encode("latin-1"))
        data = b""
        while b"\\r\\n" not in data:
            chunk = s.recv(65536)
            if not chunk: break
            data += chunk
        print(data.split(b"\\r\\n")[0].decode() if data else "ERR empty")
    except Exception as e:
        print("ERR " + type(e).__name__)
    """

    func rawTLS(port: Int, sni: String, _ raw: String, cert: String? = nil, key: String? = nil) throws -> String {
        let script = TestSupport.tempPath("rawtls.py")
        try Self.rawTLSScript.write(toFile: script, atomically: true, encoding: .utf8)
        let escaped = raw.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
        let r = try Command.run("/usr/bin/env", ["python3", script, String(port), sni, cert ?? "", key ?? "", escaped], timeout: 20)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) + r.stderr
    }

    /// `openssl s_client` that sends `request` (default: GET with Host `sni`, Connection: close) and reads
    /// until the gateway closes (so a TLS 1.3 ticket has arrived), reading or writing a session file; its output.
    func sClient(port: Int, sni: String, version: [String], sessOut: String? = nil, sessIn: String? = nil,
                 cert: (String, String)? = nil, request: String? = nil) throws -> String {
        var args = ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", sni, "-ign_eof"] + version
        if let sessOut { args += ["-sess_out", sessOut] }
        if let sessIn { args += ["-sess_in", sessIn] }
        if let cert { args += ["-cert", cert.0, "-key", cert.1] }
        let text = request ?? "GET /s HTTP/1.1\r\nHost: \(sni)\r\nConnection: close\r\n\r\n"
        let r = try Command.run("/usr/bin/openssl", args, stdin: text, timeout: 15)
        return r.stdout + r.stderr
    }

    /// The key name (first 16 bytes) of the session ticket in an `-sess_out` file.
    func ticketKeyName(_ sessionFile: String) throws -> String {
        let text = try Command.run("/usr/bin/openssl", ["sess_id", "-in", sessionFile, "-noout", "-text"]).stdout
        guard let line = text.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("0000 - ") }) else {
            return ""
        }
        return String(line.trimmingCharacters(in: .whitespaces).dropFirst(7).prefix(47))
    }

    /// api.example.com: no client auth; secure.example.com and *.example.com: require (two SSLs);
    /// default.test: optional; old.example.com: require, but its certificate expired (not served). One
    /// Route for every host.
    func start(_ pki: TestPKI, _ up: TestUpstream) throws -> TLSTests.Instance {
        let r = try TLSTests.Instance()
        try r.write("app.yaml", Manifests.upstream("web", port: up.port) + "---\n" + Manifests.route("web", paths: ["/*"], upstream: "web"))
        try r.write("ssl-api.yaml", pki.sslManifest("api", cert: "exact.crt", key: "exact.key", snis: ["api.example.com"]))
        try r.write("ssl-secure.yaml", pki.sslManifest("secure", cert: "wild.crt", key: "wild.key", snis: ["secure.example.com"],
                                                       clientAuth: (ca: "ca.crt", mode: "require")))
        try r.write("ssl-wild.yaml", pki.sslManifest("wild", cert: "wild.crt", key: "wild.key", snis: ["*.example.com"],
                                                     clientAuth: (ca: "ca.crt", mode: "require")))
        try r.write("ssl-opt.yaml", pki.sslManifest("opt", cert: "fallback.crt", key: "fallback.key", snis: ["default.test"],
                                                    clientAuth: (ca: "ca.crt", mode: "optional")))
        try r.write("ssl-old.yaml", pki.sslManifest("old", cert: "expired.crt", key: "expired.key", snis: ["old.example.com"],
                                                    clientAuth: (ca: "ca.crt", mode: "require")))
        try r.start()
        XCTAssertTrue(Poll.until {
            TLSClient.curl(port: r.tlsPort, host: "api.example.com", path: "/ready", cacert: pki.path("ca.crt"))?.status == 200
        }, r.log)
        return r
    }

    func testRequireSSLHostIsMisdirectedWithoutItsClientCertificate() throws {
        let pki = try Self.pkiBox.get()
        let up = try TestUpstream(name: "bound")
        defer { up.stop() }
        let r = try start(pki, up)
        defer { _ = r.stop() }
        let client = (pki.path("client.crt"), pki.path("client.key"))

        // Plain listener: the protected Host, in every spelling, never reaches the upstream.
        let seen = up.requestCount
        for host in ["secure.example.com", "SECURE.example.com.:8443", "Secure.Example.Com.", "secure.example.com:80",
                     "shop.example.com", "Shop.Example.com.:1", "old.example.com"] {
            let resp = try XCTUnwrap(httpRequest(port: r.port, "GET /p HTTP/1.1\r\nHost: \(host)\r\n\r\n"), host)
            XCTAssertEqual(resp.status, 421, host)
            XCTAssertEqual(resp.header("Content-Type"), "application/json")
            XCTAssertEqual(resp.bodyString, "{\"error\":\"misdirected request\"}\n")
        }
        // Absolute form: the target's host decides, whatever the Host header says.
        for target in ["https://secure.example.com/p", "http://SECURE.example.com.:8443/p?q=1"] {
            XCTAssertEqual(httpRequest(port: r.port, "GET \(target) HTTP/1.1\r\nHost: api.example.com\r\n\r\n")?.status, 421, target)
        }
        // A request with a body is refused before any of it is forwarded.
        XCTAssertEqual(httpRequest(port: r.port, "POST /p HTTP/1.1\r\nHost: secure.example.com\r\nContent-Length: 4\r\n\r\nabcd")?.status, 421)
        XCTAssertEqual(up.requestCount, seen, "the upstream saw a request for a bound Host: \(up.log)")

        // Not bound: no client auth, an exact name that shadows the wildcard, two labels under it, optional.
        for host in ["api.example.com", "API.example.com.:80", "a.b.example.com", "default.test", "other.test"] {
            XCTAssertEqual(httpRequest(port: r.port, "GET /p HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")?.status, 200, host)
        }
        XCTAssertEqual(httpRequest(port: r.port, "GET http://api.example.com/p HTTP/1.1\r\nHost: secure.example.com\r\n\r\n")?.status, 200)

        // TLS with another SNI (another SSL): 421, with or without a certificate verified under that other SSL.
        let misdirected = up.requestCount
        XCTAssertEqual(try rawTLS(port: r.tlsPort, sni: "api.example.com", "GET / HTTP/1.1\r\nHost: secure.example.com\r\n\r\n"),
                       "HTTP/1.1 421 Misdirected Request")
        XCTAssertEqual(try rawTLS(port: r.tlsPort, sni: "api.example.com", "GET / HTTP/1.1\r\nHost: secure.example.com\r\n\r\n",
                                  cert: client.0, key: client.1), "HTTP/1.1 421 Misdirected Request")
        XCTAssertEqual(try rawTLS(port: r.tlsPort, sni: "shop.example.com", "GET / HTTP/1.1\r\nHost: secure.example.com\r\n\r\n",
                                  cert: client.0, key: client.1), "HTTP/1.1 421 Misdirected Request",
                       "a certificate verified under the wildcard SSL must not open the exact SSL's Host")
        XCTAssertEqual(try rawTLS(port: r.tlsPort, sni: "secure.example.com", "GET / HTTP/1.1\r\nHost: shop.example.com\r\n\r\n",
                                  cert: client.0, key: client.1), "HTTP/1.1 421 Misdirected Request")
        XCTAssertEqual(try rawTLS(port: r.tlsPort, sni: "default.test", "GET https://secure.example.com/ HTTP/1.1\r\nHost: default.test\r\n\r\n",
                                  cert: client.0, key: client.1), "HTTP/1.1 421 Misdirected Request")
        XCTAssertEqual(up.requestCount, misdirected, up.log.joined(separator: "\n"))
        // The expired require SSL is not served, and its name is not served without it either (fail closed).
        XCTAssertEqual(try rawTLS(port: r.tlsPort, sni: "api.example.com", "GET / HTTP/1.1\r\nHost: old.example.com\r\n\r\n"),
                       "HTTP/1.1 421 Misdirected Request")

        // The right SNI: no certificate fails the handshake; a valid one is served, in every Host spelling.
        XCTAssertEqual(TLSClient.curl(port: r.tlsPort, host: "secure.example.com", cacert: pki.path("ca.crt"))?.status, 0)
        let ok = try XCTUnwrap(TLSClient.curl(port: r.tlsPort, host: "secure.example.com", path: "/ok", cacert: pki.path("ca.crt"),
                                              cert: client.0, key: client.1))
        XCTAssertEqual(ok.status, 200, ok.error)
        XCTAssertTrue(ok.body.contains("CN=client-one"), ok.body)
        for raw in ["GET / HTTP/1.1\r\nHost: SECURE.example.com.:8443\r\n\r\n",
                    "GET https://secure.example.com/ HTTP/1.1\r\nHost: api.example.com\r\n\r\n"] {
            XCTAssertEqual(try rawTLS(port: r.tlsPort, sni: "secure.example.com", raw, cert: client.0, key: client.1).prefix(13), "HTTP/1.1 200 ", raw)
        }
        XCTAssertEqual(try rawTLS(port: r.tlsPort, sni: "SHOP.example.com", "GET / HTTP/1.1\r\nHost: shop.example.com.\r\n\r\n",
                                  cert: client.0, key: client.1).prefix(13), "HTTP/1.1 200 ")
        // optional binds nothing: anonymous over TLS and plain alike.
        XCTAssertEqual(try rawTLS(port: r.tlsPort, sni: "default.test", "GET / HTTP/1.1\r\nHost: default.test\r\n\r\n").prefix(13), "HTTP/1.1 200 ")
    }

    func testSessionFromAnotherSSLDoesNotResumeUnderRequire() throws {
        let pki = try Self.pkiBox.get()
        let up = try TestUpstream(name: "resume")
        defer { up.stop() }
        let r = try start(pki, up)
        defer { _ = r.stop() }
        let client = (pki.path("client.crt"), pki.path("client.key"))
        let request = "GET /resumed HTTP/1.1\r\nHost: secure.example.com\r\nConnection: close\r\n\r\n"

        for version in [["-tls1_3"], ["-tls1_2"], ["-tls1_2", "-no_ticket"]] {
            let what = version.joined(separator: " ")
            let anon = TestSupport.tempPath("anon.sess")
            // A session made under the SSL without client auth, on the same listener.
            let first = try sClient(port: r.tlsPort, sni: "api.example.com", version: version, sessOut: anon)
            XCTAssertTrue(first.contains("New, TLS"), first)
            // It still resumes there (resumption is kept, only not across policies).
            let same = try sClient(port: r.tlsPort, sni: "api.example.com", version: version, sessIn: anon)
            XCTAssertTrue(same.contains("Reused, TLS"), "\(what): \(same)")

            // Offered to the require SSL without a certificate: no resumption, the handshake demands one.
            let before = up.requestCount
            let bare = try sClient(port: r.tlsPort, sni: "secure.example.com", version: version, sessIn: anon, request: request)
            XCTAssertFalse(bare.contains("Reused, TLS"), "\(what): \(bare)")
            XCTAssertFalse(bare.contains("HTTP/1.1 200"), "\(what): \(bare)")
            XCTAssertTrue(bare.contains("alert"), "\(what): \(bare)")
            XCTAssertEqual(up.requestCount, before, "\(what): the upstream was reached without a client certificate")

            // With a certificate: a full handshake (New), then served.
            let full = try sClient(port: r.tlsPort, sni: "secure.example.com", version: version, sessIn: anon, cert: client, request: request)
            XCTAssertTrue(full.contains("New, TLS"), "\(what): \(full)")
            XCTAssertTrue(full.contains("HTTP/1.1 200"), "\(what): \(full)")

            // A session made with the certificate under the require SSL resumes there, and is served with it.
            let mtls = TestSupport.tempPath("mtls.sess")
            _ = try sClient(port: r.tlsPort, sni: "secure.example.com", version: version, sessOut: mtls, cert: client)
            let again = try sClient(port: r.tlsPort, sni: "secure.example.com", version: version, sessIn: mtls, request: request)
            XCTAssertTrue(again.contains("Reused, TLS"), "\(what): \(again)")
            XCTAssertTrue(again.contains("HTTP/1.1 200"), "\(what): \(again)")
            // ... but not under the other require SSL (the wildcard): a full handshake there.
            let other = try sClient(port: r.tlsPort, sni: "shop.example.com", version: version, sessIn: mtls)
            XCTAssertFalse(other.contains("Reused, TLS"), "\(what): \(other)")
        }

        // Tickets are sealed with a key per SSL: the key names differ across SSLs, not within one.
        let a1 = TestSupport.tempPath("a1.sess"), a2 = TestSupport.tempPath("a2.sess"), s1 = TestSupport.tempPath("s1.sess")
        _ = try sClient(port: r.tlsPort, sni: "api.example.com", version: ["-tls1_2"], sessOut: a1)
        _ = try sClient(port: r.tlsPort, sni: "api.example.com", version: ["-tls1_2"], sessOut: a2)
        _ = try sClient(port: r.tlsPort, sni: "secure.example.com", version: ["-tls1_2"], sessOut: s1, cert: client)
        let nameA1 = try ticketKeyName(a1), nameA2 = try ticketKeyName(a2), nameS1 = try ticketKeyName(s1)
        XCTAssertFalse(nameA1.isEmpty)
        XCTAssertEqual(nameA1, nameA2)
        XCTAssertNotEqual(nameA1, nameS1)
    }

    /// A keep-alive mTLS connection to secure.example.com: one request now, then one each time the
    /// file `<go>N` appears; prints "N status" per request.
    static let keepAliveScript = """
    import ssl, socket, sys, os, time
    port, cert, key, go = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(cert, key)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20), server_hostname="secure.example.com")
    def get():
        s.sendall(b"GET /k HTTP/1.1\\r\\nHost: secure.example.com\\r\\n\\r\\n")
        data = b""
        while b"\\r\\n\\r\\n" not in data: data += s.recv(65536)
        head, body = data.split(b"\\r\\n\\r\\n", 1)
        n = int([l.split(b":")[1] for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length")][0])
        while len(body) < n: body += s.recv(65536)
        return head.split(b" ")[1].decode()
    print("1", get(), flush=True)
    for step in ("2", "3"):
        deadline = time.time() + 30
        while not os.path.exists(go + step) and time.time() < deadline: time.sleep(0.02)
        print(step, get(), flush=True)
    """

    func generation(_ r: TLSTests.Instance) -> Int {
        let body = r.admin("/api/v1/status", cacert: r.stateDir + "/admin-tls.crt", token: r.token)?.body ?? ""
        guard let range = body.range(of: "\"generation\":") else { return -1 }
        return Int(body[range.upperBound...].prefix { $0.isNumber }) ?? -1
    }

    func testEstablishedConnectionLosesTheHostWhenThePolicyChanges() throws {
        let pki = try Self.pkiBox.get()
        let up = try TestUpstream(name: "swap")
        defer { up.stop() }
        let r = try start(pki, up)
        defer { _ = r.stop() }
        let script = TestSupport.tempPath("keepalive.py"), go = TestSupport.tempPath("go")
        try Self.keepAliveScript.write(toFile: script, atomically: true, encoding: .utf8)
        let client = try Background("/usr/bin/env", ["python3", script, String(r.tlsPort), pki.path("client.crt"), pki.path("client.key"), go])
        defer { _ = client.stop(grace: 1) }
        XCTAssertTrue(Poll.until { client.output.contains("1 200") }, client.output + r.log)

        // A new snapshot with the same policy: the connection keeps the Host.
        let g1 = generation(r)
        try r.write("extra.yaml", Manifests.route("extra", paths: ["/extra"], upstream: "web"))
        XCTAssertTrue(Poll.until { generation(r) > g1 }, r.log)
        _ = FileManager.default.createFile(atPath: go + "2", contents: nil)
        XCTAssertTrue(Poll.until { client.output.contains("2 200") }, client.output)

        // The SSL now trusts another CA: the certificate this connection verified no longer opens the Host.
        let g2 = generation(r)
        try r.write("ssl-secure.yaml", pki.sslManifest("secure", cert: "wild.crt", key: "wild.key", snis: ["secure.example.com"],
                                                       clientAuth: (ca: "otherca.crt", mode: "require")))
        XCTAssertTrue(Poll.until { generation(r) > g2 }, r.log)
        _ = FileManager.default.createFile(atPath: go + "3", contents: nil)
        XCTAssertTrue(Poll.until { client.output.contains("3 421") }, client.output)
    }
}
