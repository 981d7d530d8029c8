import Foundation
import RampartHTTPClient
import TestSupport
import XCTest

/// `HTTPClient` keeps a connection cache per thread: a thread's requests to one keep-alive server
/// share a connection, another thread opens its own, and a server that closes is reconnected.
final class ConnectionReuseTests: XCTestCase {
    /// Answers each request on a connection with the number of connections accepted so far, keeping
    /// the connection open; `/close` answers and closes it.
    static let script = #"""
    import socket, sys, threading
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0)); srv.listen(16)
    print(srv.getsockname()[1], flush=True)
    accepted = [0]
    def serve(c):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(4096)
                    if not d: return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                path = head.split(b" ")[1]
                body = str(accepted[0]).encode()
                close = path == b"/close"
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), b"Connection: close\r\n" if close else b"", body))
                if close: return
        finally:
            c.close()
    while True:
        c, _ = srv.accept()
        accepted[0] += 1
        threading.Thread(target=serve, args=(c,), daemon=True).start()
    """#

    var server: PythonServer?
    var port: Int { server?.port ?? 0 }

    override func setUpWithError() throws { server = try PythonServer(script: Self.script, name: "keepalive-server.py") }

    override func tearDown() { server?.stop() }

    func get(_ path: String) throws -> String { try Self.get(port, path) }

    static func get(_ port: Int, _ path: String) throws -> String {
        try HTTPClient.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)\(path)")).text
    }

    func testRequestsOfOneThreadShareAConnectionAndAnotherThreadOpensItsOwn() throws {
        let answers = try (0..<5).map { _ in try get("/") }
        XCTAssertEqual(answers, ["1", "1", "1", "1", "1"], "five requests, one connection")
        let port = self.port
        let other = Thread.runAndWait { (try? Self.get(port, "/")) ?? "failed" }
        XCTAssertEqual(other, "2", "another thread, another connection")
        XCTAssertEqual(try get("/close"), "2", "still the first connection")
        XCTAssertEqual(try get("/"), "3", "the server closed it: a new one")
    }
}

extension Thread {
    /// Runs `body` on a new thread and returns its result.
    static func runAndWait<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T? {
        let done = DispatchSemaphore(value: 0)
        let result = ResultBox<T>()
        Thread { result.value = body(); done.signal() }.start()
        done.wait()
        return result.value
    }
}

private final class ResultBox<T: Sendable>: @unchecked Sendable {
    var value: T?
}
