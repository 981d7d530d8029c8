#if canImport(Glibc)
import Glibc
#endif

/// Shared by the fuzz targets: a property check that aborts (libFuzzer records the input as a crash),
/// and the replay driver used when a target is built without libFuzzer.
public enum Fuzz {
    /// Aborts with `message` when a property does not hold; libFuzzer saves the input as `crash-*`.
    @inline(__always)
    public static func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                               file: StaticString = #fileID, line: UInt = #line) {
        if !condition() {
            printError("fuzz property violated at \(file):\(line): \(message())\n")
            abort()
        }
    }

    /// Runs `body` once per file named on the command line (a corpus directory runs every file in it);
    /// the exit status is 0 when every input ran without a property violation.
    public static func replay(_ body: (UnsafePointer<UInt8>, Int) -> CInt) -> Never {
        var files: [String] = []
        for arg in CommandLine.arguments.dropFirst() where !arg.hasPrefix("-") {
            files += listing(arg) ?? [arg]
        }
        if files.isEmpty {
            printError("usage: \(CommandLine.arguments.first ?? "fuzz") FILE|DIR... (built without libFuzzer: replays inputs)\n")
            exit(2)
        }
        for path in files {
            guard var bytes = read(path) else {
                printError("cannot read \(path)\n")
                exit(1)
            }
            // One byte past the input so that an empty input still has a valid pointer.
            let count = bytes.count
            bytes.append(0)
            _ = bytes.withUnsafeBufferPointer { buf in
                buf.baseAddress.map { body($0, count) }
            }
        }
        print("replayed \(files.count) inputs")
        exit(0)
    }

    /// Writes to file descriptor 2 (the C `stderr` global is not concurrency-safe in Swift 6).
    public static func printError(_ text: String) {
        var bytes = Array(text.utf8)
        _ = write(2, &bytes, bytes.count)
    }

    private static func listing(_ dir: String) -> [String]? {
        guard let d = opendir(dir) else { return nil }
        defer { closedir(d) }
        var out: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(".") { continue }
            out.append(dir + "/" + name)
        }
        return out.sorted()
    }

    private static func read(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n > 0 { out += chunk[0..<n] }
            if n < chunk.count { break }
        }
        return out
    }
}
