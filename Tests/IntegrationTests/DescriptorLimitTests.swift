import Foundation
import TestSupport
import XCTest

/// Out of file descriptors, the gateway stops accepting for a while instead of spinning on a
/// listener it cannot drain, and serves again once descriptors are free.
final class DescriptorLimitTests: XCTestCase {
    private func cpuTicks(_ pid: Int32) -> Int {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state(0) ... utime(11) stime(12), in clock ticks.
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return 0 }
        return user + system
    }

    func testAtTheDescriptorLimitAcceptsPauseAndResume() throws {
        let up = try TestUpstream(name: "up")
        defer { up.stop() }
        let r = try RampartInstance()
        try r.write("a.yaml", Manifests.upstream("web", port: up.port) + "---\n" + Manifests.route("web", paths: ["/*"], upstream: "web"))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/x")?.status == 200 }, r.log)
        let pid = try XCTUnwrap(r.process?.pid)

        // Leave room for a handful of connections only.
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
        XCTAssertGreaterThan(open, 0)
        let limit = open + 6
        let set = try Command.run("/usr/bin/prlimit", ["--pid", "\(pid)", "--nofile=\(limit):\(limit)"])
        XCTAssertEqual(set.code, 0, set.stderr)

        var holders: [RawClient] = []
        for _ in 0..<24 { holders.append(try RawClient(port: r.port)) }
        XCTAssertTrue(Poll.until(timeout: 10) { r.log.contains("cannot accept connections") }, r.log)

        // A loop woken by a listener it cannot drain burns a whole core; a paused one almost nothing.
        let ticksPerSecond = Int(sysconf(Int32(_SC_CLK_TCK)))
        let before = cpuTicks(pid)
        let start = Date()
        Thread.sleep(forTimeInterval: 2)   // the measurement window, not a wait for something to happen
        let used = Double(cpuTicks(pid) - before) / Double(ticksPerSecond)
        XCTAssertLessThan(used / Date().timeIntervalSince(start), 0.3, "the gateway must not spin at the descriptor limit")

        holders.removeAll()   // closes every held connection
        XCTAssertTrue(Poll.until(timeout: 10) { Curl.get(r.url + "/x")?.status == 200 }, "accepts resume once descriptors are free\n" + r.log)
    }
}
