import Foundation
import RampartHTTPClient
import Synchronization
import TestSupport
import XCTest

/// `HTTPClient.stream` against a python server that streams, stalls and never ends.
final class StreamingTests: XCTestCase {
    static let script = #"""
    import socket, sys, time, threading
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0)); srv.listen(16)
    print(srv.getsockname()[1], flush=True)
    def chunk(c, data): c.sendall(b"%x\r\n%s\r\n" % (len(data), data))
    def serve(c):
        try:
            req = b""
            while b"\r\n\r\n" not in req:
                d = c.recv(4096)
                if not d: return
                req += d
            path = req.split(b" ")[1].decode()
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            if path == "/pieces":
                c.sendall(head)
                for piece in [b'{"n":', b'1}\n{"n"', b':2}\n', b'{"n":3}\n']:
                    chunk(c, piece); time.sleep(0.05)
                c.sendall(b"0\r\n\r\n")
            elif path == "/stall":
                c.sendall(head); chunk(c, b'{"n":1}\n'); time.sleep(3600)
            elif path == "/endless":
                c.sendall(head)
                while True: chunk(c, b"x" * 65536)
            elif path == "/gone":
                body = b'{"kind":"Status","code":410,"reason":"Expired","message":"too old"}'
                c.sendall(b"HTTP/1.1 410 Gone\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        except Exception:
            pass
        finally:
            try: c.close()
            except Exception: pass
    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
    """#

    var server: PythonServer?
    var port: Int { server?.port ?? 0 }

    override func setUpWithError() throws { server = try PythonServer(script: Self.script, name: "stream-server.py") }

    override func tearDown() { server?.stop() }

    func testChunksArriveWithStatusAndEndComplete() throws {
        var text = ""
        var statuses = Set<Int>()
        let result = try HTTPClient.stream(HTTPRequest(url: "http://127.0.0.1:\(port)/pieces")) { status, chunk in
            statuses.insert(status)
            text += String(decoding: chunk, as: UTF8.self)
            return true
        }
        XCTAssertEqual(result.end, .complete)
        XCTAssertEqual(result.status, 200)
        XCTAssertEqual(statuses, [200])
        XCTAssertEqual(text, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n")
    }

    func testErrorStatusBodyIsDelivered() throws {
        var body: [UInt8] = []
        let result = try HTTPClient.stream(HTTPRequest(url: "http://127.0.0.1:\(port)/gone")) { _, chunk in
            body += chunk
            return true
        }
        XCTAssertEqual(result.status, 410)
        XCTAssertTrue(String(decoding: body, as: UTF8.self).contains("Expired"))
    }

    /// A stalled stream ends as soon as another thread cancels, not at a timeout.
    func testCancelFromAnotherThreadEndsAStalledStream() throws {
        let cancellation = HTTPCancellation()
        let received = Atomic<Bool>(false)
        let done = Atomic<Bool>(false)
        let url = "http://127.0.0.1:\(port)/stall"
        let thread = Thread {
            let result = try? HTTPClient.stream(HTTPRequest(url: url, timeoutMs: 0), cancellation: cancellation) { _, _ in
                received.store(true, ordering: .relaxed)
                return true
            }
            XCTAssertEqual(result?.end, .cancelled)
            done.store(true, ordering: .relaxed)
        }
        thread.start()
        XCTAssertTrue(Poll.until(timeout: 10) { received.load(ordering: .relaxed) })
        cancellation.cancel()
        XCTAssertTrue(Poll.until(timeout: 10) { done.load(ordering: .relaxed) }, "the 1-hour stall was cut short")
        // A cancelled cancellation stops the next transfer before it starts.
        let again = try HTTPClient.stream(HTTPRequest(url: "http://127.0.0.1:\(port)/pieces"), cancellation: cancellation) { _, _ in true }
        XCTAssertEqual(again.end, .cancelled)
    }

    func testIdleTimeoutEndsAStalledStream() {
        XCTAssertThrowsError(try HTTPClient.stream(HTTPRequest(url: "http://127.0.0.1:\(port)/stall", timeoutMs: 0),
                                                   options: HTTPStreamOptions(idleTimeoutSeconds: 1)) { _, _ in true }) { error in
            XCTAssertTrue("\(error)".contains("/stall"), "\(error)")
        }
    }

    /// An endless body: the receiver stops it, and `send` refuses past its limit instead of growing.
    func testReceiverStopsAnEndlessBodyAndSendIsBounded() throws {
        var total = 0
        let result = try HTTPClient.stream(HTTPRequest(url: "http://127.0.0.1:\(port)/endless", timeoutMs: 0)) { _, chunk in
            total += chunk.count
            return total < 1 << 20
        }
        XCTAssertEqual(result.end, .stoppedByReceiver)
        XCTAssertThrowsError(try HTTPClient.send(HTTPRequest(url: "http://127.0.0.1:\(port)/endless", timeoutMs: 0), maxBodyBytes: 1 << 20)) { error in
            XCTAssertTrue("\(error)".contains("over 1048576 bytes"), "\(error)")
        }
    }
}
