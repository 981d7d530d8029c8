import Foundation
import RampartModel
import Synchronization

/// Manifests in files and directories: lists them, reads and decodes each, and watches them with inotify.
///
/// A file whose stat stamp (device, inode, size, mtime) is unchanged is not read again, so a one-line
/// change beside a 10,000-route file costs one small decode. `rampart validate` and `rampart diff` read
/// through `read(_:decoder:)`, the same code the running controller uses.
public final class DirectorySource: Source {
    public let paths: [String]
    public let decoder: ManifestDecoder
    public let debounceMs: Int
    /// Watch with inotify after `start` (a git source reads only after each new commit).
    public let watches: Bool
    public var name: String { "dir" }
    public var origin: String { "dir" }

    private struct Cached {
        var stamp: FileStamp
        var partition: SourcePartition
    }

    private let state = Mutex<(cache: [String: Cached], sink: (@Sendable ([SourceEvent]) -> Void)?)>(([:], nil))
    private let watcher = Mutex<DirectoryWatcher?>(nil)

    public init(paths: [String], decoder: ManifestDecoder, debounceMs: Int = 50, watches: Bool = true) {
        self.paths = paths
        self.watches = watches
        self.decoder = decoder
        self.debounceMs = debounceMs
    }

    public func start(sink: @escaping @Sendable ([SourceEvent]) -> Void) throws {
        state.withLock { $0.sink = sink }
        guard watches else { return }
        let w = try DirectoryWatcher(paths: paths, debounceMs: debounceMs) { [weak self] in self?.resync(full: false) }
        watcher.withLock { $0 = w }
        w.start()
    }

    public func stop() {
        watcher.withLock { $0?.stop() }
    }

    /// Lists and reads the paths now and pushes one full listing (or the failure) to the sink.
    public func resync(full: Bool) {
        // One scan at a time: the cache is read and replaced as a whole.
        state.withLock { st in
            if full { st.cache = [:] }
            let event = scan(cache: &st.cache)
            st.sink?([event])
        }
    }

    /// The current listing as one event, without a sink (tests).
    public func scanNow() -> SourceEvent {
        state.withLock { scan(cache: &$0.cache) }
    }

    private func scan(cache: inout [String: Cached]) -> SourceEvent {
        let files: [String]
        do { files = try ManifestFiles.collect(paths) } catch {
            return .failed(Diagnostic(file: paths.joined(separator: ","), mark: .init(line: 1, column: 1), resource: nil, path: "",
                                      message: "\(error); keeping the serving config"))
        }
        var next: [String: Cached] = [:]
        var partitions: [SourcePartition] = []
        partitions.reserveCapacity(files.count)
        for file in files {
            if let stamp = FileStamp(file), let cached = cache[file], cached.stamp == stamp {
                next[file] = cached
                partitions.append(cached.partition)
                continue
            }
            // Stamped before reading: a write racing the read changes the stamp, so the next scan reads again.
            let stamp = FileStamp(file)
            let partition = Self.partition(file: file, stamp: stamp, decoder: decoder)
            // A file that could not be read at all is tried again next time.
            if let stamp, !partition.revision.isEmpty { next[file] = Cached(stamp: stamp, partition: partition) }
            partitions.append(partition)
        }
        cache = next
        return .replaceAll(partitions)
    }

    static func partition(file: String, stamp: FileStamp?, decoder: ManifestDecoder) -> SourcePartition {
        guard let data = FileManager.default.contents(atPath: file) else {
            var unreadable = ManifestDecoder.Result()
            unreadable.unreadable = true
            unreadable.diagnostics = [Diagnostic(file: file, mark: .init(line: 1, column: 1), resource: nil, path: "", message: "cannot read file")]
            return SourcePartition(id: file, revision: "", decoded: unreadable)
        }
        return SourcePartition(id: file, revision: stamp?.description ?? "", decoded: decoder.decode(file: file, bytes: [UInt8](data)))
    }

    /// Reads `files` once (`-` = standard input), in order: what `validate`, `diff` and `encrypt` check.
    public static func read(_ files: [String], decoder: ManifestDecoder) -> [SourcePartition] {
        files.map { file in
            if file == "-" {
                let bytes = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
                return SourcePartition(id: "<stdin>", revision: "", decoded: decoder.decode(file: "<stdin>", bytes: bytes))
            }
            return partition(file: file, stamp: nil, decoder: decoder)
        }
    }
}

/// What identifies a file's content without reading it: device, inode, size and modification time.
struct FileStamp: Equatable, CustomStringConvertible {
    var dev: UInt64
    var ino: UInt64
    var size: Int64
    var mtimeSec: Int
    var mtimeNsec: Int

    init?(_ path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        dev = UInt64(st.st_dev)
        ino = UInt64(st.st_ino)
        size = Int64(st.st_size)
        mtimeSec = st.st_mtim.tv_sec
        mtimeNsec = st.st_mtim.tv_nsec
    }

    var description: String { "\(dev):\(ino):\(size):\(mtimeSec).\(mtimeNsec)" }
}
