import Foundation
import RampartModel
import XCTest

/// docs/reference.md and `rampart explain` say what the schema tables hold, for every field of every kind.
final class ReferenceTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testReferenceDocumentIsUpToDateWithTheSchema() throws {
        let doc = try String(contentsOf: Self.root.appendingPathComponent("docs/reference.md"), encoding: .utf8)
        XCTAssertTrue(doc.contains(SchemaReference.markdown()),
                      "docs/reference.md is out of date with the schema tables: run `make reference` and commit the result")
        XCTAssertEqual(doc.components(separatedBy: SchemaReference.markdownBegin).count, 2, "exactly one generated block")
    }

    func testEveryFieldOfEveryKindHasOneRowAndResolvesInExplain() {
        let markdown = SchemaReference.markdown()
        XCTAssertEqual(markdown.components(separatedBy: "\n### ").count, Kind.allCases.count + 3, "the metadata, each kind, the formats")
        for kind in Kind.allCases {
            let section = markdown.components(separatedBy: "\n### \(kind.rawValue)\n").last?.components(separatedBy: "\n### ").first ?? ""
            let all = SchemaReference.allFacts(KindSchemas.spec(kind), prefix: "spec")
            XCTAssertFalse(all.isEmpty, "\(kind)")
            for facts in all {
                // Rows of a Route's inline upstream are collapsed into one; every other path has its own row.
                if kind == .route, facts.path.hasPrefix("spec.upstream.") { continue }
                XCTAssertEqual(section.components(separatedBy: "| `\(facts.path)` |").count, 2, "\(kind): one row for \(facts.path)")
                let query = kind.rawValue.lowercased() + "." + facts.path.replacingOccurrences(of: "[]", with: "").replacingOccurrences(of: ".NAME", with: "")
                switch SchemaReference.lookup(query) {
                case .success(let target): XCTAssertEqual(SchemaReference.typeName(target.schema), facts.type, query)
                case .failure(let error): XCTFail("\(query): \(error)")
                }
            }
        }
    }

    func testBoundsDefaultsAndValuesComeFromTheSchema() throws {
        let port = try facts("upstream.spec.nodes.port")
        XCTAssertEqual(port.bounds, ["1 to 65535"])
        XCTAssertTrue(port.required)
        XCTAssertEqual(try facts("upstream.spec.healthCheck.active.expectStatus").bounds, ["each 100 to 599"])
        XCTAssertEqual(try facts("upstream.spec.healthCheck.active.expectStatus").defaultValue, "[200]")
        XCTAssertEqual(try facts("route.spec.paths").bounds, ["at least 1 item"])
        XCTAssertEqual(try facts("route.spec.timeout.read").defaultValue, "60s")
        XCTAssertEqual(try facts("route.spec.timeout.read").doc, "upstream read timeout")
        XCTAssertEqual(try facts("route.spec.timeout.read").type, "duration")
        XCTAssertEqual(try facts("upstream.spec.scheme").values, ["http", "https"])
        XCTAssertEqual(try facts("ssl.spec.minVersion").values, ["TLSv1.2", "TLSv1.3"])
        XCTAssertEqual(try facts("route.spec.methods").values.first, "GET")
    }

    /// Every field the masking walk treats as sensitive is marked sensitive, and no plain field is.
    func testSensitivityMatchesTheSchema() throws {
        for query in ["ssl.spec.certificate", "ssl.spec.privateKey", "keyring.spec.keys.material", "route.spec.plugins.key-auth.keys",
                      "route.spec.plugins.basic-auth.users.password", "contactpoint.spec.headers", "contactpoint.spec.hmacSecret",
                      "secretref.spec.aws.credentials.secretAccessKey"] {
            XCTAssertTrue(try facts(query).sensitive, query)
        }
        for query in ["route.spec.plugins.basic-auth.users.username", "ssl.spec.snis", "contactpoint.spec.url"] {
            XCTAssertFalse(try facts(query).sensitive, query)
        }
        XCTAssertTrue(try facts("route.spec.plugins").holdsSensitive)
        let rows = SchemaReference.allFacts(KindSchemas.spec(.keyring), prefix: "spec")
        XCTAssertEqual(rows.map(\.path), ["spec.keys", "spec.keys[].id", "spec.keys[].material"], "a sensitive value's forms are not repeated per field")
    }

    func testKindsAreCaseInsensitiveFieldsExactWithSuggestions() {
        for name in ["route", "Route", "ROUTE", "routes", "rt"] {
            guard case .success(let t) = SchemaReference.lookup(name + ".spec.timeout") else { return XCTFail(name) }
            XCTAssertEqual(t.kind, .route)
        }
        XCTAssertEqual(failure("rout"), "Route")
        XCTAssertEqual(failure("route.spec.Timeout"), "timeout")
        XCTAssertEqual(failure("route.spec.timeout.raed"), "read")
        XCTAssertEqual(failure("upstream.spec.loadbalancer"), "loadBalancer")
        XCTAssertNil(failure("route.spec.zzzzzzzz"))
        guard case .failure(let leaf) = SchemaReference.lookup("route.spec.timeout.read.more") else { return XCTFail() }
        XCTAssertTrue(leaf.message.contains("has no fields"), leaf.message)
        for bad in ["", ".", "route..spec", "route.spec.", "../../etc/passwd", String(repeating: "spec.", count: 10_000)] {
            guard case .failure = SchemaReference.lookup(bad) else { return XCTFail("accepted \(bad.prefix(40))") }
        }
    }

    func testExplainTextNamesEverythingAskedFor() throws {
        guard case .success(let target) = SchemaReference.lookup("upstream.spec.healthCheck.active") else { return XCTFail() }
        let text = SchemaReference.explain(target)
        for line in ["KIND:      Upstream", "FIELD:     spec.healthCheck.active <object>", "REQUIRED:  no", "FIELDS:",
                     "    healthyAfter    <integer>", "(default 2)"] {
            XCTAssertTrue(text.contains(line), "\(line)\n\(text)")
        }
    }

    private func facts(_ query: String) throws -> SchemaReference.Facts {
        guard case .success(let target) = SchemaReference.lookup(query), let field = target.field else { throw NoSuchField(query: query) }
        return SchemaReference.facts(field, path: target.path.joined(separator: "."))
    }

    struct NoSuchField: Error { var query: String }

    /// The suggestion of a failed lookup (nil when none is close); fails the test if the lookup succeeds.
    private func failure(_ query: String) -> String? {
        switch SchemaReference.lookup(query) {
        case .success: XCTFail("\(query) resolved"); return nil
        case .failure(let e): return e.suggestion
        }
    }
}
