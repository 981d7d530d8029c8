import Foundation
import XCTest

/// The repository stands alone: a clone builds, tests and documents itself without any sibling folder.
final class SelfContainedTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// What the project may ship and what a clone must hold; `.build` and the state dirs are not the project.
    static let scanned = ["Sources", "Tests", "docs", "bench", ".ci", "examples", "manifests", "charts",
                          "Makefile", "README.md", "Package.swift"]

    /// Spellings of a path outside the repository, assembled here so that this file does not match itself.
    static let outsidePaths = [".." + "/shared", "/work" + "/shared", "shared" + "/testdata"].map { Data($0.utf8) }

    func testNoFileRefersOutsideTheRepository() throws {
        let files = try Self.files(under: Self.root)
        XCTAssertGreaterThan(files.count, 1000, "the scan should reach the vendored test data")
        let offenders = try Self.offenders(under: Self.root, files)
        XCTAssertEqual(offenders, [], "files refer to a path outside the repository; vendor what they need instead")
    }

    /// The scan itself can fail: references planted in a scanned folder, a nested one and a top-level file are each named.
    func testTheScanNamesPlantedReferences() throws {
        let fm = FileManager.default
        let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("rampart-selfcontained-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        try fm.createDirectory(at: root.appendingPathComponent("docs/deep"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent(".build"), withIntermediateDirectories: true)
        try Data("see [the contract](..\("/shared")/API.md)\n".utf8).write(to: root.appendingPathComponent("docs/deep/a.md"))
        try Data("DATA = /work\("/shared")/testdata\n".utf8).write(to: root.appendingPathComponent("Makefile"))
        try Data("clean\n".utf8).write(to: root.appendingPathComponent("docs/b.md"))
        try Data((".." + "/shared").utf8).write(to: root.appendingPathComponent(".build/not-scanned"))
        let files = try Self.files(under: root)
        XCTAssertEqual(files, ["Makefile", "docs/b.md", "docs/deep/a.md"])
        XCTAssertEqual(try Self.offenders(under: root, files), [
            "Makefile: refers to /work\("/shared")", "Makefile: refers to shared\("/testdata")", "docs/deep/a.md: refers to ..\("/shared")",
        ])
    }

    func testVendoredTestDataCarriesItsLicences() {
        let fm = FileManager.default
        for path in ["Tests/RampartYAMLTests/yaml-test-suite/LICENSE", "Tests/RampartYAMLTests/yaml-test-suite/README.md",
                     "Tests/RampartSecretsTests/aws-sigv4/LICENSE", "Tests/RampartSecretsTests/aws-sigv4/NOTICE",
                     "Tests/RampartSecretsTests/aws-sigv4/README.md"] {
            XCTAssertTrue(fm.fileExists(atPath: Self.root.appendingPathComponent(path).path), path)
        }
    }

    /// Every regular file under the scanned entries of `root`, relative to it, sorted.
    static func files(under root: URL) throws -> [String] {
        let fm = FileManager.default
        var out: [String] = []
        for entry in scanned {
            let url = root.appendingPathComponent(entry)
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: url.path, isDirectory: &isDir) else { continue }
            guard isDir.boolValue else { out.append(entry); continue }
            guard let walker = fm.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey]) else { continue }
            for case let file as URL in walker where try file.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true {
                out.append(entry + "/" + String(file.path.dropFirst(url.path.count + 1)))
            }
        }
        return out.sorted()
    }

    /// `FILE: refers to PATH` for each outside path each file holds.
    static func offenders(under root: URL, _ files: [String]) throws -> [String] {
        var out: [String] = []
        for path in files {
            let data = try Data(contentsOf: root.appendingPathComponent(path))
            for needle in outsidePaths where data.range(of: needle) != nil {
                out.append("\(path): refers to \(String(decoding: needle, as: UTF8.self))")
            }
        }
        return out
    }
}
