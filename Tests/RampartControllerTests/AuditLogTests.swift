import Foundation
import RampartModel
import TestSupport
import XCTest
@testable import RampartController

final class AuditLogTests: XCTestCase {
    func makeLog(_ n: Int) throws -> (StateDir, String) {
        let dir = try StateDir(try TempDir.make("audit") + "/state")
        let log = try AuditLog(dir: dir)
        for i in 1...n {
            try log.append(.init(actor: "dir", action: "changed", key: ResourceKey(.route, "default", "r\(i)"), generationFrom: i - 1, generationTo: i, diff: "+line \(i)\n"))
        }
        return (dir, dir.file(AuditLog.fileName))
    }

    func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    func write(_ lines: [String], _ path: String) throws {
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    func testIntactChainVerifiesAndSurvivesReopen() throws {
        let (dir, path) = try makeLog(3)
        XCTAssertNil(AuditLog.verify([UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))).firstBad)
        try AuditLog(dir: dir).append(.init(actor: "dir", action: "added", key: nil, generationFrom: 3, generationTo: 4, diff: ""))
        let v = AuditLog.verify([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        XCTAssertNil(v.firstBad)
        XCTAssertEqual(v.entries, 4)
        var st = stat()
        stat(path, &st)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
    }

    func testEveryTamperingIsFoundWithTheFirstBadSeq() throws {
        let (_, path) = try makeLog(5)
        let original = try lines(path)
        let cases: [(String, [String], Int)] = [
            ("edited", original.enumerated().map { $0.offset == 2 ? $0.element.replacingOccurrences(of: "+line 3", with: "+line X") : $0.element }, 3),
            ("deleted", original.enumerated().filter { $0.offset != 1 }.map(\.element), 3),
            ("reordered", [original[0], original[2], original[1], original[3], original[4]], 3),
            ("inserted", Array(original[0...1]) + [original[1]] + Array(original[2...]), 2),
            ("truncated hash", original.enumerated().map { $0.offset == 4 ? String($0.element.dropLast(3)) + "\"}" : $0.element }, 5),
        ]
        for (name, tampered, seq) in cases {
            try write(tampered, path)
            let v = AuditLog.verify([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
            XCTAssertEqual(v.firstBad?.seq, seq, name)
        }
        // The CLI names the same entry and exits 1.
        try write(cases[0].1, path)
        let r = try Command.rampart(["audit", "verify", "--state-dir", (path as NSString).deletingLastPathComponent])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.stdout.contains("broken at seq 3"), r.stdout)
        try write(original, path)
        XCTAssertEqual(try Command.rampart(["audit", "verify", "--state-dir", (path as NSString).deletingLastPathComponent]).code, 0)
    }
}
