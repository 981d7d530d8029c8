import Foundation

/// The state directory (mode 0700, files 0600) and crash-safe file replacement.
public struct StateDir: Sendable {
    public let path: String

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(_ path: String) throws {
        self.path = path
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw Failure(description: "cannot create state dir \(path): \(error.localizedDescription)")
            }
        } else if !isDir.boolValue {
            throw Failure(description: "state dir \(path) is not a directory")
        }
        chmod(path, 0o700)
    }

    public func file(_ name: String) -> String { path + "/" + name }

    public func read(_ name: String) -> [UInt8]? {
        FileManager.default.contents(atPath: file(name)).map { [UInt8]($0) }
    }

    /// Writes a temp file, fsyncs it, renames it over `name`, and fsyncs the directory:
    /// a crash at any point leaves either the old or the new file, whole.
    public func writeAtomically(_ name: String, _ bytes: [UInt8]) throws {
        let target = file(name)
        let tmp = target + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "open \(tmp): \(String(cString: strerror(errno)))") }
        var ok = StateDir.writeAll(fd, bytes) && fsync(fd) == 0
        ok = close(fd) == 0 && ok
        guard ok, rename(tmp, target) == 0 else {
            unlink(tmp)
            throw Failure(description: "write \(target): \(String(cString: strerror(errno)))")
        }
        syncDirectory()
    }

    /// Appends one line and fsyncs (the audit log's durability per entry).
    public func appendSynced(_ name: String, _ bytes: [UInt8]) throws {
        let target = file(name)
        let fd = open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "open \(target): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard StateDir.writeAll(fd, bytes), fsync(fd) == 0 else {
            throw Failure(description: "append \(target): \(String(cString: strerror(errno)))")
        }
    }

    func syncDirectory() {
        let dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = write(fd, buf.baseAddress.map { $0 + off }, buf.count - off)
                if n < 0 { if errno == EINTR { continue }; return false }
                off += n
            }
            return true
        }
    }
}
