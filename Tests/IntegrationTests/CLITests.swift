import Foundation
import TestSupport
import XCTest

/// The real `rampart` binary's commands, exit codes and output.
final class CLITests: XCTestCase {
    let root = PackagePaths.root.path

    func testValidateExamplesExitsZero() throws {
        let r = try Command.rampart(["validate", "examples/"], cwd: root)
        XCTAssertEqual(r.code, 0, r.stdout + r.stderr)
        XCTAssertEqual(r.stdout, "")
    }

    func testValidateTenMistakesPrintsOneLineEach() throws {
        let r = try Command.rampart(["validate", "Tests/RampartModelTests/Fixtures/ten-mistakes"], cwd: root)
        XCTAssertEqual(r.code, 1)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 10, r.stdout)
        XCTAssertTrue(lines.allSatisfy { $0.contains(": error: ") })
        let files = lines.map { $0.split(separator: ":")[0] }
        XCTAssertEqual(files, files.sorted(), "file order")
    }

    func testValidateStdinAndUsageErrors() throws {
        let doc = "apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: u}\nspec: {nodes: [{host: 10.0.0.1, port: 99999}]}\n"
        let r = try Command.rampart(["validate", "-"], stdin: doc)
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.stdout.hasPrefix("<stdin>:4:"), r.stdout)
        XCTAssertEqual(try Command.rampart(["validate", "--bogus", "x"]).code, 2)
        XCTAssertTrue(try Command.rampart(["validate", "--qiuet", "x"]).stderr.contains("did you mean --quiet?"))
        XCTAssertEqual(try Command.rampart(["validate", "/nonexistent/dir"]).code, 2)
        XCTAssertEqual(try Command.rampart(["frobnicate"]).code, 2)
        let later = try Command.rampart(["run", "--leader-elect", "--state-dir", NSTemporaryDirectory() + "rampart-unused"])
        XCTAssertEqual(later.code, 2)
        XCTAssertTrue(later.stderr.contains("--leader-elect is for --source kubernetes"), later.stderr)
        let climb = try Command.rampart(["run", "--source", "kubernetes", "--namespace", "../kube-system", "--state-dir", NSTemporaryDirectory() + "rampart-unused"])
        XCTAssertEqual(climb.code, 2)
        XCTAssertTrue(climb.stderr.contains("is not a namespace name"), climb.stderr)
        for cmd in ["validate", "crds", "explain", "version", "run", "diff", "hash-password"] {
            let h = try Command.rampart([cmd, "--help"])
            XCTAssertEqual(h.code, 0, cmd)
            XCTAssertTrue(h.stdout.contains("Usage: rampart \(cmd)"), cmd)
        }
    }

    func testCrdsMatchesManifests() throws {
        let r = try Command.rampart(["crds"])
        XCTAssertEqual(r.code, 0)
        XCTAssertEqual(r.stdout, try String(contentsOfFile: root + "/manifests/crds/rampart.io_crds.yaml", encoding: .utf8))
        XCTAssertEqual(r.stdout, try String(contentsOfFile: root + "/charts/rampart/crds/rampart.io_crds.yaml", encoding: .utf8), "the chart's CRDs: run `make crds`")
    }

    func testVersionNamesLibraries() throws {
        let r = try Command.rampart(["version"])
        XCTAssertEqual(r.code, 0)
        for lib in ["rampart 0.1.0", "libyaml 0.2", "libcurl", "OpenSSL 3"] { XCTAssertTrue(r.stdout.contains(lib), r.stdout) }
    }

    func testHashPasswordMakesAVerifiableHash() throws {
        let r = try Command.rampart(["hash-password"], stdin: "not-echoed-token\n")
        XCTAssertEqual(r.code, 0)
        XCTAssertTrue(r.stdout.hasPrefix("$pbkdf2-sha256$i=600000$"), r.stdout)
        XCTAssertFalse(r.stdout.contains("not-echoed-token") || r.stderr.contains("not-echoed-token"))
    }

    func testDiffAgainstEmptyStateMasksAndExitCodes() throws {
        let dir = try TempDir.make("diff")
        let secret = "plaintext-\(UUID().uuidString)"
        let doc = "apiVersion: rampart.io/v1alpha1\nkind: ContactPoint\nmetadata: {name: ops}\nspec: {type: webhook, url: https://hooks.example/a, hmacSecret: {value: \(secret)}}\n"
        try doc.write(toFile: dir + "/cp.yaml", atomically: true, encoding: .utf8)
        let r = try Command.rampart(["diff", dir + "/cp.yaml", "--state-dir", dir + "/state", "--dev"])
        XCTAssertEqual(r.code, 1, r.stderr)
        XCTAssertTrue(r.stdout.contains("+++ ContactPoint default/ops (proposed)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("hmacSecret: '***'"), r.stdout)
        XCTAssertFalse((r.stdout + r.stderr).contains(secret))
        let json = try Command.rampart(["diff", dir + "/cp.yaml", "--state-dir", dir + "/state", "--dev", "--output", "json"])
        XCTAssertEqual(json.code, 1)
        XCTAssertTrue(json.stdout.hasPrefix("{\"changes\":[{\"kind\":\"ContactPoint\""), json.stdout)
        XCTAssertFalse(json.stdout.contains(secret))
        try "kind: [".write(toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try Command.rampart(["diff", dir]).code, 2)
    }
}

/// `rampart explain` through the real binary: output, case rules, suggestions and exit codes.
final class ExplainCLITests: XCTestCase {
    func testExplainAFieldPrintsItsSchema() throws {
        let r = try Command.rampart(["explain", "route.spec.timeout.read"])
        XCTAssertEqual(r.code, 0, r.stderr)
        XCTAssertEqual(r.stderr, "")
        for line in ["KIND:      Route", "VERSION:   rampart.io/v1alpha1", "FIELD:     spec.timeout.read <duration>",
                     "    upstream read timeout", "TYPE:      duration", "REQUIRED:  no", "DEFAULT:   60s", "SENSITIVE: no"] {
            XCTAssertTrue(r.stdout.contains(line + "\n"), "\(line)\n\(r.stdout)")
        }
        // The kind in any case, plural or short name; the answer is the same.
        for spelling in ["Route", "ROUTE", "routes", "rt"] {
            XCTAssertEqual(try Command.rampart(["explain", spelling + ".spec.timeout.read"]).stdout, r.stdout, spelling)
        }
    }

    func testExplainAKindListsItsFieldsOneLevelDown() throws {
        let r = try Command.rampart(["explain", "upstream"])
        XCTAssertEqual(r.code, 0, r.stderr)
        for text in ["KIND:      Upstream", "NAMES:     upstreams, ups", "FIELDS:", "    metadata    <object> -required-",
                     "    spec        <object> -required-", "SPEC FIELDS", "    nodes         <[]object>", "    retries       <integer>"] {
            XCTAssertTrue(r.stdout.contains(text), "\(text)\n\(r.stdout)")
        }
        XCTAssertFalse(r.stdout.contains("    host "), "only one level down: a node's host is not listed\n\(r.stdout)")
        let nodes = try Command.rampart(["explain", "upstream.spec.nodes"])
        XCTAssertTrue(nodes.stdout.contains("    port    <integer> -required-"), nodes.stdout)
        let port = try Command.rampart(["explain", "upstream.spec.nodes.port"])
        XCTAssertTrue(port.stdout.contains("BOUNDS:    1 to 65535\n"), port.stdout)
        let key = try Command.rampart(["explain", "ssl.spec.privateKey"])
        XCTAssertTrue(key.stdout.contains("SENSITIVE: yes"), key.stdout)
        XCTAssertTrue(key.stdout.contains("    secretRef  <object>"), key.stdout)
    }

    func testUnknownKindOrFieldExitsTwoWithASuggestion() throws {
        let field = try Command.rampart(["explain", "route.spec.timeout.raed"])
        XCTAssertEqual(field.code, 2)
        XCTAssertEqual(field.stdout, "")
        XCTAssertEqual(field.stderr, "rampart explain: Route spec.timeout has no field \"raed\"; did you mean \"read\"?\n")
        let exact = try Command.rampart(["explain", "route.spec.Timeout"])
        XCTAssertEqual(exact.code, 2, "field names are exact")
        XCTAssertTrue(exact.stderr.contains("did you mean \"timeout\"?"), exact.stderr)
        let kind = try Command.rampart(["explain", "rout.spec"])
        XCTAssertEqual(kind.code, 2)
        XCTAssertTrue(kind.stderr.contains("unknown kind \"rout\"") && kind.stderr.contains("did you mean \"Route\"?"), kind.stderr)
        let leaf = try Command.rampart(["explain", "route.spec.websocket.enabled"])
        XCTAssertEqual(leaf.code, 2)
        XCTAssertTrue(leaf.stderr.contains("is of type boolean and has no fields"), leaf.stderr)
        // Not a path on disk, not a flag smuggled as a kind, not two queries, not an endless path.
        for args in [["explain"], ["explain", "route", "upstream"], ["explain", "--bogus"], ["explain", "../../etc/passwd"],
                     ["explain", "--markdown", "route"], ["explain", String(repeating: "route.spec", count: 5000)]] {
            let r = try Command.rampart(args)
            XCTAssertEqual(r.code, 2, args.joined(separator: " ").prefix(60) + "")
            XCTAssertEqual(r.stdout, "", args.joined(separator: " ").prefix(60) + "")
        }
        let help = try Command.rampart(["explain", "--help"])
        XCTAssertEqual(help.code, 0)
        XCTAssertTrue(help.stdout.hasPrefix("Usage: rampart explain KIND[.FIELD.PATH]"), help.stdout)
        XCTAssertTrue(try Command.rampart(["--help"]).stdout.contains("explain KIND[.FIELD]"))
    }

    func testMarkdownIsTheGeneratedBlockOfTheReference() throws {
        let r = try Command.rampart(["explain", "--markdown"])
        XCTAssertEqual(r.code, 0, r.stderr)
        let doc = try String(contentsOfFile: PackagePaths.root.path + "/docs/reference.md", encoding: .utf8)
        XCTAssertTrue(r.stdout.hasPrefix("<!-- BEGIN generated"), r.stdout)
        XCTAssertTrue(doc.contains(r.stdout), "docs/reference.md is out of date with the schema tables: run `make reference`")
    }
}
