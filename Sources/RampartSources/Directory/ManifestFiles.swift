import Foundation

/// Finds manifest files (`*.yaml`, `*.yml`, `*.json`) under paths, in a stable order.
public enum ManifestFiles {
    public struct NotFound: Error, CustomStringConvertible {
        public var path: String
        public var description: String { "\(path): no such file or directory" }
    }

    public static func isManifest(_ name: String) -> Bool {
        name.hasSuffix(".yaml") || name.hasSuffix(".yml") || name.hasSuffix(".json")
    }

    /// Files given by name are taken whatever their extension; directories are walked recursively,
    /// skipping dot-entries (so a ConfigMap volume's `..2026_...` timestamped dirs are read once, through `..data`'s targets).
    public static func collect(_ paths: [String]) throws -> [String] {
        var out: [String] = []
        let fm = FileManager.default
        for path in paths {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDir) else { throw NotFound(path: path) }
            if !isDir.boolValue {
                out.append(path)
                continue
            }
            out += walk(path)
        }
        return out
    }

    static func walk(_ dir: String) -> [String] {
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: dir) else { return [] }
        var files: [String] = []
        for name in entries.sorted() where !name.hasPrefix(".") {
            let full = dir.hasSuffix("/") ? dir + name : dir + "/" + name
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: full, isDirectory: &isDir) else { continue }
            if isDir.boolValue { files += walk(full) } else if isManifest(name) { files.append(full) }
        }
        return files
    }
}
