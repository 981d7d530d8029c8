import Foundation
import RampartModel
import Synchronization

/// Follows a git ref with the `git` CLI: fetches into a bare clone in the state dir, checks each new
/// commit out into a fresh directory and swaps the `current` symlink atomically.
///
/// A fetch failure keeps the last commit serving and is retried with capped exponential backoff.
public final class GitSource: Source {
    public struct Config: Sendable {
        public var url: String
        public var ref: String
        /// Sub-directory of the repository holding the manifests.
        public var path: String
        public var intervalMs: Int
        /// Where the bare clone and the checkouts live (inside the state dir).
        public var workDir: String

        public init(url: String, ref: String = "main", path: String = "", intervalMs: Int = 30_000, workDir: String) {
            self.url = url
            self.ref = ref
            self.path = path
            self.intervalMs = intervalMs
            self.workDir = workDir
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let config: Config
    private let commit = Mutex<String?>(nil)
    private let stopping = Atomic<Bool>(false)
    private let log: @Sendable (String) -> Void

    /// The checked-out commit's manifests, read after each new commit.
    private let files: DirectorySource

    public init(config: Config, decoder: ManifestDecoder = ManifestDecoder(), log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.config = config
        self.log = log
        let path = config.path.isEmpty ? config.workDir + "/current"
            : config.workDir + "/current/" + config.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        files = DirectorySource(paths: [path], decoder: decoder, watches: false)
    }

    public var name: String { "git" }
    public var origin: String { currentCommit.map { "git:" + $0 } ?? "git" }

    /// Fetches on its own thread; each new commit's files are pushed as one listing.
    public func start(sink: @escaping @Sendable ([SourceEvent]) -> Void) throws {
        try files.start(sink: sink)
        poll { [files] _ in files.resync(full: false) }
    }

    /// Re-reads the current checkout; before the first fetch there is nothing to read (state.json serves).
    public func resync(full: Bool) {
        guard currentCommit != nil else { return }
        files.resync(full: full)
    }

    var bare: String { config.workDir + "/repo.git" }
    var currentLink: String { config.workDir + "/current" }

    /// The manifests directory of the checked-out commit (through the `current` symlink).
    public var manifestsPath: String { files.paths[0] }

    /// The commit being served, if any.
    public var currentCommit: String? { commit.withLock { $0 } }

    /// Fetches once; returns the new commit id when it changed (and was checked out and swapped in).
    @discardableResult
    public func sync() throws -> String? {
        try FileManager.default.createDirectory(atPath: config.workDir, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: bare + "/HEAD") {
            try git(["init", "--bare", "--quiet", bare])
        }
        try git(["--git-dir", bare, "fetch", "--quiet", "--no-tags", "--depth", "1", config.url, config.ref])
        let sha = try git(["--git-dir", bare, "rev-parse", "FETCH_HEAD^{commit}"]).trimmingCharacters(in: .whitespacesAndNewlines)
        guard sha.count >= 40, sha.allSatisfy(\.isHexDigit) else { throw Failure(description: "git rev-parse gave \(sha)") }
        if sha == currentCommit { return nil }
        let checkout = config.workDir + "/checkouts/" + sha
        if !FileManager.default.fileExists(atPath: checkout) {
            let tmp = checkout + ".tmp"
            try? FileManager.default.removeItem(atPath: tmp)
            try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
            try git(["--git-dir", bare, "--work-tree", tmp, "checkout", "--quiet", "--force", sha, "--", "."])
            try FileManager.default.moveItem(atPath: tmp, toPath: checkout)
        }
        // Atomic swap: a new symlink renamed over the old one.
        let tmpLink = currentLink + ".tmp"
        unlink(tmpLink)
        guard symlink("checkouts/" + sha, tmpLink) == 0, rename(tmpLink, currentLink) == 0 else {
            throw Failure(description: "cannot swap \(currentLink): \(String(cString: strerror(errno)))")
        }
        let old = commit.withLock { c -> String? in
            let o = c
            c = sha
            return o
        }
        if let old, old != sha { try? FileManager.default.removeItem(atPath: config.workDir + "/checkouts/" + old) }
        return sha
    }

    /// Polls every `intervalMs`; calls `onChange` after a new commit is in place.
    public func poll(onChange: @escaping @Sendable (String) -> Void) {
        let t = Thread { [self] in
            var delay = config.intervalMs
            while !stopping.load(ordering: .relaxed) {
                do {
                    if let sha = try sync() { onChange(sha) }
                    delay = config.intervalMs
                } catch {
                    delay = min(max(delay * 2, 1000), 300_000)
                    log("git fetch failed; keeping commit \(currentCommit ?? "none"), retrying in \(delay)ms: \(error)")
                }
                var waited = 0
                while waited < delay && !stopping.load(ordering: .relaxed) {
                    usleep(50_000)
                    waited += 50
                }
            }
        }
        t.name = "rampart-git"
        t.start()
    }

    public func stop() { stopping.store(true, ordering: .relaxed) }

    @discardableResult
    func git(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["GIT_TERMINAL_PROMPT"] = "0"
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { throw Failure(description: "cannot run git: \(error)") }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw Failure(description: "git \(args.first ?? "") failed: \(String(decoding: errData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
