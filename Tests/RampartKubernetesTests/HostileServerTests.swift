import Foundation
import RampartHTTPClient
import Synchronization
import TestSupport
import XCTest
@testable import RampartKubernetes

/// A reflector against an API server that lies: bad JSON, a line that never ends, an event over
/// the limit, objects of the wrong kind, an endless error body. It must neither crash nor hoard
/// memory, and must keep trying (each watch is counted by the server).
final class HostileServerTests: XCTestCase {
    static let script = #"""
    import json, socket, sys, threading, time
    from collections import Counter
    watches = Counter(); lock = threading.Lock()
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0)); srv.listen(64)
    print(srv.getsockname()[1], flush=True)
    def chunk(c, data): c.sendall(b"%x\r\n%s\r\n" % (len(data), data))
    def reply(c, status, obj):
        body = json.dumps(obj).encode()
        c.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (status, len(body), body))
    def thing(name, kind="Thing", rv="6"):
        return {"kind": kind, "apiVersion": "h.io/v1", "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}
    def serve(c):
        try:
            req = b""
            while b"\r\n\r\n" not in req:
                d = c.recv(4096)
                if not d: return
                req += d
            target = req.split(b" ")[1].decode()
            path, _, query = target.partition("?")
            mode = path.rsplit("/", 1)[-1]
            if path.startswith("/_count/"):
                with lock: n = watches[mode]
                return reply(c, 200, {"watches": n})
            if mode == "pagesforever" and "watch=1" not in query:
                return reply(c, 200, {"kind": "ThingList", "apiVersion": "h.io/v1",
                                      "metadata": {"resourceVersion": "5", "continue": str(time.time_ns())},
                                      "items": [thing("p%d" % time.time_ns(), rv="5")]})
            if "watch=1" not in query:
                items = [thing("listed", rv="5")]
                if mode == "wrongkind": items.append(thing("intruder", kind="Secret", rv="5"))
                return reply(c, 200, {"kind": "ThingList", "apiVersion": "h.io/v1", "metadata": {"resourceVersion": "5"}, "items": items})
            with lock: watches[mode] += 1
            if mode == "errorflood":
                c.sendall(b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n")
                while True: chunk(c, b"x" * 65536)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            if mode == "badjson":
                chunk(c, b'{"type":"ADDED","object":{"kind":"Thing",\n')
            elif mode == "neverending":
                chunk(c, b'{"type":"ADDED","object":{"kind":"Thing","metadata":{"name":"')
                while True: chunk(c, b"a" * 65536)
            elif mode == "huge":
                obj = thing("huge"); obj["pad"] = "x" * (2 << 20)
                chunk(c, json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n")
            elif mode == "wrongkind":
                chunk(c, json.dumps({"type": "ADDED", "object": thing("secret", kind="Secret", rv="6")}).encode() + b"\n")
                chunk(c, json.dumps({"type": "ADDED", "object": thing("ok", rv="7")}).encode() + b"\n")
            elif mode == "deep":
                chunk(c, b'{"type":"ADDED","object":' + b"[" * 200000 + b"]" * 200000 + b"}\n")
            time.sleep(30)
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

    override func setUpWithError() throws { server = try PythonServer(script: Self.script, name: "hostile-k8s.py") }

    override func tearDown() { server?.stop() }

    func watchCount(_ mode: String) -> Int {
        guard let response = try? HTTPClient.send(HTTPRequest(url: "http://127.0.0.1:\(port)/_count/\(mode)")),
              let object = try? KubeJSON.object(response.body) else { return 0 }
        return Int(KubeJSON.int64(object["watches"]) ?? 0)
    }

    final class Recorder: Sendable {
        let events = Mutex<[String]>([])
        let logs = Mutex<[String]>([])
        var all: [String] { events.withLock { $0 } }
        var logLines: [String] { logs.withLock { $0 } }
    }

    /// Runs a reflector on `/apis/h.io/v1/namespaces/ns/MODE` until the server saw `watches` watches.
    /// `until`: what must have reached the recorder before the reflector stops (the server counts a
    /// watch when it begins, before its events are read).
    func run(_ mode: String, watches: Int = 3, maxEventBytes: Int = 1 << 20, until: ((Recorder) -> Bool)? = nil) -> Recorder {
        let recorder = Recorder()
        let client = KubernetesClient(config: KubeConfig(server: "http://127.0.0.1:\(port)"))
        let reflector = ListWatch(client: client,
                                  config: .init(path: "/apis/h.io/v1/namespaces/ns/\(mode)", kind: "Thing", maxEventBytes: maxEventBytes,
                                                backoffInitial: 0.05, backoffMax: 0.1),
                                  log: { line in recorder.logs.withLock { $0.append(line) } })
        reflector.start { event in
            let text: String
            switch event {
            case .replaced(let objects): text = "replaced " + objects.map(\.metadata.name).joined(separator: ",")
            case .added(let object): text = "added \(object.metadata.name)"
            case .modified(let object): text = "modified \(object.metadata.name)"
            case .deleted(let object): text = "deleted \(object.metadata.name)"
            }
            recorder.events.withLock { $0.append(text) }
        }
        XCTAssertTrue(Poll.until(timeout: 30) { watchCount(mode) >= watches }, "\(mode): the reflector keeps watching")
        if let until { XCTAssertTrue(Poll.until(timeout: 10) { until(recorder) }, "\(mode): \(recorder.all)") }
        reflector.stop()
        XCTAssertEqual(reflector.counters.lists, 1, "\(mode): a bad watch is resumed, not relisted")
        return recorder
    }

    func testBadJSONRestartsTheWatch() {
        let recorder = run("badjson")
        XCTAssertEqual(recorder.all, ["replaced listed"])
        XCTAssertTrue(recorder.logLines.contains { $0.contains("not a JSON object") }, "\(recorder.logLines)")
    }

    func testNeverEndingLineIsCutAtTheLimit() {
        let recorder = run("neverending")
        XCTAssertEqual(recorder.all, ["replaced listed"])
        XCTAssertTrue(recorder.logLines.contains { $0.contains("a watch event is over 1048576 bytes") }, "\(recorder.logLines)")
    }

    func testEventOverTheLimitIsRefused() {
        let recorder = run("huge")
        XCTAssertEqual(recorder.all, ["replaced listed"], "the 2 MiB event never reaches the handler")
        XCTAssertTrue(recorder.logLines.contains { $0.contains("over 1048576 bytes") }, "\(recorder.logLines)")
    }

    func testDeeplyNestedEventIsRefused() {
        let recorder = run("deep")
        XCTAssertEqual(recorder.all, ["replaced listed"])
        XCTAssertTrue(recorder.logLines.contains { $0.contains("nested deeper") }, "\(recorder.logLines)")
    }

    func testObjectsOfAnotherKindAreIgnored() {
        let recorder = run("wrongkind", watches: 1, until: { $0.all.contains("added ok") })
        XCTAssertEqual(recorder.all.first, "replaced listed", "the Secret in the list is left out")
        XCTAssertFalse(recorder.all.contains { $0.contains("secret") || $0.contains("intruder") }, "\(recorder.all)")
        XCTAssertTrue(recorder.logLines.contains { $0.contains("kind Secret") }, "\(recorder.logLines)")
    }

    func testEndlessErrorBodyIsCut() {
        let recorder = run("errorflood")
        XCTAssertEqual(recorder.all, ["replaced listed"])
        XCTAssertFalse(recorder.logLines.isEmpty)
    }

    /// A server that pages forever (a fresh continue token each time) is cut off at the object limit.
    func testListThatNeverEndsIsRefused() {
        let recorder = Recorder()
        let client = KubernetesClient(config: KubeConfig(server: "http://127.0.0.1:\(port)"))
        let reflector = ListWatch(client: client, config: .init(path: "/apis/h.io/v1/namespaces/ns/pagesforever", kind: "Thing", maxListObjects: 20,
                                                                backoffInitial: 0.05, backoffMax: 0.1),
                                  log: { line in recorder.logs.withLock { $0.append(line) } })
        reflector.start { _ in recorder.events.withLock { $0.append("event") } }
        XCTAssertTrue(Poll.until(timeout: 20) { recorder.logLines.contains { $0.contains("list has over 20 objects") } }, "\(recorder.logLines)")
        reflector.stop()
        XCTAssertEqual(recorder.all, [], "no partial list is reported")
    }

    /// `stop()` returns promptly even while the watch is in the middle of a 30-second stall.
    func testStopEndsAStalledWatch() {
        let client = KubernetesClient(config: KubeConfig(server: "http://127.0.0.1:\(port)"))
        let reflector = ListWatch(client: client, config: .init(path: "/apis/h.io/v1/namespaces/ns/wrongkind", kind: "Thing"))
        let added = Atomic<Bool>(false)
        reflector.start { event in if case .added = event { added.store(true, ordering: .relaxed) } }
        XCTAssertTrue(Poll.until(timeout: 10) { added.load(ordering: .relaxed) })
        let stopped = Atomic<Bool>(false)
        Thread {
            reflector.stop()
            stopped.store(true, ordering: .relaxed)
        }.start()
        XCTAssertTrue(Poll.until(timeout: 10) { stopped.load(ordering: .relaxed) }, "stop() did not wait for the server's 30 s")
    }
}

