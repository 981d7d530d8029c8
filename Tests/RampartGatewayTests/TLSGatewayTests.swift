import Foundation
import Glibc
import RampartCrypto
import XCTest
@testable import RampartGateway
import TestSupport

/// Downstream TLS (SNI, ALPN, mTLS, hot swap, bad handshakes) and upstream TLS/mTLS on a real
/// in-process gateway, with openssl/curl/python as clients and certificates made by the openssl CLI.
final class TLSGatewayTests: XCTestCase {
    static let pkiBox = Result { try TestPKI() }
    var pki: TestPKI!
    var upstream: TestUpstream!

    /// Python for the record-level tests: a TLS client over memory BIOs, so a test decides which
    /// bytes go out in which TCP write. `connect` returns after the handshake; `read_all` reads
    /// until the server closes.
    static let memoryBIOClient = #"""
    import socket, ssl, sys, time
    def connect(port, cafile):
        ctx = ssl.create_default_context(cafile=cafile)
        sock = socket.create_connection(("127.0.0.1", port))
        sock.settimeout(10)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(inc, out, server_hostname="api.example.com")
        while True:
            try:
                tls.do_handshake(); break
            except ssl.SSLWantReadError:
                data = out.read()
                if data: sock.sendall(data)
                d = sock.recv(65536)
                if not d: sys.exit("eof during the handshake")
                inc.write(d)
        data = out.read()
        if data: sock.sendall(data)
        return sock, tls, inc, out
    def read_all(sock, tls, inc):
        got = b""
        while True:
            try:
                d = tls.read(65536)
                if not d: break
                got += d
            except ssl.SSLWantReadError:
                d = sock.recv(65536)
                if not d: break
                inc.write(d)
            except ssl.SSLZeroReturnError:
                break
        return got

    """#

    override func setUpWithError() throws {
        pki = try Self.pkiBox.get()
        upstream = try TestUpstream(name: "plain")
    }

    override func tearDown() {
        upstream?.stop()
    }

    func cert(_ name: String, snis: [String], isDefault: Bool = false, clientAuth: ClientAuthConfig? = nil,
              minVersion: TLSVersion = .tls12, chain: String? = nil) throws -> ServerCertificate {
        ServerCertificate(name: "default/\(name)", snis: snis, chain: try Certificate.parseChain(pem: pki.pem(chain ?? "\(name).crt")),
                          key: try PrivateKey.parse(pem: pki.pem("\(name).key")), clientAuth: clientAuth,
                          minVersion: minVersion, isDefault: isDefault)
    }

    func snapshot(_ certs: [ServerCertificate], generation: Int = 1,
                  upstreams: [String: UpstreamConfig]? = nil) -> GatewaySnapshot {
        GatewaySnapshot(generation: generation, routes: [route("r")],
                        upstreams: upstreams ?? ["default/up": upstreamConfig("default/up", [upstream])], certificates: certs)
    }

    final class TLSGateway {
        let gateway: Gateway
        let port: Int
        let plainPort: Int
        init(_ s: GatewaySnapshot, log: GatewayLogger? = nil, workers: Int = 2) throws {
            gateway = try Gateway(config: GatewayConfig(listen: ["127.0.0.1:0"], listenTLS: ["127.0.0.1:0"], workers: workers, log: log))
            gateway.apply(s)
            try gateway.start()
            guard let a = gateway.boundTLSAddresses.first, let p = Int(a.split(separator: ":").last ?? ""),
                  let b = gateway.boundAddresses.first, let q = Int(b.split(separator: ":").last ?? "") else {
                throw NSError(domain: "TLSGateway", code: 1)
            }
            port = p
            plainPort = q
        }
        func stop() { gateway.stop(drainTimeoutMs: 500) }
    }

    func echoHeaders(_ body: String) -> [String: String] {
        guard let j = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
              let hs = j["headers"] as? [[String]] else { return [:] }
        var out: [String: String] = [:]
        for h in hs where h.count == 2 { out[h[0].lowercased()] = h[1] }
        return out
    }

    // MARK: SNI

    func testSNISelectionExactWildcardDefaultAndNone() throws {
        let g = try TLSGateway(snapshot([
            try cert("wild", snis: ["*.example.com"]),
            try cert("exact", snis: ["api.example.com"]),
            try cert("fallback", snis: ["default.test"], isDefault: true),
        ]))
        defer { g.stop() }
        let exact = TLSClient.handshake(port: g.port, sni: "api.example.com")
        XCTAssertTrue(exact.ok, exact.output)
        XCTAssertTrue(exact.subject.contains("CN = api.example.com") || exact.subject.contains("CN=api.example.com"), exact.subject)
        let wild = TLSClient.handshake(port: g.port, sni: "shop.example.com")
        XCTAssertTrue(wild.subject.contains("wildcard.example.com"), wild.output)
        let upper = TLSClient.handshake(port: g.port, sni: "SHOP.Example.COM")
        XCTAssertTrue(upper.subject.contains("wildcard.example.com"), upper.output)
        // A wildcard covers one label only: two labels fall through to the default certificate.
        let deep = TLSClient.handshake(port: g.port, sni: "a.b.example.com")
        XCTAssertTrue(deep.subject.contains("default.test"), deep.output)
        let bare = TLSClient.handshake(port: g.port, sni: "example.com")
        XCTAssertTrue(bare.subject.contains("default.test"), bare.output)
        let none = TLSClient.handshake(port: g.port, sni: nil)
        XCTAssertTrue(none.ok, none.output)
        XCTAssertTrue(none.subject.contains("default.test"), none.output)
    }

    func testUnknownSNIWithoutDefaultFailsWithAlert() throws {
        let g = try TLSGateway(snapshot([try cert("exact", snis: ["api.example.com"])]))
        defer { g.stop() }
        let h = TLSClient.handshake(port: g.port, sni: "unknown.test")
        XCTAssertFalse(h.ok, h.output)
        XCTAssertTrue(h.output.contains("unrecognized name") || h.output.contains("alert"), h.output)
        let none = TLSClient.handshake(port: g.port, sni: nil)
        XCTAssertFalse(none.ok, none.output)
        // The listener still serves a known name afterwards.
        XCTAssertTrue(TLSClient.handshake(port: g.port, sni: "api.example.com").ok)
        XCTAssertTrue(g.gateway.metricsText().contains("rampart_tls_handshake_failures_total"))
    }

    // MARK: HTTP over TLS

    func testHTTPSRequestForwardedProtoALPNAndExpiryMetric() throws {
        let g = try TLSGateway(snapshot([try cert("exact", snis: ["api.example.com"])]))
        defer { g.stop() }
        let r = try XCTUnwrap(TLSClient.curl(port: g.port, host: "api.example.com", path: "/hello", cacert: pki.path("ca.crt"),
                                             headers: ["X-Forwarded-Proto: http", "X-Client-Cert-Subject: CN=forged"]))
        XCTAssertEqual(r.status, 200, r.error)
        let h = echoHeaders(r.body)
        XCTAssertEqual(h["x-forwarded-proto"], "https")
        XCTAssertNil(h["x-client-cert-subject"], "a client-sent X-Client-Cert-Subject must be stripped")
        // Plain listener says http.
        let plain = try XCTUnwrap(httpRequest(port: g.plainPort, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        XCTAssertEqual(plain.echoHeader("X-Forwarded-Proto"), "http")
        // ALPN http/1.1, TLS 1.3 by default.
        let alpn = try Command.run("/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(g.port)", "-servername", "api.example.com",
                                                        "-alpn", "h2,http/1.1"], stdin: "", timeout: 10)
        XCTAssertTrue(alpn.stdout.contains("ALPN protocol: http/1.1"), alpn.stdout)
        XCTAssertTrue(alpn.stdout.contains("TLSv1.3"), alpn.stdout)
        XCTAssertTrue(alpn.stdout.contains("Compression: NONE"), alpn.stdout)
        let metrics = g.gateway.metricsText()
        XCTAssertTrue(metrics.contains("rampart_tls_certificate_expiry_timestamp_seconds{sni=\"api.example.com\"}"), metrics)
    }

    /// Read-ahead takes every record the socket holds in one read(2); what epoll then no longer
    /// reports must still be served. Five requests (one a 100 KB body, so many records) sealed as
    /// separate TLS records and sent in one TCP write all get their answers, in order; without the
    /// loop's pending-read step the second request would wait for a byte that never comes.
    func testRecordsReadAheadInOneSegmentAreAllServed() throws {
        let g = try TLSGateway(snapshot([try cert("exact", snis: ["api.example.com"])]))
        defer { g.stop() }
        let script = Self.memoryBIOClient + #"""
        sock, tls, inc, out = connect(int(sys.argv[1]), sys.argv[2])
        body = b"a" * 100000
        for i in range(3): tls.write(b"GET /r%d HTTP/1.1\r\nHost: api.example.com\r\n\r\n" % i)
        tls.write(b"POST /r3 HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        tls.write(b"GET /r4 HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n")
        sock.sendall(out.read())
        text = read_all(sock, tls, inc).decode("latin-1")
        print(text.count("HTTP/1.1 200"), " ".join(t for t in ["/r0", "/r1", "/r2", "/r3", "/r4"] if t in text))
        """#
        let r = try Command.run("/usr/bin/env", ["python3", "-c", script, "\(g.port)", pki.path("ca.crt")], timeout: 30)
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "5 /r0 /r1 /r2 /r3 /r4", r.stderr)
    }

    /// Half a TLS record, then silence (a slow or hostile client): read-ahead leaves the half in
    /// OpenSSL, which reports it as pending; the loop must wait for epoll, not queue the client as
    /// readable again and again. The test process (which runs the gateway) stays near idle while the
    /// client holds back, and the request is answered once the rest arrives.
    func testHalfARecordDoesNotSpinTheLoop() throws {
        let g = try TLSGateway(snapshot([try cert("exact", snis: ["api.example.com"])]))
        defer { g.stop() }
        let script = Self.memoryBIOClient + #"""
        sock, tls, inc, out = connect(int(sys.argv[1]), sys.argv[2])
        tls.write(b"GET /half HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n")
        record = out.read()
        sock.sendall(record[:len(record) // 2])
        time.sleep(2)
        sock.sendall(record[len(record) // 2:])
        print(read_all(sock, tls, inc).split(b"\r\n")[0].decode())
        """#
        func cpuSeconds() -> Double {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
        let before = cpuSeconds()
        let r = try Command.run("/usr/bin/env", ["python3", "-c", script, "\(g.port)", pki.path("ca.crt")], timeout: 30)
        let used = cpuSeconds() - before
        XCTAssertTrue(r.stdout.hasPrefix("HTTP/1.1 200 "), r.stdout + r.stderr)
        XCTAssertLessThan(used, 1.0, "the loop spun on a partial record: \(used) s of CPU in a 2 s wait")
    }

    func testMinVersionAndNoOldProtocols() throws {
        let g = try TLSGateway(snapshot([
            try cert("exact", snis: ["api.example.com"], minVersion: .tls13),
            try cert("wild", snis: ["*.example.com"]),
        ]))
        defer { g.stop() }
        XCTAssertFalse(TLSClient.handshake(port: g.port, sni: "api.example.com", extra: ["-tls1_2"]).ok)
        XCTAssertTrue(TLSClient.handshake(port: g.port, sni: "api.example.com", extra: ["-tls1_3"]).ok)
        XCTAssertTrue(TLSClient.handshake(port: g.port, sni: "x.example.com", extra: ["-tls1_2"]).ok)
        XCTAssertFalse(TLSClient.handshake(port: g.port, sni: "x.example.com", extra: ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]).ok)
    }

    func testSessionResumption() throws {
        let g = try TLSGateway(snapshot([try cert("exact", snis: ["api.example.com"])]))
        defer { g.stop() }
        let sess = TestSupport.tempPath("sess.pem")
        _ = try Command.run("/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(g.port)", "-servername", "api.example.com",
                                                 "-tls1_2", "-sess_out", sess], stdin: "", timeout: 10)
        let again = try Command.run("/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(g.port)", "-servername", "api.example.com",
                                                         "-tls1_2", "-sess_in", sess], stdin: "", timeout: 10)
        XCTAssertTrue(again.stdout.contains("Reused,"), again.stdout)
    }

    /// TLS 1.3 tickets are used once (RFC 8446 C.4): a resumed handshake must hand out a fresh
    /// ticket, or every other connection of a client pays a full handshake (as wrk showed: half of
    /// its handshakes were full ones).
    func testTLS13ResumedSessionsGetAFreshTicketEveryTime() throws {
        let g = try TLSGateway(snapshot([try cert("exact", snis: ["api.example.com"])]))
        defer { g.stop() }
        let script = #"""
        import socket, ssl, sys
        ctx = ssl.create_default_context(cafile=sys.argv[2])
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        session, reused, ids = None, [], set()
        for i in range(4):
            tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))),
                                  server_hostname="api.example.com", session=session)
            tls.sendall(b"GET /t%d HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n" % i)
            while tls.recv(65536): pass
            reused.append("reused" if tls.session_reused else "full")
            session = tls.session
            ids.add(session.id)
            tls.close()
        print(" ".join(reused), len(ids), "tickets")
        """#
        let r = try Command.run("/usr/bin/env", ["python3", "-c", script, "\(g.port)", pki.path("ca.crt")], timeout: 30)
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "full reused reused reused 4 tickets", r.stderr)
    }

    // MARK: mTLS

    func testClientAuthRequire() throws {
        let ca = try Certificate.parseChain(pem: pki.pem("ca.crt"))
        let g = try TLSGateway(snapshot([try cert("exact", snis: ["api.example.com"], clientAuth: ClientAuthConfig(ca: ca, required: true, depth: 2))]))
        defer { g.stop() }
        let without = try XCTUnwrap(TLSClient.curl(port: g.port, host: "api.example.com", cacert: pki.path("ca.crt")))
        XCTAssertEqual(without.status, 0, "no client certificate must fail the handshake")
        let wrong = try XCTUnwrap(TLSClient.curl(port: g.port, host: "api.example.com", cacert: pki.path("ca.crt"),
                                                 cert: pki.path("otherclient.crt"), key: pki.path("otherclient.key")))
        XCTAssertEqual(wrong.status, 0, "a client certificate from another CA must fail")
        let ok = try XCTUnwrap(TLSClient.curl(port: g.port, host: "api.example.com", cacert: pki.path("ca.crt"),
                                              cert: pki.path("client.crt"), key: pki.path("client.key"),
                                              headers: ["X-Client-Cert-Subject: CN=forged"]))
        XCTAssertEqual(ok.status, 200, ok.error)
        XCTAssertEqual(echoHeaders(ok.body)["x-client-cert-subject"], "CN=client-one")
    }

    func testClientAuthOptional() throws {
        let ca = try Certificate.parseChain(pem: pki.pem("ca.crt"))
        let g = try TLSGateway(snapshot([try cert("exact", snis: ["api.example.com"], clientAuth: ClientAuthConfig(ca: ca, required: false, depth: 2))]))
        defer { g.stop() }
        let anon = try XCTUnwrap(TLSClient.curl(port: g.port, host: "api.example.com", cacert: pki.path("ca.crt"),
                                                headers: ["X-Client-Cert-Subject: CN=forged"]))
        XCTAssertEqual(anon.status, 200, anon.error)
        XCTAssertNil(echoHeaders(anon.body)["x-client-cert-subject"])
        let ok = try XCTUnwrap(TLSClient.curl(port: g.port, host: "api.example.com", cacert: pki.path("ca.crt"),
                                              cert: pki.path("client.crt"), key: pki.path("client.key")))
        XCTAssertEqual(echoHeaders(ok.body)["x-client-cert-subject"], "CN=client-one")
        // A certificate from another CA is admitted as anonymous, never as its claimed subject.
        let other = try XCTUnwrap(TLSClient.curl(port: g.port, host: "api.example.com", cacert: pki.path("ca.crt"),
                                                 cert: pki.path("otherclient.crt"), key: pki.path("otherclient.key"),
                                                 headers: ["X-Client-Cert-Subject: CN=forged"]))
        XCTAssertEqual(other.status, 200, other.error)
        XCTAssertNil(echoHeaders(other.body)["x-client-cert-subject"])
    }

    // MARK: hot swap

    func testHotSwapServesNewCertificateToNewHandshakesOnly() throws {
        let g = try TLSGateway(snapshot([try cert("exact", snis: ["api.example.com"])]))
        defer { g.stop() }
        // A python keep-alive client: request, wait for "go" on stdin, request again on the same connection.
        let script = """
        import ssl, socket, sys
        ctx = ssl.create_default_context(cafile=sys.argv[2]); ctx.check_hostname = False
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="api.example.com")
        def get():
            s.sendall(b"GET /x HTTP/1.1\\r\\nHost: api.example.com\\r\\n\\r\\n")
            data = b""
            while b"\\r\\n\\r\\n" not in data: data += s.recv(65536)
            head, body = data.split(b"\\r\\n\\r\\n", 1)
            n = int([l.split(b":")[1] for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length")][0])
            while len(body) < n: body += s.recv(65536)
            return head.split(b" ")[1].decode()
        print(get(), s.getpeercert()["subject"][0][0][1], flush=True)
        sys.stdin.readline()
        print(get(), s.getpeercert()["subject"][0][0][1], flush=True)
        """
        let path = TestSupport.tempPath("keepalive.py")
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", path, String(g.port), pki.path("ca.crt")]
        let inPipe = Pipe(), outPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = outPipe
        try p.run()
        defer { if p.isRunning { p.terminate() } }
        let reader = LineReader(outPipe.fileHandleForReading.fileDescriptor)
        XCTAssertEqual(reader.line(timeout: 10), "200 api.example.com")

        // Same SNI, now served by the wildcard certificate.
        g.gateway.apply(snapshot([try cert("wild", snis: ["api.example.com", "*.example.com"])], generation: 2))
        XCTAssertTrue(Poll.until(timeout: 10) {
            TLSClient.handshake(port: g.port, sni: "api.example.com").subject.contains("wildcard.example.com")
        })
        inPipe.fileHandleForWriting.write(Data("go\n".utf8))
        XCTAssertEqual(reader.line(timeout: 10), "200 api.example.com", "the established connection keeps its certificate")
    }

    // MARK: bad input

    func testGarbageAndTruncatedHandshakesDoNotDisturbOthers() throws {
        let g = try TLSGateway(snapshot([try cert("exact", snis: ["api.example.com"])]))
        defer { g.stop() }
        let garbage = try RawClient(port: g.port)
        garbage.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8) + [UInt8](repeating: 0x16, count: 300))
        // A ClientHello record header promising more than is sent: the handshake stalls.
        let truncated = try RawClient(port: g.port)
        truncated.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])
        for _ in 0..<3 {
            let r = try XCTUnwrap(TLSClient.curl(port: g.port, host: "api.example.com", cacert: pki.path("ca.crt")))
            XCTAssertEqual(r.status, 200, r.error)
        }
        XCTAssertTrue(garbage.isClosed(timeout: 5), "garbage must be answered by closing")
        XCTAssertTrue(TLSClient.handshake(port: g.port, sni: "api.example.com").ok)
        XCTAssertFalse(truncated.isClosed(timeout: 0.2), "a stalled handshake waits for its deadline")
    }

    // MARK: upstream TLS

    func httpsUpstream(_ up: TLSUpstream, tls: UpstreamTLSConfig) -> [String: UpstreamConfig] {
        ["default/up": UpstreamConfig(id: "default/up", nodes: [UpstreamNode(host: "127.0.0.1", port: up.port)], scheme: "https",
                                      retries: 0, timeout: Timeouts(connectMs: 2000, sendMs: 5000, readMs: 5000), tls: tls)]
    }

    func testUpstreamHTTPSVerifiedAndPooled() throws {
        let up = try TLSUpstream(cert: pki.path("upstream.crt"), key: pki.path("upstream.key"))
        defer { up.stop() }
        let ca = try Certificate.parseChain(pem: pki.pem("ca.crt"))
        let g = try TLSGateway(snapshot([], upstreams: httpsUpstream(up, tls: UpstreamTLSConfig(sni: "upstream.internal", verify: true, ca: ca))))
        defer { g.stop() }
        for i in 0..<3 {
            let r = try XCTUnwrap(httpRequest(port: g.plainPort, "GET /p\(i) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
            XCTAssertEqual(r.status, 200, r.bodyString)
            XCTAssertTrue(r.bodyString.contains("/p\(i)"))
        }
        // Keep-alive upstream connections are pooled per loop (2 loops): at most 2 TLS connections.
        XCTAssertLessThanOrEqual(up.connectionCount, 2)
        // No caRef: the IP node verified against its IP SAN fails against the system store.
        let g2 = try TLSGateway(snapshot([], upstreams: httpsUpstream(up, tls: UpstreamTLSConfig(verify: true))))
        defer { g2.stop() }
        XCTAssertEqual(httpRequest(port: g2.plainPort, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?.status, 502)
    }

    func testActiveHealthChecksSpeakTLS() throws {
        let up = try TLSUpstream(cert: pki.path("upstream.crt"), key: pki.path("upstream.key"))
        defer { up.stop() }
        let ca = try Certificate.parseChain(pem: pki.pem("ca.crt"))
        var ups = httpsUpstream(up, tls: UpstreamTLSConfig(sni: "upstream.internal", verify: true, ca: ca))
        ups["default/up"]?.healthCheck = HealthCheckConfig(active: ActiveHealthCheck(path: "/health", intervalMs: 50, timeoutMs: 1000,
                                                                                    healthyAfter: 1, unhealthyAfter: 1))
        let g = try TLSGateway(snapshot([], upstreams: ups))
        defer { g.stop() }
        XCTAssertTrue(Poll.until(timeout: 10) { up.connectionCount >= 3 }, "probes reach the TLS upstream")
        XCTAssertEqual(g.gateway.nodeHealth()["default/up"]?.values.first, true)
        XCTAssertEqual(httpRequest(port: g.plainPort, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?.status, 200)
    }

    func testUpstreamWrongCAIs502WithLogLine() throws {
        let up = try TLSUpstream(cert: pki.path("upstream.crt"), key: pki.path("upstream.key"))
        defer { up.stop() }
        let lines = LogCapture()
        let other = try Certificate.parseChain(pem: pki.pem("otherca.crt"))
        let g = try TLSGateway(snapshot([], upstreams: httpsUpstream(up, tls: UpstreamTLSConfig(sni: "upstream.internal", verify: true, ca: other))),
                               log: lines.logger)
        defer { g.stop() }
        let r = try XCTUnwrap(httpRequest(port: g.plainPort, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        XCTAssertEqual(r.status, 502)
        let text = lines.text
        XCTAssertTrue(text.contains("upstream TLS handshake failed"), text)
        XCTAssertTrue(text.contains("certificate verify failed"), text)
        // verify: false accepts it.
        let g2 = try TLSGateway(snapshot([], upstreams: httpsUpstream(up, tls: UpstreamTLSConfig(verify: false))))
        defer { g2.stop() }
        XCTAssertEqual(httpRequest(port: g2.plainPort, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?.status, 200)
    }

    func testUpstreamMTLS() throws {
        let up = try TLSUpstream(cert: pki.path("upstream.crt"), key: pki.path("upstream.key"), clientCA: pki.path("ca.crt"))
        defer { up.stop() }
        let ca = try Certificate.parseChain(pem: pki.pem("ca.crt"))
        let withCert = UpstreamTLSConfig(sni: "upstream.internal", verify: true, ca: ca,
                                         clientChain: try Certificate.parseChain(pem: pki.pem("client.crt")),
                                         clientKey: try PrivateKey.parse(pem: pki.pem("client.key")))
        let g = try TLSGateway(snapshot([], upstreams: httpsUpstream(up, tls: withCert)))
        defer { g.stop() }
        let r = try XCTUnwrap(httpRequest(port: g.plainPort, "GET /m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        XCTAssertEqual(r.status, 200, r.bodyString)
        XCTAssertTrue(r.bodyString.contains("client-one"), r.bodyString)
        let g2 = try TLSGateway(snapshot([], upstreams: httpsUpstream(up, tls: UpstreamTLSConfig(sni: "upstream.internal", verify: true, ca: ca))))
        defer { g2.stop() }
        XCTAssertEqual(httpRequest(port: g2.plainPort, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?.status, 502)
    }

    /// A rotated client certificate is presented on the very next request: connections pooled under
    /// the old certificate belong to the old upstream config and are never reused for the new one.
    func testRotatedUpstreamClientCertificateIsNotSentOverAnOldPooledConnection() throws {
        let bothCAs = TestSupport.tempPath("both-cas.crt")
        try (pki.pem("ca.crt") + pki.pem("otherca.crt")).write(toFile: bothCAs, atomically: true, encoding: .utf8)
        let up = try TLSUpstream(cert: pki.path("upstream.crt"), key: pki.path("upstream.key"), clientCA: bothCAs)
        defer { up.stop() }
        let ca = try Certificate.parseChain(pem: pki.pem("ca.crt"))
        func presenting(_ name: String) throws -> UpstreamTLSConfig {
            UpstreamTLSConfig(sni: "upstream.internal", verify: true, ca: ca,
                              clientChain: try Certificate.parseChain(pem: pki.pem("\(name).crt")),
                              clientKey: try PrivateKey.parse(pem: pki.pem("\(name).key")))
        }
        // One loop, one pool: with two, a request of generation 3 could land on the loop that pooled
        // nothing under generation 2 and rightly open a connection (seen in CI: 4 against a bound of 3).
        let g = try TLSGateway(snapshot([], upstreams: httpsUpstream(up, tls: try presenting("client"))), workers: 1)
        defer { g.stop() }
        for _ in 0..<4 {
            let r = try XCTUnwrap(httpRequest(port: g.plainPort, "GET /old HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
            XCTAssertTrue(r.bodyString.contains("client-one"), r.bodyString)
        }
        g.gateway.apply(snapshot([], generation: 2, upstreams: httpsUpstream(up, tls: try presenting("otherclient"))))
        XCTAssertTrue(Poll.until(timeout: 10) {
            httpRequest(port: g.plainPort, "GET /new HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?.bodyString.contains("intruder") == true
        })
        for _ in 0..<4 {
            let r = try XCTUnwrap(httpRequest(port: g.plainPort, "GET /new HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
            XCTAssertTrue(r.bodyString.contains("intruder"), "every request after the apply presents the new certificate: \(r.bodyString)")
        }
        // The same certificate parsed again is the same config: its pooled connections are kept.
        let before = up.connectionCount
        g.gateway.apply(snapshot([], generation: 3, upstreams: httpsUpstream(up, tls: try presenting("otherclient"))))
        XCTAssertTrue(Poll.until(timeout: 10) { g.gateway.generation == 3 })
        for _ in 0..<4 {
            XCTAssertEqual(httpRequest(port: g.plainPort, "GET /same HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?.status, 200)
        }
        XCTAssertEqual(up.connectionCount, before, "the unchanged config's pooled connection serves generation 3")
    }

    func testCertificateAndKeyNeverPrinted() throws {
        let c = try cert("exact", snis: ["api.example.com"])
        let text = "\(c) \(String(reflecting: c)) \(UpstreamTLSConfig(clientChain: c.chain, clientKey: c.key))"
        XCTAssertFalse(text.contains("PRIVATE KEY"))
        XCTAssertFalse(text.contains(pki.pem("exact.key").split(separator: "\n")[1]))
    }
}

/// Collects gateway log lines.
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var logger: GatewayLogger {
        { [self] level, msg, fields in
            lock.lock()
            lines.append("\(level) \(msg) " + fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            lock.unlock()
        }
    }
    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return lines.joined(separator: "\n")
    }
}

/// Reads lines from a pipe with a deadline.
final class LineReader {
    let fd: Int32
    var buf: [UInt8] = []
    init(_ fd: Int32) { self.fd = fd }
    func line(timeout: Double) -> String? {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if let i = buf.firstIndex(of: 10) {
                let l = String(decoding: buf[..<i], as: UTF8.self)
                buf.removeSubrange(...i)
                return l
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 100) <= 0 { continue }
            var tmp = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &tmp, tmp.count)
            if n <= 0 { return nil }
            buf += tmp[..<n]
        }
        return nil
    }
}
