import Foundation

// Real peers for the alert tests: Alertmanager and Prometheus (Debian packages), a python webhook
// receiver that checks Rampart's signature, and a python upstream that can be slow or fail.

/// A real `prometheus-alertmanager` on 127.0.0.1 (no clustering, storage in a temporary dir).
public final class AlertmanagerServer: @unchecked Sendable {
    public let port: Int
    public let process: Background
    public static let binary = "/usr/bin/prometheus-alertmanager"

    public init() throws {
        let dir = try TempDir.make("am")
        try """
        route:
          receiver: 'null'
          group_by: ['alertname']
          group_wait: 1s
          group_interval: 1s
          repeat_interval: 1h
        receivers:
          - name: 'null'
        """.write(toFile: dir + "/alertmanager.yml", atomically: true, encoding: .utf8)
        port = Ports.free()
        process = try Background(Self.binary, ["--config.file=\(dir)/alertmanager.yml", "--storage.path=\(dir)/data",
                                               "--web.listen-address=127.0.0.1:\(port)", "--cluster.listen-address="])
        guard Poll.until(timeout: 30, { Curl.get(url + "/-/ready")?.status == 200 }) else {
            throw NSError(domain: "Alertmanager", code: 1, userInfo: [NSLocalizedDescriptionKey: "not ready: \(process.output)"])
        }
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    /// `GET /api/v2/alerts` (active alerts; resolved ones are not listed).
    public func alerts() -> [[String: Any]] {
        guard let r = Curl.get(url + "/api/v2/alerts"), r.status == 200,
              let list = try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [[String: Any]] else { return [] }
        return list
    }

    deinit { process.stop() }
}

/// A real `prometheus` server scraping one target.
public final class PrometheusServer: @unchecked Sendable {
    public let port: Int
    public let process: Background

    /// `scrapeConfig`: the YAML of one scrape job (indented under `scrape_configs:`).
    public init(scrapeConfig: String) throws {
        let dir = try TempDir.make("prom")
        try "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n\(scrapeConfig)"
            .write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
        let check = try Command.run("/usr/bin/promtool", ["check", "config", dir + "/prometheus.yml"])
        guard check.code == 0 else { throw NSError(domain: "Prometheus", code: 2, userInfo: [NSLocalizedDescriptionKey: check.stdout + check.stderr]) }
        port = Ports.free()
        process = try Background("/usr/bin/prometheus", ["--config.file=\(dir)/prometheus.yml", "--storage.tsdb.path=\(dir)/data",
                                                         "--web.listen-address=127.0.0.1:\(port)"])
        guard Poll.until(timeout: 60, { Curl.get(url + "/-/ready")?.status == 200 }) else {
            throw NSError(domain: "Prometheus", code: 1, userInfo: [NSLocalizedDescriptionKey: "not ready: \(process.output)"])
        }
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    /// The instant vector of `query` as (labels, value) pairs.
    public func query(_ query: String) -> [(labels: [String: String], value: String)] {
        let q = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? query
        guard let r = Curl.get(url + "/api/v1/query?query=" + q), r.status == 200,
              let top = try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any],
              let data = top["data"] as? [String: Any], let result = data["result"] as? [[String: Any]] else { return [] }
        return result.compactMap { item in
            guard let metric = item["metric"] as? [String: String], let v = item["value"] as? [Any], v.count == 2, let s = v[1] as? String else { return nil }
            return (metric, s)
        }
    }

    deinit { process.stop() }
}

let webhookReceiverSource = #"""
# A webhook receiver for Rampart's alert notifications, verifying X-Rampart-Signature the way the
# README tells users to: HMAC-SHA256(secret, TIMESTAMP + "." + BODY), a timestamp within 5 minutes.
# argv: PORT MODE(ok|hang|fail) SECRET LOG. Appends one JSON line per request to LOG.
import hashlib, hmac, http.server, json, sys, threading, time
port, mode, secret, log = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode(), sys.argv[4]
lock = threading.Lock()

def verify(headers, body):
    ts, sig = headers.get("X-Rampart-Timestamp", ""), headers.get("X-Rampart-Signature", "")
    if not ts.isdigit() or abs(time.time() - int(ts)) > 300:
        return False
    expected = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, sig)

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        entry = {"verified": verify(self.headers, body), "headers": dict(self.headers), "body": body.decode("utf-8", "replace")}
        with lock:
            with open(log, "a") as f:
                f.write(json.dumps(entry) + "\n")
        if mode == "hang":
            time.sleep(3600)
        status = 500 if mode == "fail" else (200 if entry["verified"] else 401)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""#

/// A python webhook receiver (ok: verifies and answers 200, 401 if the signature is wrong; hang: never answers; fail: 500).
public final class WebhookReceiver: @unchecked Sendable {
    public let port: Int
    public let logPath: String
    let child: ChildProcess

    public struct Received: @unchecked Sendable {
        public var verified: Bool
        public var headers: [String: String]
        public var body: String
        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:] }
        public var status: String { json["status"] as? String ?? "" }
        public var rule: String { json["rule"] as? String ?? "" }
        public var subject: [String: String] { json["subject"] as? [String: String] ?? [:] }
    }

    public init(mode: String = "ok", secret: String) throws {
        let script = NSTemporaryDirectory() + "rampart-webhook-receiver-\(getpid()).py"
        if !FileManager.default.fileExists(atPath: script) { try webhookReceiverSource.write(toFile: script, atomically: true, encoding: .utf8) }
        logPath = TestSupport.tempPath("webhook-\(mode).log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        child = try ChildProcess("/usr/bin/env", ["python3", script, "0", mode, secret, logPath])
        guard let line = child.readFirstLine(), let p = Int(line) else {
            throw NSError(domain: "WebhookReceiver", code: 1, userInfo: [NSLocalizedDescriptionKey: "receiver did not start"])
        }
        port = p
    }

    public var url: String { "http://127.0.0.1:\(port)/hook" }

    public var received: [Received] {
        ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return Received(verified: o["verified"] as? Bool ?? false, headers: o["headers"] as? [String: String] ?? [:], body: o["body"] as? String ?? "")
        }
    }

    /// The first notification matching, waiting for it.
    public func wait(timeout: Double = 30, _ match: (Received) -> Bool) -> Received? {
        var found: Received?
        Poll.until(timeout: timeout, interval: 0.05) {
            found = received.first(where: match)
            return found != nil
        }
        return found
    }

    public func stop() { child.stop() }
    deinit { child.stop() }
}

let alertUpstreamSource = #"""
# An upstream for alert tests: /healthz 200, /status/NNN that status, /slow after 300 ms, else 200.
# argv: PORT (0 = any; the port is printed).
import http.server, sys, time
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        status = 200
        if self.path.startswith("/status/"):
            status = int(self.path.split("/")[2][:3])
        if self.path.startswith("/slow"):
            time.sleep(0.3)
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer.allow_reuse_address = True
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""#

/// The alert tests' python upstream, restartable on the same port.
public final class AlertUpstream: @unchecked Sendable {
    public private(set) var port: Int
    var child: ChildProcess?

    public init(port: Int = 0) throws {
        self.port = port
        try start()
    }

    public func start() throws {
        let script = NSTemporaryDirectory() + "rampart-alert-upstream-\(getpid()).py"
        if !FileManager.default.fileExists(atPath: script) { try alertUpstreamSource.write(toFile: script, atomically: true, encoding: .utf8) }
        let c = try ChildProcess("/usr/bin/env", ["python3", script, String(port)])
        guard let line = c.readFirstLine(), let p = Int(line) else {
            throw NSError(domain: "AlertUpstream", code: 1, userInfo: [NSLocalizedDescriptionKey: "upstream did not start"])
        }
        port = p
        child = c
    }

    /// SIGKILL, as a crash.
    public func kill() {
        guard let c = child else { return }
        Glibc.kill(c.process.processIdentifier, SIGKILL)
        c.process.waitUntilExit()
        child = nil
    }

    deinit { child?.stop() }
}
