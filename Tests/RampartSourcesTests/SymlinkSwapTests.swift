import CLinux
import Foundation
import Synchronization
import TestSupport
import XCTest
@testable import RampartSources

/// A watched path that is itself a symlink replaced atomically (git-sync's `--link`).
final class SymlinkSwapTests: XCTestCase {
    func layout() throws -> String {
        let base = try TempDir.make("link")
        for rev in ["rev1", "rev2"] {
            try FileManager.default.createDirectory(atPath: base + "/\(rev)/sub", withIntermediateDirectories: true)
            try "rev: \(rev)\n".write(toFile: base + "/\(rev)/a.yaml", atomically: false, encoding: .utf8)
        }
        XCTAssertEqual(symlink("rev1", base + "/current"), 0)
        return base
    }

    func swap(_ base: String, to rev: String) {
        XCTAssertEqual(symlink(rev, base + "/current.tmp"), 0)
        XCTAssertEqual(rename(base + "/current.tmp", base + "/current"), 0)
    }

    func testSwapIsSeenAndTheNewTargetIsWatched() throws {
        let base = try layout()
        let c = DirectoryWatcherTests.Counter()
        let w = try DirectoryWatcher(paths: [base + "/current"], debounceMs: 30) { c.n.add(1, ordering: .relaxed) }
        w.start()
        defer { w.stop() }
        swap(base, to: "rev2")
        XCTAssertTrue(Poll.until { c.value >= 1 }, "the link's replacement itself is an event")
        XCTAssertEqual(try ManifestFiles.collect([base + "/current"]), [base + "/current/a.yaml"])
        let before = c.value
        try "rev: edited\n".write(toFile: base + "/rev2/sub/b.yaml", atomically: false, encoding: .utf8)
        XCTAssertTrue(Poll.until { c.value > before }, "a file in the new target's subdirectory")
    }

    /// What is watched follows the link: its directory (for its name only), the target tree, never the old target.
    func testInterestsFollowTheLinkAndDropTheOldTarget() throws {
        let base = try layout()
        var wanted = DirectoryWatcher.interests([base + "/current"])
        XCTAssertEqual(wanted[base], .init(all: false, names: ["current"]))
        XCTAssertEqual(wanted[base + "/rev1"], .init(all: true, names: []))
        XCTAssertEqual(wanted[base + "/rev1/sub"], .init(all: true, names: []))
        XCTAssertNil(wanted[base + "/rev2"])
        swap(base, to: "rev2")
        wanted = DirectoryWatcher.interests([base + "/current"])
        XCTAssertEqual(Set(wanted.keys), [base, base + "/rev2", base + "/rev2/sub"])
        // A chain of links: every hop's directory is watched for that hop's name.
        XCTAssertEqual(symlink(base + "/current", base + "/rev1/outer"), 0)
        wanted = DirectoryWatcher.interests([base + "/rev1/outer"])
        XCTAssertEqual(wanted[base + "/rev1"], .init(all: false, names: ["outer"]))
        XCTAssertEqual(wanted[base], .init(all: false, names: ["current"]))
        XCTAssertEqual(wanted[base + "/rev2"], .init(all: true, names: []))
    }

    /// git-sync writes the next worktree beside the link: that is not a reload, only the link's own name is.
    func testSiblingsOfTheLinkDoNotCount() {
        func record(wd: Int32, mask: Int32, name: String) -> [UInt8] {
            var name = Array(name.utf8) + [0]
            while name.count % 16 != 0 { name.append(0) }
            var out: [UInt8] = []
            withUnsafeBytes(of: wd.littleEndian) { out += $0 }
            withUnsafeBytes(of: UInt32(mask).littleEndian) { out += $0 }
            withUnsafeBytes(of: UInt32(0)) { out += $0 }
            withUnsafeBytes(of: UInt32(name.count).littleEndian) { out += $0 }
            return out + name
        }
        let watches: [Int32: DirectoryWatcher.Interest] = [1: .init(all: false, names: ["current"]), 2: .init(all: true, names: [])]
        func classify(_ records: [[UInt8]]) -> DirectoryWatcher.Events {
            let buf = records.flatMap { $0 }
            return DirectoryWatcher.classify(buf, count: buf.count, watches: watches)
        }
        var e = classify([record(wd: 1, mask: IN_CREATE | IN_ISDIR, name: ".worktrees"), record(wd: 1, mask: IN_CREATE, name: "current.tmp"),
                          record(wd: 1, mask: IN_MOVED_FROM, name: "current.tmp"), record(wd: 9, mask: IN_IGNORED, name: "")])
        XCTAssertFalse(e.relevant, "siblings, the temporary link and a dropped watch do not count")
        e = classify([record(wd: 1, mask: IN_MOVED_TO, name: "current")])
        XCTAssertTrue(e.relevant && e.needsRewatch, "the swap counts and re-resolves the link")
        e = classify([record(wd: 2, mask: IN_MODIFY, name: "a.yaml")])
        XCTAssertTrue(e.relevant && !e.needsRewatch)
        e = classify([record(wd: 2, mask: IN_CREATE | IN_ISDIR, name: "sub2")])
        XCTAssertTrue(e.relevant && e.needsRewatch)
        // A record whose length runs past the read is not parsed out of bounds.
        var truncated = record(wd: 1, mask: IN_MOVED_TO, name: "current")
        truncated.removeLast(4)
        XCTAssertFalse(DirectoryWatcher.classify(truncated, count: truncated.count, watches: watches).relevant)
    }
}
