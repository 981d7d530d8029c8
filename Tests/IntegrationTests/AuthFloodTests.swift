import Foundation
import TestSupport
import XCTest

/// Credential floods against the real `rampart run`: the admin listener keeps answering its probes,
/// basic-auth keeps the data plane serving, and both refuse past their PBKDF2 budget.
final class AuthFloodTests: XCTestCase {
    /// A python client that sends requests with a new wrong credential each time from `threads`
    /// threads until stopped. It writes `READY` to `statusFile` after its first answer, and
    /// `429 <Retry-After>` once it has seen a 429. `header(i)` is a python expression of `i`.
    static func flood(port: Int, path: String, header: String, threads: Int, statusFile: String) throws -> ChildProcess {
        let script = """
        import socket, sys, threading, base64
        port, path, status = \(port), "\(path)", "\(statusFile)"
        lock = threading.Lock()
        state = {"ready": False, "seen429": False}
        def note(line):
            with open(status, "a") as f:
                f.write(line + "\\n")
        def worker(n):
            i = 0
            while True:
                i += 1
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=10)
                    s.sendall(("GET " + path + " HTTP/1.1\\r\\nHost: a\\r\\nConnection: close\\r\\n" + \(header) + "\\r\\n\\r\\n").encode())
                    data = b""
                    while b"\\r\\n\\r\\n" not in data:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    s.close()
                except OSError:
                    continue
                head = data.split(b"\\r\\n\\r\\n")[0].decode("latin-1")
                lines = head.split("\\r\\n")
                code = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else ""
                with lock:
                    if not state["ready"]:
                        state["ready"] = True
                        note("READY")
                    if code == "429" and not state["seen429"]:
                        for l in lines[1:]:
                            if l.lower().startswith("retry-after:"):
                                state["seen429"] = True
                                note("429 " + l.split(":", 1)[1].strip())
        for n in range(\(threads)):
            threading.Thread(target=worker, args=(n,), daemon=True).start()
        threading.Event().wait()
        """
        return try ChildProcess("/usr/bin/env", ["python3", "-c", script])
    }

    static func statusLines(_ file: String) -> [String] {
        ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// curl from another loopback source address (its own admin budget and connection count).
    static func curl(from source: String, _ url: String, headers: [String] = []) -> Int? {
        var args = ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", "--interface", source]
        for h in headers { args += ["-H", h] }
        guard let r = try? Command.run("/usr/bin/curl", args + [url], timeout: 8), r.code == 0 else { return nil }
        return Int(r.stdout)
    }

    static func metric(_ r: RampartInstance, _ name: String) -> Int? {
        guard let body = Curl.get(r.adminURL + "/metrics")?.body else { return nil }
        let line = body.split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") }
    }

    func testAdminProbesAnswerWhileASlowClientAndAWrongTokenFloodRun() throws {
        let r = try RampartInstance(extraArgs: ["--allow-empty"])
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)

        // Connects and sends half a head: it used to hold the one admin thread for 10 s.
        let slow = try RawClient(port: r.adminPort, timeout: 20)
        slow.send("GET /api/v1/status HTTP/1.1\r\nHost: a\r\n")
        let status = TestSupport.tempPath("admin-flood.status")
        defer { try? FileManager.default.removeItem(atPath: status) }
        let flood = try Self.flood(port: r.adminPort, path: "/api/v1/status",
                                   header: "\"Authorization: Bearer wrong-%d-%d\" % (n, i)", threads: 4, statusFile: status)
        defer { flood.stop() }
        XCTAssertTrue(Poll.until(timeout: 20) { Self.statusLines(status).contains("READY") }, "the flood runs")
        XCTAssertTrue(Poll.until(timeout: 20) { Self.statusLines(status).contains("429 1") },
                      "past the PBKDF2 budget a wrong token gets 429 with Retry-After: \(Self.statusLines(status))")

        // Probes answer while both run (each curl has 3 s; the poll's deadline is far longer).
        for path in ["/healthz", "/readyz", "/metrics"] {
            XCTAssertTrue(Poll.until(timeout: 10) { Curl.get(r.adminURL + path, timeout: 3)?.status == 200 }, path)
        }
        XCTAssertGreaterThan(Self.metric(r, "rampart_admin_token_throttled_total") ?? 0, 0)
        // The real token, never verified before, from another client address: its own budget.
        XCTAssertTrue(Poll.until(timeout: 15) {
            Self.curl(from: "127.0.0.2", r.adminURL + "/api/v1/status", headers: ["Authorization: Bearer \(r.token)"]) == 200
        }, "the correct token is admitted during the flood")
        // Verified once, it is cached: it works from the flooding address too, whatever its budget.
        XCTAssertEqual(r.api("/api/v1/status")?.status, 200)

        // The header timeout closes the slow client.
        XCTAssertTrue(slow.isClosed(timeout: 15), "the admin listener closes a client that never finishes its head")
        flood.stop()

        // A wrong token refused once is remembered: repeating it runs no PBKDF2.
        let bad = ["Authorization: Bearer not-the-token"]
        XCTAssertTrue(Poll.until(timeout: 10) { Self.curl(from: "127.0.0.3", r.adminURL + "/api/v1/status", headers: bad) == 401 })
        let before = try XCTUnwrap(Self.metric(r, "rampart_admin_token_verifications_total"))
        for _ in 0..<5 { XCTAssertEqual(Self.curl(from: "127.0.0.3", r.adminURL + "/api/v1/status", headers: bad), 401) }
        XCTAssertEqual(Self.metric(r, "rampart_admin_token_verifications_total"), before)
    }

    func testAdminClosesConnectionsPastThePerClientCap() throws {
        let r = try RampartInstance(extraArgs: ["--allow-empty"])
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        // 16 idle connections from 127.0.0.1 (the per-client cap); each is accepted and held.
        var held: [RawClient] = []
        for _ in 0..<16 { held.append(try RawClient(port: r.adminPort, timeout: 2)) }
        XCTAssertTrue(Poll.until(timeout: 10) {
            // The next one from the same address is closed at once, unanswered.
            guard let extra = try? RawClient(port: r.adminPort, timeout: 2) else { return false }
            extra.send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            return extra.readResponse() == nil
        }, "a 17th connection from one address is closed")
        XCTAssertEqual(Self.curl(from: "127.0.0.2", r.adminURL + "/healthz"), 200, "another address still gets in")
        for c in held { XCTAssertTrue(c.isClosed(timeout: 15), "idle connections are closed by the header timeout") }
        held.removeAll()
        XCTAssertTrue(Poll.until(timeout: 10) { Curl.get(r.adminURL + "/healthz")?.status == 200 })
    }

    func testHTTPSAdminClosesAStalledHandshakeAndKeepsServing() throws {
        let r = try RampartInstance(extraArgs: ["--allow-empty", "--admin-tls", "auto"])
        try r.start()
        let probe = { (path: String) -> Bool in
            (try? Command.run("/usr/bin/curl", ["-fs", "--max-time", "3", "--cacert", r.stateDir + "/admin-tls.crt",
                                                "https://localhost:\(r.adminPort)" + path], timeout: 8).code) == 0
        }
        XCTAssertTrue(Poll.until(timeout: 30) { probe("/readyz") }, r.log)
        // The first bytes of a TLS record and nothing more: the handshake never completes.
        let stalled = try RawClient(port: r.adminPort, timeout: 20)
        stalled.send([0x16, 0x03, 0x01])
        let silent = try RawClient(port: r.adminPort, timeout: 20)
        XCTAssertTrue(Poll.until(timeout: 10) { probe("/healthz") }, "served while two handshakes stall")
        XCTAssertTrue(stalled.isClosed(timeout: 15), "a stalled handshake is closed at the header deadline")
        XCTAssertTrue(silent.isClosed(timeout: 15), "so is a connection that never says anything")
    }

    func basicAuthInstance(limit: String = "") throws -> (RampartInstance, TestUpstream) {
        let up = try TestUpstream(name: "up")
        let r = try RampartInstance(extraArgs: ["--dev"])
        try r.write("all.yaml", Manifests.upstream("web", port: up.port) + """
        ---
        \(Manifests.route("basic", paths: ["/b"], upstream: "web", extra: """
          plugins:
            basic-auth: {users: [{username: alice, password: {value: alice-pw}}, {username: carol, password: {value: carol-pw}}]}
        \(limit)
        """))
        ---
        \(Manifests.route("open", paths: ["/open"], upstream: "web"))

        """)
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/open")?.status == 200 }, r.log)
        return (r, up)
    }

    static func basic(_ user: String, _ password: String) -> [String] {
        ["Authorization: Basic " + Data("\(user):\(password)".utf8).base64EncodedString()]
    }

    func testBasicAuthKnownAndUnknownUsersTakeTheSamePath() throws {
        let (r, up) = try basicAuthInstance()
        defer { up.stop() }
        let count = { Self.metric(r, "rampart_basic_auth_verifications_total") ?? -1 }
        let start = count()
        let known = try XCTUnwrap(Curl.get(r.url + "/b", headers: Self.basic("alice", "wrong")))
        XCTAssertEqual(known.status, 401)
        XCTAssertTrue(known.headers.contains("WWW-Authenticate: Basic realm=\"rampart\""), known.headers)
        XCTAssertEqual(count(), start + 1, "a known user's wrong password costs one PBKDF2")
        let unknown = try XCTUnwrap(Curl.get(r.url + "/b", headers: Self.basic("mallory", "wrong")))
        XCTAssertEqual(unknown.status, 401)
        XCTAssertTrue(unknown.headers.contains("WWW-Authenticate: Basic realm=\"rampart\""), unknown.headers)
        XCTAssertEqual(count(), start + 2, "an unknown user costs one PBKDF2 too (against the dummy hash)")
        // Refusals are remembered for both: a repeat runs no PBKDF2.
        XCTAssertEqual(Curl.get(r.url + "/b", headers: Self.basic("alice", "wrong"))?.status, 401)
        XCTAssertEqual(Curl.get(r.url + "/b", headers: Self.basic("mallory", "wrong"))?.status, 401)
        XCTAssertEqual(count(), start + 2)
        // A name that is a prefix of a user, and a user with the other user's password, are refused.
        XCTAssertEqual(Curl.get(r.url + "/b", headers: Self.basic("alic", "alice-pw"))?.status, 401)
        XCTAssertEqual(Curl.get(r.url + "/b", headers: Self.basic("carol", "alice-pw"))?.status, 401)
        // The right password admits, once verified it is cached.
        XCTAssertEqual(Curl.get(r.url + "/b", headers: Self.basic("alice", "alice-pw"))?.status, 200)
        let afterFirst = count()
        XCTAssertEqual(Curl.get(r.url + "/b", headers: Self.basic("alice", "alice-pw"))?.status, 200)
        XCTAssertEqual(count(), afterFirst, "a verified credential is served from the cache")
        XCTAssertFalse(up.log.contains { $0.contains("alice-pw") })
    }

    func testBasicAuthFloodLeavesOtherRoutesServedAndAnswers429PastTheBudget() throws {
        let (r, up) = try basicAuthInstance()
        defer { up.stop() }
        let status = TestSupport.tempPath("basic-flood.status")
        defer { try? FileManager.default.removeItem(atPath: status) }
        let flood = try Self.flood(port: r.port, path: "/b",
                                   header: "\"Authorization: Basic \" + base64.b64encode((\"alice:guess-%d-%d\" % (n, i)).encode()).decode()",
                                   threads: 96, statusFile: status)
        defer { flood.stop() }
        XCTAssertTrue(Poll.until(timeout: 30) { Self.statusLines(status).contains("READY") }, "the flood runs")
        XCTAssertTrue(Poll.until(timeout: 30) { Self.statusLines(status).contains("429 1") },
                      "past the loop's pending checks a new credential gets 429 with Retry-After: \(Self.statusLines(status))")
        // The same loop (--workers 1) keeps serving a route without auth during the flood.
        XCTAssertTrue(Poll.until(timeout: 10) { Curl.get(r.url + "/open", timeout: 3)?.status == 200 })
        // And the right password is still admitted (after a 429 or two at most).
        XCTAssertTrue(Poll.until(timeout: 15) { Curl.get(r.url + "/b", headers: Self.basic("alice", "alice-pw"), timeout: 3)?.status == 200 })
        XCTAssertGreaterThan(Self.metric(r, "rampart_basic_auth_overload_total") ?? 0, 0)
        flood.stop()
        XCTAssertEqual(Curl.get(r.url + "/b", headers: Self.basic("alice", "alice-pw"))?.status, 200)
    }

    func testLimitCountByAddressRunsBeforeBasicAuth() throws {
        let (r, up) = try basicAuthInstance(limit: "    limit-count: {count: 2, window: 60s, key: remote_addr}")
        defer { up.stop() }
        let start = Self.metric(r, "rampart_basic_auth_verifications_total") ?? -1
        XCTAssertEqual(Curl.get(r.url + "/b", headers: Self.basic("alice", "guess-1"))?.status, 401)
        XCTAssertEqual(Curl.get(r.url + "/b", headers: Self.basic("alice", "guess-2"))?.status, 401)
        let limited = try XCTUnwrap(Curl.get(r.url + "/b", headers: Self.basic("alice", "guess-3")))
        XCTAssertEqual(limited.status, 429, "guesses count against the limit")
        XCTAssertTrue(limited.headers.lowercased().contains("retry-after:"), limited.headers)
        XCTAssertEqual(Self.metric(r, "rampart_basic_auth_verifications_total"), start + 2, "a limited guess runs no PBKDF2")
    }
}
