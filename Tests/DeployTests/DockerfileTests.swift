import Foundation
import TestSupport
import XCTest

/// The Dockerfile. No container engine runs here, so the image is not built; what is checked is
/// that it builds with the toolchain the tests use, and that the runtime stage installs exactly
/// the Debian packages whose libraries the rampart binary links, as `dpkg -S` names them.
final class DockerfileTests: XCTestCase {
    /// One `FROM` stage: its image and the instructions in it (continuation lines joined).
    struct Stage {
        var from: String
        var name: String?
        var instructions: [(keyword: String, arguments: String)] = []

        func all(_ keyword: String) -> [String] { instructions.filter { $0.keyword == keyword }.map(\.arguments) }
    }

    static func parse() throws -> (arguments: [String: String], stages: [Stage]) {
        let text = try String(contentsOf: PackagePaths.root.appendingPathComponent("Dockerfile"), encoding: .utf8)
        var logical: [String] = []
        var pending = ""
        for raw in text.components(separatedBy: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if pending.isEmpty && (line.isEmpty || line.hasPrefix("#")) { continue }
            if line.hasPrefix("#") { continue }  // a comment inside a continued instruction
            if line.hasSuffix("\\") {
                pending += line.dropLast() + " "
            } else {
                logical.append(pending + line)
                pending = ""
            }
        }
        var arguments: [String: String] = [:]
        var stages: [Stage] = []
        for line in logical {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            let keyword = parts[0].uppercased()
            let rest = parts.count > 1 ? parts[1] : ""
            switch keyword {
            case "ARG" where stages.isEmpty:
                let pair = rest.split(separator: "=", maxSplits: 1).map(String.init)
                arguments[pair[0]] = pair.count > 1 ? pair[1] : ""
            case "FROM":
                let words = rest.split(separator: " ").map(String.init)
                var image = words.first ?? ""
                for (name, value) in arguments { image = image.replacingOccurrences(of: "${\(name)}", with: value) }
                stages.append(Stage(from: image, name: words.count == 3 && words[1].uppercased() == "AS" ? words[2] : nil))
            default:
                guard !stages.isEmpty else { continue }
                stages[stages.count - 1].instructions.append((keyword, rest))
            }
        }
        return (arguments, stages)
    }

    /// The packages an `apt-get install` in `stage` installs.
    static func installed(in stage: Stage) -> Set<String> {
        var packages = Set<String>()
        for run in stage.all("RUN") {
            for command in run.components(separatedBy: "&&") where command.contains("apt-get install") {
                for word in command.split(separator: " ").map(String.init)
                where !word.hasPrefix("-") && !word.contains("=") && !["apt-get", "install"].contains(word) {
                    packages.insert(word)
                }
            }
        }
        return packages
    }

    func testBuildsWithTheTestsToolchainAndRunsOnSlimDebian() throws {
        let (_, stages) = try Self.parse()
        XCTAssertEqual(stages.count, 2, "multi-stage: build, then run")
        let build = stages[0], run = stages[1]
        XCTAssertEqual(build.name, "build")
        let version = try Command.run("/usr/bin/env", ["swift", "--version"])
        let local = try XCTUnwrap(version.stdout.range(of: #"Swift version (\d+\.\d+)"#, options: .regularExpression).map {
            String(version.stdout[$0].dropFirst("Swift version ".count))
        }, version.stdout + version.stderr)
        XCTAssertEqual(build.from, "swift:\(local)-bookworm", "the official Swift image of the toolchain the tests use")
        XCTAssertEqual(run.from, "debian:bookworm-slim", "the build image's Debian release, so the libraries match")
        XCTAssertTrue(build.all("RUN").contains { $0.contains("swift build -c release --product rampart --static-swift-stdlib") })
        XCTAssertEqual(Self.installed(in: build), ["libyaml-dev", "libcurl4-openssl-dev", "libssl-dev", "pkg-config"],
                       "the Makefile's LIBS")
    }

    func testTheRuntimeStageHoldsTheBinaryOnlyAndRunsAsTheManifestsUser() throws {
        let run = try XCTUnwrap(Self.parse().stages.last)
        XCTAssertEqual(run.all("COPY"), ["--from=build /out/rampart /usr/local/bin/rampart"], "the binary only")
        XCTAssertTrue(run.all("ADD").isEmpty)
        let user = try XCTUnwrap(run.all("USER").last)
        let uid = try XCTUnwrap(user.split(separator: ":").first.flatMap { Int($0) }, "numeric, so that runAsNonRoot can check it")
        XCTAssertNotEqual(uid, 0)
        let deployment = try ManifestFile("manifests/deployment.yaml").only(kind: "Deployment")
        XCTAssertEqual(deployment.text("spec.template.spec.securityContext.runAsUser"), String(uid))
        XCTAssertEqual(run.all("ENTRYPOINT"), [#"["rampart"]"#], "the manifests' command")
        let manifestsCommand = deployment.at("spec.template.spec.containers")?.sequence?.first?.strings("command")
        XCTAssertEqual(manifestsCommand, ["rampart"])
    }

    /// Each shared library the binary needs (its ELF NEEDED entries) comes from a package the
    /// runtime stage installs, or from the base image (glibc, libstdc++); Swift's own libraries are
    /// linked in (--static-swift-stdlib). And each installed package is needed, but ca-certificates.
    func testTheRuntimePackagesAreTheLibrariesTheBinaryLinks() throws {
        // The binary `swift build -c release --product rampart --static-swift-stdlib --build-path .build-static`
        // makes is what the image holds; without it, the debug binary (the same C libraries).
        let staticBinary = PackagePaths.root.appendingPathComponent(".build-static/release/rampart").path
        let binary = ProcessInfo.processInfo.environment["RAMPART_STATIC_BINARY"]
            ?? (FileManager.default.isExecutableFile(atPath: staticBinary) ? staticBinary : PackagePaths.rampart)
        let elf = try Command.run("/usr/bin/readelf", ["-d", binary])
        XCTAssertEqual(elf.code, 0, elf.stderr)
        let needed = elf.stdout.components(separatedBy: "\n").compactMap { line -> String? in
            guard line.contains("(NEEDED)"), let open = line.lastIndex(of: "["), let close = line.lastIndex(of: "]") else { return nil }
            return String(line[line.index(after: open)..<close])
        }
        XCTAssertTrue(needed.contains("libcurl.so.4"), "\(needed)")
        let ldd = try Command.run("/usr/bin/ldd", [binary])
        var resolved: [String: String] = [:]
        for line in ldd.stdout.components(separatedBy: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if words.count >= 3 && words[1] == "=>" { resolved[words[0]] = words[2] }
            if let first = words.first, first.hasPrefix("/") { resolved[URL(fileURLWithPath: first).lastPathComponent] = first }
        }
        let runtime = try XCTUnwrap(Self.parse().stages.last)
        let installed = Self.installed(in: runtime)
        let baseImage: Set<String> = ["libc6", "libgcc-s1", "libstdc++6", "zlib1g"]
        var used = Set<String>()
        for library in needed {
            let path = try XCTUnwrap(resolved[library], "ldd does not resolve \(library)")
            if path.hasPrefix(Self.toolchainLibraries) {
                XCTAssertNotEqual(binary, staticBinary, "\(library) in a --static-swift-stdlib build")
                continue  // linked in by --static-swift-stdlib in the image's build
            }
            let package = try XCTUnwrap(Self.owningPackage(path), "dpkg -S does not know \(path)")
            XCTAssertTrue(installed.contains(package) || baseImage.contains(package), "\(library) comes from \(package), which the image does not install")
            used.insert(package)
        }
        XCTAssertEqual(installed.subtracting(used), ["ca-certificates"], "installed but linked by nothing")
        if binary == staticBinary {
            // Runs with no Swift runtime beside it, as in the image.
            let version = try Command.run(binary, ["version"], env: ["LD_LIBRARY_PATH": ""])
            XCTAssertEqual(version.code, 0, version.stderr)
            XCTAssertTrue(version.stdout.hasPrefix("rampart "), version.stdout)
        }
        XCTAssertEqual(installed, ["libyaml-0-2", "libcurl4", "libssl3", "ca-certificates"])
    }

    /// Where the Swift toolchain keeps its runtime libraries (the tests' toolchain, /opt/swift here).
    static let toolchainLibraries: String = {
        let swift = (try? Command.run("/usr/bin/env", ["which", "swift"]))?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let real = URL(fileURLWithPath: swift).resolvingSymlinksInPath()
        return real.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("lib/swift").path
    }()

    /// The Debian package owning `path` (merged /usr: dpkg may list it under /usr/lib or /lib).
    static func owningPackage(_ path: String) throws -> String? {
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        for candidate in [path, real, real.hasPrefix("/lib") ? "/usr" + real : real] {
            let result = try Command.run("/usr/bin/dpkg", ["-S", candidate])
            if result.code == 0, let first = result.stdout.split(separator: "\n").first, let colon = first.firstIndex(of: ":") {
                return String(first[..<colon])
            }
        }
        return nil
    }
}
