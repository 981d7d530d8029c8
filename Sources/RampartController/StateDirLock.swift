import Foundation

/// The one-writer rule of a state dir: an exclusive `flock` on `DIR/lock`, held for the life of the process.
///
/// Two writers would interleave audit entries with the same seq numbers and overwrite each
/// other's `state.json`; the kernel drops the lock when the holder exits, even on kill -9.
public final class StateDirLock: Sendable {
    public static let fileName = "lock"
    private let fd: Int32

    public struct Held: Error, CustomStringConvertible {
        public var path: String
        /// The holder's pid as it wrote it, when readable.
        public var holder: String?
        public var description: String {
            "state dir \(path) is in use by another rampart process\(holder.map { " (pid \($0))" } ?? ""): one instance per state dir. "
                + "To re-encrypt the state of a running instance, use POST /api/v1/keyring/reencrypt on its admin API"
        }
    }

    /// Takes the lock or throws `Held` at once (never waits: a second instance is a mistake to report, not to queue).
    public init(_ dir: StateDir) throws {
        let path = dir.file(Self.fileName)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw StateDir.Failure(description: "open \(path): \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            let reason = errno
            var buf = [UInt8](repeating: 0, count: 32)
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            close(fd)
            guard reason == EWOULDBLOCK else { throw StateDir.Failure(description: "flock \(path): \(String(cString: strerror(reason)))") }
            let pid = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
            throw Held(path: dir.path, holder: pid.isEmpty || !pid.allSatisfy(\.isNumber) ? nil : pid)
        }
        // The pid is only a hint for the message above; the lock is what counts.
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 { _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
        self.fd = fd
    }

    deinit { close(fd) }
}
