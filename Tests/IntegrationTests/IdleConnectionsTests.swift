import Foundation
import TestSupport
import XCTest

/// 10,000 idle client connections must not stop new requests being served.
final class IdleConnectionsTests: XCTestCase {
    func testTenThousandIdleConnectionsDoNotBlockNewRequests() throws {
        var lim = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
        guard lim.rlim_max >= 12_000 else { throw XCTSkip("hard RLIMIT_NOFILE \(lim.rlim_max) is below 12,000") }
        let saved = lim
        lim.rlim_cur = min(lim.rlim_max, 65_536)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)   // inherited by the processes started below
        defer { var s = saved; setrlimit(Int32(RLIMIT_NOFILE.rawValue), &s) }

        let up = try TestUpstream(name: "up")
        let r = try RampartInstance()
        try r.write("a.yaml", Manifests.upstream("web", port: up.port) + "---\n" + Manifests.route("web", paths: ["/*"], upstream: "web"))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/x")?.status == 200 }, r.log)

        // A python client opens 10,000 connections, sends nothing, says READY, and holds them until stopped.
        let script = """
        import socket, resource, time
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        socks = []
        for i in range(10000):
            s = socket.create_connection(("127.0.0.1", \(r.port)))
            socks.append(s)
        print("READY", len(socks), flush=True)
        time.sleep(600)  # holds the connections until the test stops this process
        """
        let holder = try ChildProcess("/usr/bin/env", ["python3", "-c", script])
        defer { holder.stop() }
        XCTAssertEqual(holder.readFirstLine(timeout: 60), "READY 10000")
        XCTAssertTrue(Poll.until(timeout: 10) { Curl.get(r.url + "/x")?.status == 200 }, "a new request is served while 10,000 connections idle")
        let active = Curl.get(r.adminURL + "/metrics")?.body.split(separator: "\n").first { $0.hasPrefix("rampart_connections_active") } ?? ""
        XCTAssertTrue((Int(active.split(separator: " ").last ?? "") ?? 0) >= 10_000, String(active))
    }
}
