import CLinux
import Foundation
import Synchronization

/// Watches manifest paths with inotify (no polling) and calls `onChange` once per burst of events.
///
/// Bursts are coalesced: the callback runs `debounceMs` after the last event, so a `git checkout`
/// of many files or a ConfigMap's `..data` symlink swap is one reload.
public final class DirectoryWatcher: Sendable {
    public let paths: [String]
    public let debounceMs: Int
    private let onChange: @Sendable () -> Void
    private let fd: Int32
    private let stopping = Atomic<Bool>(false)

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
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

    /// Adds a watch for every directory under the paths (new subdirectories appear between reloads).
    public func rewatch() {
        let fm = FileManager.default
        for path in paths {
            var isDir: ObjCBool = false
            let exists = fm.fileExists(atPath: path, isDirectory: &isDir)
            let root = exists && isDir.boolValue ? path : (path as NSString).deletingLastPathComponent
            addWatch(root.isEmpty ? "." : root)
            guard exists, isDir.boolValue, let walker = fm.enumerator(atPath: path) else { continue }
            while let rel = walker.nextObject() as? String {
                let full = path + "/" + rel
                var d: ObjCBool = false
                if fm.fileExists(atPath: full, isDirectory: &d), d.boolValue { addWatch(full) }
            }
        }
    }

    private func addWatch(_ dir: String) {
        _ = inotify_add_watch(fd, dir, Self.mask)
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
                var sawDirectoryCreate = false
                while true {
                    let r = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if r <= 0 { break }
                    sawDirectoryCreate = sawDirectoryCreate || Self.containsDirectoryCreate(buffer, count: r)
                }
                if sawDirectoryCreate { rewatch() }
                dirtySince = Self.nowNs()
                continue
            }
            if let since = dirtySince, Int((Self.nowNs() - since) / 1_000_000) >= debounceMs {
                dirtySince = nil
                rewatch()
                onChange()
            }
        }
    }

    /// Whether a batch of raw inotify records holds a directory creation or move-in.
    static func containsDirectoryCreate(_ buf: [UInt8], count: Int) -> Bool {
        var off = 0
        while off + 16 <= count {
            let mask = buf.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: off + 4, as: UInt32.self) }
            let len = buf.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: off + 12, as: UInt32.self) }
            if mask & UInt32(IN_ISDIR) != 0, mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 { return true }
            off += 16 + Int(len)
        }
        return false
    }

    static func nowNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
