import Foundation
import RampartModel

/// Reads and decodes manifest files, then runs the cross-resource checks over all of them (`validate`, `diff`, `encrypt`).
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

    /// Reads `files` (`-` = standard input) through the directory source's reader and decodes them all.
    public func load(files: [String]) -> Result {
        var r = Result()
        for part in DirectorySource.read(files, decoder: decoder) {
            let d = part.decoded
            r.resources += d.resources
            r.rejected += d.rejectedOrigins
            if d.unreadable { r.unreadableFiles.append(part.id) }
            r.diagnostics += d.diagnostics
        }
        let cross = CrossCheck.run(r.resources, rejected: r.rejected)
        r.diagnostics += cross.diagnostics
        r.crossInvalid = cross.invalid
        r.diagnostics.sort(by: Diagnostic.sourceOrder)
        return r
    }
}
