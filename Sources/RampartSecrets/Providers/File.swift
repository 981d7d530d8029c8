import Foundation

/// Reads a secret from a file, re-read on every fetch (a symlink-swapped Kubernetes Secret volume just works).
public struct FileProvider: SecretProvider {
    public let ref: String
    public let path: String
    /// Files larger than this are refused (a secret is small; this bounds memory on a wrong path).
    public static let maxBytes = 1 << 20
    public var kind: String { "file" }

    public init(ref: String, path: String) {
        self.ref = ref
        self.path = path
    }

    public func fetch() throws -> FetchedSecret {
        guard let fh = FileHandle(forReadingAtPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            throw SecretError(.notFound, ref: ref, "file: \(path) \(reason)")
        }
        defer { try? fh.close() }
        let data: Data
        do {
            data = try fh.read(upToCount: Self.maxBytes + 1) ?? Data()
        } catch {
            throw SecretError(.provider, ref: ref, "file: \(path) cannot be read")
        }
        if data.count > Self.maxBytes { throw SecretError(.provider, ref: ref, "file: \(path) is larger than \(Self.maxBytes) bytes") }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SecretError(.provider, ref: ref, "file: \(path) is not UTF-8 text")
        }
        return FetchedSecret(value: .parsing(text, ref: ref))
    }
}
