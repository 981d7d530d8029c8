import Foundation
import Synchronization

/// A value that must never be printed (a bearer token): printing, interpolating or reflecting it
/// shows a placeholder; only `revealed` gives the text, at the one place that sends it.
public struct SensitiveText: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let revealed: String

    public init(_ value: String) { revealed = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: []) }
}

/// Where the bearer token comes from. A token file is re-read when it changes (projected
/// service-account tokens rotate about hourly) and at least once a minute, so a rotation done by
/// a rename that keeps size and mtime is still picked up.
public final class BearerToken: Sendable, CustomStringConvertible {
    public enum Source: Sendable {
        case fixed(SensitiveText)
        /// A file and the field that named it, for errors.
        case file(path: String, field: String)
    }

    /// Longest token file read; a service-account JWT is a few KiB.
    public static let maxFileBytes = 64 << 10
    /// How long a read token is trusted without looking at the file again.
    public static let rereadInterval: Duration = .seconds(60)

    public let source: Source
    private struct Cached {
        var token: SensitiveText
        var stamp: FileStamp
        var readAt: ContinuousClock.Instant
    }
    private let cached = Mutex<Cached?>(nil)

    public init(_ source: Source) { self.source = source }

    public var description: String {
        switch source {
        case .fixed: return "token (inline)"
        case .file(let path, _): return "token file \(path)"
        }
    }

    /// The token to send now.
    public func current() throws -> SensitiveText {
        switch source {
        case .fixed(let token):
            return token
        case .file(let path, let field):
            let stamp = FileStamp(path: path)
            let now = ContinuousClock.now
            if let hit = cached.withLock({ c -> SensitiveText? in
                guard let c, c.stamp == stamp, now - c.readAt < Self.rereadInterval else { return nil }
                return c.token
            }) { return hit }
            do {
                let token = try Self.read(path: path)
                cached.withLock { $0 = Cached(token: token, stamp: stamp, readAt: now) }
                return token
            } catch {
                // A rotation caught half-written keeps the last good token rather than failing the call.
                if let last = cached.withLock({ $0?.token }) { return last }
                throw KubeConfigError(source: "token file \(path)", field: field, reason: "\(error)")
            }
        }
    }

    /// Forget the cached token (the server answered 401: it may have rotated).
    public func invalidate() { cached.withLock { $0 = nil } }

    static func read(path: String) throws -> SensitiveText {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ReadFailure(description: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maxFileBytes + 1)) ?? Data()
        guard data.count <= maxFileBytes else { throw ReadFailure(description: "\(path) is over \(maxFileBytes) bytes") }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw ReadFailure(description: "\(path) is empty") }
        // A token goes into a header line: a line break or control byte would let it add headers.
        guard text.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value < 0x7F }) else {
            throw ReadFailure(description: "\(path) holds characters a bearer token cannot have")
        }
        return SensitiveText(text)
    }

    struct ReadFailure: Error, CustomStringConvertible { var description: String }
}

/// Identity and change time of a file as `stat` reports them; equal stamps mean "not replaced".
struct FileStamp: Equatable {
    var device: UInt64 = 0
    var inode: UInt64 = 0
    var size: Int64 = 0
    var modifiedSeconds: Int = 0
    var modifiedNanoseconds: Int = 0
    var exists = false

    init(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return }
        exists = true
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        modifiedSeconds = st.st_mtim.tv_sec
        modifiedNanoseconds = st.st_mtim.tv_nsec
    }
}
