import Foundation

/// A python `ssl` HTTPS upstream: echoes the request as JSON (`path`, `headers`, `peer` = verified client
/// certificate subject), keep-alive, and logs "CONN" per accepted TLS connection. With `clientCA` it
/// requires a client certificate that chains to it.
public final class TLSUpstream: @unchecked Sendable {
    public let child: ChildProcess
    public let port: Int
    public let logPath: String

    static let script = #"""
    import ssl, sys, json, http.server, socketserver
    cert, key, ca, log = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if ca != "-":
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(ca)
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_GET(self):
            peer = self.connection.getpeercert()
            subj = ",".join("%s=%s" % kv for rdn in (peer or {}).get("subject", ()) for kv in rdn)
            body = json.dumps({"path": self.path, "headers": [[k, v] for k, v in self.headers.items()], "peer": subj}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a): pass
    class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        def verify_request(self, request, addr):
            with open(log, "a") as f: f.write("CONN\n")
            return True
    s = S(("127.0.0.1", 0), H)
    s.socket = ctx.wrap_socket(s.socket, server_side=True)
    print(s.server_address[1], flush=True)
    s.serve_forever()
    """#

    public init(cert: String, key: String, clientCA: String? = nil) throws {
        let path = TestSupport.tempPath("tls-upstream.py")
        try TLSUpstream.script.write(toFile: path, atomically: true, encoding: .utf8)
        logPath = TestSupport.tempPath("tls-upstream.log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        child = try ChildProcess("/usr/bin/env", ["python3", path, cert, key, clientCA ?? "-", logPath])
        guard let line = child.readFirstLine(), let p = Int(line) else {
            child.stop()
            throw NSError(domain: "TLSUpstream", code: 1, userInfo: [NSLocalizedDescriptionKey: "python TLS upstream did not start"])
        }
        port = p
    }

    public var connectionCount: Int {
        ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0 == "CONN" }.count
    }

    public func stop() { child.stop() }
    deinit { stop() }
}
