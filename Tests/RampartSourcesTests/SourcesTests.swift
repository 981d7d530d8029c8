import Foundation
import Synchronization
import TestSupport
import XCTest
@testable import RampartSources

final class DirectoryWatcherTests: XCTestCase {
    final class Counter: Sendable {
        let n = Atomic<Int>(0)
        var value: Int { n.load(ordering: .relaxed) }
    }

    func testWritesRenamesNewSubdirectoriesAndDeletesAreSeen() throws {
        let dir = try TempDir.make("watch")
        let c = Counter()
        let w = try DirectoryWatcher(paths: [dir], debounceMs: 30) { c.n.add(1, ordering: .relaxed) }
        w.start()
        defer { w.stop() }
        try "a: 1\n".write(toFile: dir + "/a.yaml", atomically: false, encoding: .utf8)
        XCTAssertTrue(Poll.until { c.value >= 1 }, "a plain write")
        // An editor's write-then-rename.
        var before = c.value
        try "a: 2\n".write(toFile: dir + "/.a.yaml.swp", atomically: false, encoding: .utf8)
        rename(dir + "/.a.yaml.swp", dir + "/a.yaml")
        XCTAssertTrue(Poll.until { c.value > before }, "write then rename")
        // A new subdirectory, then a file in it.
        before = c.value
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: false)
        XCTAssertTrue(Poll.until { c.value > before })
        before = c.value
        try "b: 1\n".write(toFile: dir + "/sub/b.yaml", atomically: false, encoding: .utf8)
        XCTAssertTrue(Poll.until { c.value > before }, "a file in a new subdirectory")
        before = c.value
        try FileManager.default.removeItem(atPath: dir + "/a.yaml")
        XCTAssertTrue(Poll.until { c.value > before }, "a delete")
    }

    func testBurstIsCoalesced() throws {
        let dir = try TempDir.make("burst")
        let c = Counter()
        let w = try DirectoryWatcher(paths: [dir], debounceMs: 200) { c.n.add(1, ordering: .relaxed) }
        w.start()
        defer { w.stop() }
        for i in 0..<200 { try "i: \(i)\n".write(toFile: dir + "/f\(i).yaml", atomically: false, encoding: .utf8) }
        XCTAssertTrue(Poll.until { c.value >= 1 })
        XCTAssertLessThanOrEqual(c.value, 2, "200 writes in a burst are one or two reloads, not 200")
    }

    func testConfigMapSymlinkSwap() throws {
        let dir = try TempDir.make("cm")
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/..2026_11_29_01", withIntermediateDirectories: false)
        try "v: 1\n".write(toFile: dir + "/..2026_11_29_01/routes.yaml", atomically: false, encoding: .utf8)
        symlink("..2026_11_29_01", dir + "/..data")
        symlink("..data/routes.yaml", dir + "/routes.yaml")
        XCTAssertEqual(try ManifestFiles.collect([dir]), [dir + "/routes.yaml"], "dot-dirs are read through the visible symlinks only")
        let c = Counter()
        let w = try DirectoryWatcher(paths: [dir], debounceMs: 30) { c.n.add(1, ordering: .relaxed) }
        w.start()
        defer { w.stop() }
        // The kubelet's swap: new timestamped dir, ..data_tmp symlink, rename over ..data.
        try fm.createDirectory(atPath: dir + "/..2026_11_29_02", withIntermediateDirectories: false)
        try "v: 2\n".write(toFile: dir + "/..2026_11_29_02/routes.yaml", atomically: false, encoding: .utf8)
        symlink("..2026_11_29_02", dir + "/..data_tmp")
        rename(dir + "/..data_tmp", dir + "/..data")
        XCTAssertTrue(Poll.until { c.value >= 1 })
        XCTAssertEqual(try String(contentsOfFile: dir + "/routes.yaml", encoding: .utf8), "v: 2\n")
    }
}

final class GitSourceTests: XCTestCase {
    func git(_ args: [String], cwd: String) throws {
        let r = try Command.run("/usr/bin/git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"] + args, cwd: cwd)
        XCTAssertEqual(r.code, 0, r.stderr)
    }

    func testFollowsCommitsAndKeepsServingWhenFetchFails() throws {
        let base = try TempDir.make("git")
        let work = base + "/work"
        try FileManager.default.createDirectory(atPath: work + "/deploy", withIntermediateDirectories: true)
        try git(["init", "-q", "-b", "main"], cwd: work)
        try "v: 1\n".write(toFile: work + "/deploy/a.yaml", atomically: false, encoding: .utf8)
        try git(["add", "."], cwd: work)
        try git(["commit", "-q", "-m", "one"], cwd: work)
        try git(["clone", "-q", "--bare", work, base + "/origin.git"], cwd: base)

        let src = GitSource(config: .init(url: "file://" + base + "/origin.git", ref: "main", path: "deploy/", workDir: base + "/state/git"))
        let first = try XCTUnwrap(try src.sync())
        XCTAssertEqual(first.count, 40)
        XCTAssertEqual(try String(contentsOfFile: src.manifestsPath + "/a.yaml", encoding: .utf8), "v: 1\n")
        XCTAssertNil(try src.sync(), "no new commit, nothing to do")

        try "v: 2\n".write(toFile: work + "/deploy/a.yaml", atomically: false, encoding: .utf8)
        try git(["commit", "-q", "-am", "two"], cwd: work)
        try git(["push", "-q", base + "/origin.git", "main"], cwd: work)
        let second = try XCTUnwrap(try src.sync())
        XCTAssertNotEqual(first, second)
        XCTAssertEqual(src.currentCommit, second)
        XCTAssertEqual(try String(contentsOfFile: src.manifestsPath + "/a.yaml", encoding: .utf8), "v: 2\n")

        try FileManager.default.removeItem(atPath: base + "/origin.git")
        XCTAssertThrowsError(try src.sync())
        XCTAssertEqual(src.currentCommit, second, "a failed fetch keeps the last commit")
        XCTAssertEqual(try String(contentsOfFile: src.manifestsPath + "/a.yaml", encoding: .utf8), "v: 2\n")
    }
}
