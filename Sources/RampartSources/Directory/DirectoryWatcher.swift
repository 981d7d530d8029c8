import CLinux
import Foundation
import Synchronization

/// Watches manifest paths with inotify (no polling) and calls `onChange` once per burst of events.
///
/// Bursts are coalesced: the callback runs `debounceMs` after the last event, so a `git checkout`
/// of many files or a ConfigMap's `..data` symlink swap is one reload. A path that is itself a
/// symlink (git-sync's `--link`) is followed: its replacement is one reload of the new target.
public final class DirectoryWatcher: Sendable {
    public let paths: [String]
    public let debounceMs: Int
    private let onChange: @Sendable () -> Void
    private let fd: Int32
    private let stopping = Atomic<Bool>(false)
    /// What each watch descriptor is for; read by the event loop, rebuilt by `rewatch`.
    private let watches = Mutex<[Int32: Interest]>([:])

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Which events of one watched directory count: all of them, or only those naming one of `names`
    /// (the parent of a symlinked path, where unrelated siblings such as git-sync's worktrees change).
    struct Interest: Equatable {
        var all: Bool
        var names: Set<String>

        func merged(_ other: Interest?) -> Interest {
            guard let other else { return self }
            return Interest(all: all || other.all, names: names.union(other.names))
        }

        func counts(name: String) -> Bool { all || names.contains(name) }
    }

    public init(paths: [String], debounceMs: Int, onChange: @escaping @Sendable () -> Void) throws {
        self.paths = paths
        self.debounceMs = max(1, debounceMs)
        self.onChange = onChange
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw Failure(description: "inotify_init1: \(String(cString: strerror(errno)))") }
        rewatch()
    }

    deinit { close(fd) }

    static let mask: UInt32 = UInt32(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO
                                     | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB)

    /// The directories to watch for `paths` as they are now, and which of their events count.
    static func interests(_ paths: [String]) -> [String: Interest] {
        let fm = FileManager.default
        var wanted: [String: Interest] = [:]
        func want(_ dir: String, _ interest: Interest) {
            let key = dir.isEmpty ? "." : dir
            wanted[key] = interest.merged(wanted[key])
        }
        for path in paths {
            // inotify follows a symlink to its target, so a link replaced by `mv -T` is never seen
            // there: the link's own directory is watched for its name, each hop of a chain of links.
            var target = path
            for _ in 0..<8 {
                guard let dest = try? fm.destinationOfSymbolicLink(atPath: target) else { break }
                let parent = (target as NSString).deletingLastPathComponent
                want(parent, Interest(all: false, names: [(target as NSString).lastPathComponent]))
                target = dest.hasPrefix("/") ? dest : (parent.isEmpty ? dest : parent + "/" + dest)
            }
            var isDir: ObjCBool = false
            let exists = fm.fileExists(atPath: target, isDirectory: &isDir)
            guard exists, isDir.boolValue else {
                // A file (or a path not there yet): its directory, where it is replaced or created.
                want((path as NSString).deletingLastPathComponent, Interest(all: true, names: []))
                want((target as NSString).deletingLastPathComponent, Interest(all: true, names: []))
                continue
            }
            want(target, Interest(all: true, names: []))
            guard let walker = fm.enumerator(atPath: target) else { continue }
            while let rel = walker.nextObject() as? String {
                let full = target + "/" + rel
                var sub: ObjCBool = false
                if fm.fileExists(atPath: full, isDirectory: &sub), sub.boolValue { want(full, Interest(all: true, names: [])) }
            }
        }
        return wanted
    }

    /// Watches every directory under the paths (new subdirectories appear between reloads, a
    /// swapped symlink points elsewhere) and drops the watches of what is no longer reachable.
    public func rewatch() {
        let wanted = Self.interests(paths)
        watches.withLock { current in
            var next: [Int32: Interest] = [:]
            for (dir, interest) in wanted {
                let wd = inotify_add_watch(fd, dir, Self.mask)
                if wd >= 0 { next[wd] = interest.merged(next[wd]) }
            }
            for wd in current.keys where next[wd] == nil { _ = inotify_rm_watch(fd, wd) }
            current = next
        }
    }

    public func start() {
        let t = Thread { [self] in loop() }
        t.name = "rampart-dir-watch"
        t.start()
    }

    public func stop() {
        stopping.store(true, ordering: .relaxed)
    }

    private func loop() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var dirtySince: UInt64?
        while !stopping.load(ordering: .relaxed) {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let timeout: Int32
            if let since = dirtySince {
                let elapsed = Int((Self.nowNs() - since) / 1_000_000)
                timeout = Int32(clamping: max(0, debounceMs - elapsed))
            } else {
                timeout = 200
            }
            let n = poll(&pfd, 1, timeout)
            if n > 0 {
                var seen = Events()
                while true {
                    let r = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if r <= 0 { break }
                    let batch = watches.withLock { Self.classify(buffer, count: r, watches: $0) }
                    seen.relevant = seen.relevant || batch.relevant
                    seen.needsRewatch = seen.needsRewatch || batch.needsRewatch
                }
                if seen.needsRewatch { rewatch() }
                if seen.relevant { dirtySince = Self.nowNs() }
                continue
            }
            if let since = dirtySince, Int((Self.nowNs() - since) / 1_000_000) >= debounceMs {
                dirtySince = nil
                rewatch()
                onChange()
            }
        }
    }

    /// What a batch of inotify records means for the watcher.
    struct Events {
        /// An event that counts: a reload follows once the burst is over.
        var relevant = false
        /// A directory appeared or a watched symlink was replaced: watch the new tree at once.
        var needsRewatch = false
    }

    /// Sorts raw inotify records (wd, mask, cookie, len, name) by what the watches are for; records
    /// of dropped watches (IN_IGNORED after a swap) and of unrelated names in a link's parent do not count.
    static func classify(_ buf: [UInt8], count: Int, watches: [Int32: Interest]) -> Events {
        var out = Events()
        var off = 0
        while off + 16 <= count {
            let wd = buf.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: off, as: Int32.self) }
            let mask = buf.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: off + 4, as: UInt32.self) }
            let len = Int(buf.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: off + 12, as: UInt32.self) })
            guard off + 16 + len <= count else { break }
            let nameBytes = buf[(off + 16)..<(off + 16 + len)].prefix { $0 != 0 }
            off += 16 + len
            guard let interest = watches[wd] else { continue }
            if interest.all {
                out.relevant = true
                if mask & UInt32(IN_ISDIR) != 0, mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 { out.needsRewatch = true }
            } else if interest.counts(name: String(decoding: nameBytes, as: UTF8.self)) {
                out.relevant = true
                out.needsRewatch = true
            }
        }
        return out
    }

    static func nowNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
