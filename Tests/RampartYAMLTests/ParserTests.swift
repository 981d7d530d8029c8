import XCTest
@testable import RampartYAML

final class ParserTests: XCTestCase {
    func testMarksAreOneBased() throws {
        let docs = try Parser().parse("a: 1\nb:\n  - x\n")
        XCTAssertEqual(docs.count, 1)
        XCTAssertEqual(docs[0]["b"]?.mark, Mark(line: 3, column: 3))
        XCTAssertEqual(docs[0]["b"]?.sequence?.first?.mark, Mark(line: 3, column: 5))
    }

    func testCoreSchema() throws {
        let cases: [(String, Resolved)] = [
            ("true", .bool(true)), ("False", .bool(false)), ("yes", .string("yes")), ("on", .string("on")),
            ("~", .null), ("null", .null), ("", .null), ("12", .int(12)), ("-3", .int(-3)), ("0x1F", .int(31)),
            ("0o17", .int(15)), ("1.5", .float(1.5)), ("1e3", .float(1000)), ("'12'", .string("12")),
            ("\"true\"", .string("true")), ("!!str 5", .string("5")), ("1.2.3", .string("1.2.3")), ("08:00", .string("08:00")),
        ]
        for (text, want) in cases {
            let node = try XCTUnwrap(Parser().parse("v: \(text)\n").first?["v"], text)
            XCTAssertEqual(node.resolved, want, "v: \(text)")
        }
    }

    func testDuplicateKeyIsAnError() {
        XCTAssertThrowsError(try Parser().parse("a: 1\nb: 2\na: 3\n")) { error in
            let e = error as? YAMLError
            XCTAssertEqual(e?.mark, Mark(line: 3, column: 1))
            XCTAssertTrue(e?.message.contains("duplicate key \"a\"") ?? false)
        }
    }

    func testBillionLaughsIsRejected() {
        var doc = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for i in 1...9 {
            let refs = Array(repeating: "*a\(i - 1)", count: 9).joined(separator: ", ")
            doc += "a\(i): &a\(i) [\(refs)]\n"
        }
        XCTAssertThrowsError(try Parser().parse(doc)) { error in
            XCTAssertTrue("\(error)".contains("alias bomb"), "\(error)")
        }
    }

    func testAliasesExpandWithinLimits() throws {
        let doc = try Parser().parse("base: &b {x: 1}\nother: *b\n")
        XCTAssertEqual(doc.first?["other"]?["x"]?.resolved, .int(1))
    }

    func testDepthLimit() {
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        XCTAssertThrowsError(try Parser().parse(deep)) { XCTAssertTrue("\($0)".contains("nesting deeper")) }
    }

    func testSizeLimit() {
        XCTAssertThrowsError(try Parser(limits: Limits(maxBytes: 10)).parse("a: 123456789012\n"))
    }

    func testSyntaxErrorHasMark() {
        XCTAssertThrowsError(try Parser().parse("a: [1, 2\nb: 3\n")) { error in
            XCTAssertGreaterThanOrEqual((error as? YAMLError)?.mark.line ?? 0, 1)
        }
    }

    func testJSONInput() throws {
        let doc = try Parser().parse("{\"a\": [1, true, null, \"x\"]}")
        XCTAssertEqual(doc.first?["a"]?.sequence?.map(\.resolved), [.int(1), .bool(true), .null, .string("x")])
    }

    func testEmitRoundTripQuotesAmbiguousStrings() throws {
        let node = Node(.mapping([
            Pair(key: .string("port"), value: Node(.scalar(Scalar("8080")))),
            Pair(key: .string("text"), value: .string("8080")),
            Pair(key: .string("flag"), value: .string("true")),
            Pair(key: .string("list"), value: Node(.sequence([.string("a: b"), .string("plain")]))),
        ]))
        let text = Emitter.emit([node])
        let back = try XCTUnwrap(Parser().parse(text).first)
        XCTAssertEqual(back["port"]?.resolved, .int(8080))
        XCTAssertEqual(back["text"]?.resolved, .string("8080"))
        XCTAssertEqual(back["flag"]?.resolved, .string("true"))
        XCTAssertEqual(back["list"]?.sequence?.first?.resolved, .string("a: b"))
    }
}
