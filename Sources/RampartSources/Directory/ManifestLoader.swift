import Foundation
import RampartModel

/// Reads and decodes manifest files, then runs the cross-resource checks over all of them.
public struct ManifestLoader: Sendable {
    public var decoder: ManifestDecoder

    public init(decoder: ManifestDecoder = ManifestDecoder()) {
        self.decoder = decoder
    }

    /// Everything learned from one set of files.
    public struct Result: Sendable {
        public var resources: [Resource] = []
        public var rejected: [(key: ResourceKey, origin: Origin)] = []
        public var unreadableFiles: [String] = []
        public var diagnostics: [Diagnostic] = []
        /// Resources that passed their own checks but failed a cross-resource one.
        public var crossInvalid: Set<ResourceKey> = []

        public var errorCount: Int { diagnostics.filter { $0.severity == .error }.count }
    }

    /// Reads `files` (`-` = standard input) and decodes them all.
    public func load(files: [String]) -> Result {
        var r = Result()
        for file in files {
            let bytes: [UInt8]
            if file == "-" {
                bytes = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
            } else if let data = FileManager.default.contents(atPath: file) {
                bytes = [UInt8](data)
            } else {
                r.unreadableFiles.append(file)
                r.diagnostics.append(Diagnostic(file: file, mark: .init(line: 1, column: 1), resource: nil, path: "", message: "cannot read file"))
                continue
            }
            let d = decoder.decode(file: file == "-" ? "<stdin>" : file, bytes: bytes)
            r.resources += d.resources
            r.rejected += d.rejectedOrigins
            if d.unreadable { r.unreadableFiles.append(file) }
            r.diagnostics += d.diagnostics
        }
        let cross = CrossCheck.run(r.resources, rejected: r.rejected)
        r.diagnostics += cross.diagnostics
        r.crossInvalid = cross.invalid
        r.diagnostics.sort(by: Diagnostic.sourceOrder)
        return r
    }
}
