import Foundation
@testable import RampartAlerts
import XCTest

/// cgroup v2 file parsing and the quota conditions over a fake tree.
final class CgroupTests: XCTestCase {
    func testParsing() {
        XCTAssertEqual(CgroupReader.parseCPUMax("max 100000\n"), .init(quota: nil, period: 100_000))
        XCTAssertEqual(CgroupReader.parseCPUMax("50000 100000\n")?.cpus, 0.5)
        XCTAssertNil(CgroupReader.parseCPUMax("-1 100000"))
        XCTAssertNil(CgroupReader.parseCPUMax("50000 0"))
        XCTAssertNil(CgroupReader.parseCPUMax("50000"))
        XCTAssertNil(CgroupReader.parseCPUMax("99999999999999999999999 100000"), "no overflow on a hostile file")
        XCTAssertEqual(CgroupReader.parseUsage("usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n"), 1234)
        XCTAssertNil(CgroupReader.parseUsage("user_usec 1000\n"))
        XCTAssertEqual(CgroupReader.parseCount("4096\n"), 4096)
        XCTAssertNil(CgroupReader.parseCount("max"))
        XCTAssertEqual(CgroupReader.unifiedPath("12:cpu:/x\n0::/system.slice/rampart.service\n"), "/system.slice/rampart.service")
        XCTAssertNil(CgroupReader.unifiedPath("0::/../../etc\n"))
    }

    func testFakeTreeAndProcCgroupPath() throws {
        let dir = NSTemporaryDirectory() + "rampart-cg-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "20000 100000\n".write(toFile: dir + "/cpu.max", atomically: true, encoding: .utf8)
        try "usage_usec 500\n".write(toFile: dir + "/cpu.stat", atomically: true, encoding: .utf8)
        try "300\n".write(toFile: dir + "/memory.current", atomically: true, encoding: .utf8)
        try "max\n".write(toFile: dir + "/memory.max", atomically: true, encoding: .utf8)
        let s = CgroupReader(root: dir).sample()
        XCTAssertEqual(s.cpuMax?.cpus, 0.2)
        XCTAssertEqual(s.cpuUsageMicroseconds, 500)
        XCTAssertEqual(s.memoryCurrent, 300)
        XCTAssertTrue(s.memoryUnlimited)
        XCTAssertNil(s.memoryMax)
        XCTAssertEqual(s.path, dir)
    }

    func testQuotaConditionsOverSamples() throws {
        let facts = FakeFacts()
        let rec = Recorder()
        let engine = Fixture.engine(facts, recorder: rec)
        defer { engine.stop() }
        facts.set { $0.cgroup = CgroupSample(cpuMax: .init(quota: 50_000, period: 100_000), cpuUsageMicroseconds: 0, memoryCurrent: 50, memoryMax: 100) }
        engine.update(rules: [try Fixture.rule("  condition: {type: cpuQuota, threshold: 80, window: 10s}\n  interval: 1s\n  contactPoints: [{name: hook}]\n", name: "cpu"),
                              try Fixture.rule("  condition: {type: memoryQuota, threshold: 80}\n  interval: 1s\n  contactPoints: [{name: hook}]\n", name: "mem")],
                      contactPoints: [try Fixture.webhook()])
        engine.evaluate(now: 100)
        XCTAssertEqual(rec.events, [], "one CPU sample is no rate; memory at 50%")
        // 0.45 CPU-seconds per second against a 0.5 CPU quota: 90%.
        facts.set { $0.cgroup.cpuUsageMicroseconds = 450_000; $0.cgroup.memoryCurrent = 81 }
        engine.evaluate(now: 101)
        XCTAssertEqual(Set(rec.notifications.withLock { $0.map(\.rule) }), ["default/cpu", "default/mem"])
        XCTAssertEqual(rec.notifications.withLock { $0.first { $0.rule == "default/cpu" }?.facts["usage"] }, "90%")
        // Idle for the next 9 s: the rate over the 10 s window falls below 80%.
        facts.set { $0.cgroup.memoryCurrent = 10 }
        engine.evaluate(now: 110)
        XCTAssertEqual(rec.notifications.withLock { $0.filter { $0.status == .resolved }.map(\.rule) }.sorted(), ["default/cpu", "default/mem"])
    }

    func testNoLimitNeverFiresAndIsSaidOnce() throws {
        let facts = FakeFacts()
        facts.set { $0.cgroup = CgroupSample(cpuMax: .init(quota: nil, period: 100_000), cpuUsageMicroseconds: 0, memoryCurrent: 5, memoryMax: nil, memoryUnlimited: true) }
        let said = LogLines()
        let engine = AlertEngine(facts: facts, hmac: Fixture.hmac, log: { m, _ in said.append(m) })
        defer { engine.stop() }
        engine.update(rules: [try Fixture.rule("  condition: {type: cpuQuota, threshold: 0}\n  interval: 1s\n  contactPoints: [{name: hook}]\n", name: "cpu"),
                              try Fixture.rule("  condition: {type: memoryQuota, threshold: 0}\n  interval: 1s\n  contactPoints: [{name: hook}]\n", name: "mem")],
                      contactPoints: [try Fixture.webhook()])
        for t in 0..<5 {
            facts.set { $0.cgroup.cpuUsageMicroseconds = t * 1_000_000 }
            engine.evaluate(now: 100 + Double(t))
        }
        XCTAssertEqual(engine.instances().count, 0)
        XCTAssertEqual(said.lines.filter { $0.contains("no CPU limit") }.count, 1)
        XCTAssertEqual(said.lines.filter { $0.contains("no memory limit") }.count, 1)
    }
}

final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ s: String) { lock.lock(); stored.append(s); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return stored }
}
