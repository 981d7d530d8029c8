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

/// Start-up after a crash mid-write of the audit log.
final class AuditLogRepairTests: XCTestCase {
    func makeLog(_ n: Int) throws -> (StateDir, String) {
        let dir = try StateDir(try TempDir.make("audit") + "/state")
        let log = try AuditLog(dir: dir)
        for i in 1...n {
            try log.append(.init(actor: "dir", action: "changed", key: ResourceKey(.route, "default", "r\(i)"), generationFrom: i - 1, generationTo: i, diff: ""))
        }
        return (dir, dir.file(AuditLog.fileName))
    }

    func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    func append(_ text: String, to path: String) throws {
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(text.utf8))
        try handle.close()
    }

    func testTornLastLineIsCutRecordedAndTheChainContinues() throws {
        let (dir, path) = try makeLog(3)
        let whole = try bytes(path)
        let lastHash = try XCTUnwrap(AuditLog.lastEntry(whole)?.hash)
        try append("{\"seq\":4,\"time\":\"2026-12-01T10:00:00.000Z\",\"act", to: path)
        XCTAssertNotNil(AuditLog.verify(try bytes(path)).firstBad, "torn: the chain does not verify before the repair")

        let log = try AuditLog(dir: dir)
        XCTAssertTrue(log.repaired?.contains("removed a torn last line") ?? false, log.repaired ?? "nil")
        try log.append(.init(actor: "dir", action: "added", key: nil, generationFrom: 3, generationTo: 4, diff: ""))
        let after = try bytes(path)
        let v = AuditLog.verify(after)
        XCTAssertNil(v.firstBad, "\(v.firstBad.map { "\($0)" } ?? "")")
        XCTAssertEqual(v.entries, 5, "3 whole entries, the repair, the next change")
        XCTAssertEqual(Array(after.prefix(whole.count)), whole, "the whole entries are untouched")
        let repair = try XCTUnwrap(AuditLog.parse(String(decoding: after[whole.count...].split(separator: UInt8(ascii: "\n"))[0], as: UTF8.self)))
        XCTAssertEqual(repair.seq, 4)
        XCTAssertEqual(repair.prev, lastHash, "linked to the last whole entry, not restarted at seq 1")
        XCTAssertEqual(repair.generation, 3)

        XCTAssertNil(try AuditLog(dir: dir).repaired, "a whole file is not touched again")
    }

    func testWholeEntryMissingOnlyItsNewlineIsKept() throws {
        let (dir, path) = try makeLog(2)
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text.removeLast()
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let log = try AuditLog(dir: dir)
        XCTAssertTrue(log.repaired?.contains("completed entry seq 2") ?? false, log.repaired ?? "nil")
        let v = AuditLog.verify(try bytes(path))
        XCTAssertNil(v.firstBad)
        XCTAssertEqual(v.entries, 3, "both entries kept, plus the repair")
    }

    /// A forged tail that parses but does not link to the chain is not adopted: it is cut like any torn line.
    func testUnlinkedTailIsNotAdopted() throws {
        let (dir, path) = try makeLog(2)
        let first = try XCTUnwrap(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").first)
        try append(String(first), to: path)
        let log = try AuditLog(dir: dir)
        XCTAssertTrue(log.repaired?.contains("removed a torn last line") ?? false, log.repaired ?? "nil")
        XCTAssertEqual(AuditLog.verify(try bytes(path)).entries, 3)
        XCTAssertNil(AuditLog.verify(try bytes(path)).firstBad)
    }

    func testFirstLineTornLeavesOnlyTheRepair() throws {
        let dir = try StateDir(try TempDir.make("audit") + "/state")
        try Array("{\"seq\":1,\"ti".utf8).withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: dir.file(AuditLog.fileName))) }
        let log = try AuditLog(dir: dir)
        XCTAssertNotNil(log.repaired)
        let v = AuditLog.verify(try bytes(dir.file(AuditLog.fileName)))
        XCTAssertNil(v.firstBad)
        XCTAssertEqual(v.entries, 1)
    }
}

final class StateDirLockTests: XCTestCase {
    func testSecondHolderIsRefusedUntilTheFirstLetsGo() throws {
        let dir = try StateDir(try TempDir.make("lock") + "/state")
        var first: StateDirLock? = try StateDirLock(dir)
        XCTAssertThrowsError(try StateDirLock(dir)) { error in
            XCTAssertTrue(error is StateDirLock.Held, "\(error)")
            XCTAssertTrue("\(error)".contains("(pid \(getpid()))"), "\(error)")
            XCTAssertTrue("\(error)".contains("POST /api/v1/keyring/reencrypt"), "\(error)")
        }
        withExtendedLifetime(first) {}
        first = nil
        XCTAssertNoThrow(try StateDirLock(dir), "released with its holder")
    }

    func testLockFileIsNotFollowedThroughASymlink() throws {
        let dir = try StateDir(try TempDir.make("lock") + "/state")
        let elsewhere = try TempDir.make("elsewhere") + "/victim"
        try "keep".write(toFile: elsewhere, atomically: true, encoding: .utf8)
        XCTAssertEqual(symlink(elsewhere, dir.file(StateDirLock.fileName)), 0)
        XCTAssertThrowsError(try StateDirLock(dir))
        XCTAssertEqual(try String(contentsOfFile: elsewhere, encoding: .utf8), "keep", "the lock never truncates what a planted link points to")
    }
}

final class StateFileBoundTests: XCTestCase {
    /// The writer's bound and the reader's are one: a state.json larger than the YAML parser's
    /// default (16 MiB) but within the bound reads back; one past it is never written.
    func testWhatIsWrittenReadsBack() throws {
        let padding = [UInt8](repeating: UInt8(ascii: " "), count: 17 << 20)
        let big = Array("{\"generation\":7,\"hash\":\"\",\"origin\":\"dir\",\"resources\":[".utf8) + padding + Array("]}\n".utf8)
        XCTAssertNoThrow(try StateFile.bounded(big))
        XCTAssertEqual(StateFile.decode(big, path: "state.json")?.generation, 7)
        XCTAssertThrowsError(try StateFile.bounded([UInt8](repeating: UInt8(ascii: " "), count: StateFile.maxBytes + 1)))
    }
}
