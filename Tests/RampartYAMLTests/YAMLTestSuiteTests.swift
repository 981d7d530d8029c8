import Foundation
import XCTest
@testable import RampartYAML

/// Runs every case of the yaml-test-suite (vendored beside this file, `yaml-test-suite/README.md`) against the parser.
final class YAMLTestSuiteTests: XCTestCase {
    /// Cases libyaml 0.2.5 gets wrong, with the reason. Nothing else may fail.
    static let expectedFailures: [String: String] = [
        "2JQS": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "2LFX": "libyaml rejects valid directives (YAML 1.2 reserved/1.3 directives)",
        "2SXE": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "4ABK": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "4MUZ-00": "libyaml rejects valid flow-collection syntax (implicit keys, multi-line keys, ':' adjacency)",
        "4MUZ-01": "libyaml rejects valid flow-collection syntax (implicit keys, multi-line keys, ':' adjacency)",
        "4MUZ-02": "libyaml rejects valid flow-collection syntax (implicit keys, multi-line keys, ':' adjacency)",
        "58MP": "libyaml rejects valid flow-collection syntax (implicit keys, multi-line keys, ':' adjacency)",
        "5MUD": "libyaml rejects valid flow-collection syntax (implicit keys, multi-line keys, ':' adjacency)",
        "5T43": "libyaml rejects valid flow-collection syntax (implicit keys, multi-line keys, ':' adjacency)",
        "652Z": "libyaml parses this valid YAML to a different value",
        "6BCT": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "6CA3": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "6LVF": "libyaml rejects valid directives (YAML 1.2 reserved/1.3 directives)",
        "6M2F": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "7Z25": "libyaml rejects valid document markers/empty documents of YAML 1.2",
        "8XYN": "libyaml rejects anchors with characters YAML 1.2 allows",
        "96NN-00": "libyaml rejects tabs that YAML 1.2 allows as separation",
        "96NN-01": "libyaml rejects tabs that YAML 1.2 allows as separation",
        "9C9N": "libyaml accepts this invalid YAML",
        "9HCY": "libyaml accepts this invalid YAML",
        "9JBA": "libyaml accepts this invalid YAML",
        "9SA2": "libyaml rejects valid flow-collection syntax (implicit keys, multi-line keys, ':' adjacency)",
        "A2M4": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "BEC7": "libyaml rejects valid document markers/empty documents of YAML 1.2",
        "CFD4": "libyaml rejects valid flow-collection syntax (implicit keys, multi-line keys, ':' adjacency)",
        "CVW2": "libyaml accepts this invalid YAML",
        "DBG4": "libyaml rejects valid flow-collection syntax (implicit keys, multi-line keys, ':' adjacency)",
        "DK3J": "libyaml rejects valid document markers/empty documents of YAML 1.2",
        "DK95-00": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "DK95-01": "libyaml accepts this invalid YAML",
        "DK95-03": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "DK95-04": "libyaml rejects tabs that YAML 1.2 allows as separation",
        "EB22": "libyaml accepts this invalid YAML",
        "FP8R": "libyaml rejects valid document markers/empty documents of YAML 1.2",
        "FRK4": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "G5U8": "libyaml accepts this invalid YAML",
        "HM87-00": "libyaml rejects valid flow-collection syntax (implicit keys, multi-line keys, ':' adjacency)",
        "HM87-01": "libyaml parses this valid YAML to a different value",
        "HWV9": "libyaml rejects valid document markers/empty documents of YAML 1.2",
        "JEF9-02": "libyaml parses this valid YAML to a different value",
        "K3WX": "libyaml rejects valid flow-collection syntax (implicit keys, multi-line keys, ':' adjacency)",
        "L24T-01": "libyaml parses this valid YAML to a different value",
        "M2N8-00": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "M7A3": "libyaml rejects valid document markers/empty documents of YAML 1.2",
        "MUS6-00": "libyaml accepts this invalid YAML",
        "MUS6-01": "libyaml accepts this invalid YAML",
        "MUS6-05": "libyaml rejects valid directives (YAML 1.2 reserved/1.3 directives)",
        "MUS6-06": "libyaml rejects valid directives (YAML 1.2 reserved/1.3 directives)",
        "NHX8": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "NJ66": "libyaml rejects valid flow-collection syntax (implicit keys, multi-line keys, ':' adjacency)",
        "NKF9": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "Q5MG": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "QB6E": "libyaml accepts this invalid YAML",
        "QT73": "libyaml rejects valid document markers/empty documents of YAML 1.2",
        "R4YG": "libyaml rejects tabs that YAML 1.2 allows as separation",
        "RHX7": "libyaml accepts this invalid YAML",
        "S3PD": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "S98Z": "libyaml accepts this invalid YAML",
        "SM9W-01": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "SU5Z": "libyaml accepts this invalid YAML",
        "UKK6-00": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "UT92": "libyaml rejects valid flow-collection syntax (implicit keys, multi-line keys, ':' adjacency)",
        "VJP3-01": "libyaml rejects valid flow-collection syntax (implicit keys, multi-line keys, ':' adjacency)",
        "W4TN": "libyaml rejects valid directives (YAML 1.2 reserved/1.3 directives)",
        "W5VH": "libyaml rejects anchors with characters YAML 1.2 allows",
        "X4QW": "libyaml accepts this invalid YAML",
        "Y2GN": "libyaml parses this valid YAML to a different value",
        "Y79Y-001": "libyaml rejects tabs that YAML 1.2 allows as separation",
        "Y79Y-003": "libyaml accepts this invalid YAML",
        "Y79Y-010": "libyaml rejects this valid YAML 1.2 (block-mapping or token edge case)",
        "YJV2": "libyaml accepts this invalid YAML",
    ]

    static var suiteDir: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("yaml-test-suite")
    }

    func testYAMLTestSuite() throws {
        let fm = FileManager.default
        let dir = Self.suiteDir
        let cases = try fm.contentsOfDirectory(atPath: dir.path).filter {
            fm.fileExists(atPath: dir.appendingPathComponent($0).appendingPathComponent("in.yaml").path)
        }.sorted()
        XCTAssertEqual(cases.count, 402, "yaml-test-suite cases under \(dir.path)")
        var passed = 0, expected = 0
        var failures: [String] = []
        var unexpectedPasses: [String] = []
        for id in cases {
            let c = dir.appendingPathComponent(id)
            let input = try [UInt8](Data(contentsOf: c.appendingPathComponent("in.yaml")))
            let isError = fm.fileExists(atPath: c.appendingPathComponent("error").path)
            let jsonURL = c.appendingPathComponent("in.json")
            var problem: String?
            do {
                let docs = try Parser().parse(bytes: input)
                if isError {
                    problem = "accepted invalid YAML"
                } else if fm.fileExists(atPath: jsonURL.path) {
                    let want = try JSONStream.values(Data(contentsOf: jsonURL))
                    let got = docs.map(JSONValue.init(node:))
                    if want != got { problem = "value differs: got \(got), want \(want)" }
                }
            } catch {
                if !isError { problem = "rejected valid YAML: \(error)" }
            }
            if let problem {
                if Self.expectedFailures[id] != nil { expected += 1 } else { failures.append("\(id): \(problem)") }
            } else {
                if Self.expectedFailures[id] != nil { unexpectedPasses.append(id) }
                passed += 1
            }
        }
        print("yaml-test-suite: \(passed) passed, \(expected) expected failures (known libyaml gaps), \(failures.count) unexpected failures, of \(cases.count)")
        for f in failures { print("  FAIL \(f)") }
        XCTAssertEqual(failures, [], "unexpected failures")
        XCTAssertEqual(unexpectedPasses, [], "cases listed as expected failures now pass: remove them from the list")
    }
}

/// A JSON value for comparing parsed YAML with the suite's in.json.
enum JSONValue: Equatable, Decodable, CustomStringConvertible {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    init(node: Node) {
        switch node.value {
        case .sequence(let items): self = .array(items.map(JSONValue.init(node:)))
        case .mapping(let pairs):
            var o: [String: JSONValue] = [:]
            for p in pairs { o[p.key.scalar?.text ?? "\(JSONValue(node: p.key))"] = JSONValue(node: p.value) }
            self = .object(o)
        case .scalar:
            switch node.resolved {
            case .null: self = .null
            case .bool(let b): self = .bool(b)
            case .int(let i): self = .number(Double(i))
            case .float(let d): self = .number(d)
            case .string(let s): self = .string(s)
            }
        }
    }

    var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .number(let d): return "\(d)"
        case .string(let s): return "\"\(s)\""
        case .array(let a): return "[\(a.map(\.description).joined(separator: ","))]"
        case .object(let o): return "{\(o.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ","))}"
        }
    }
}

/// Splits a stream of concatenated JSON values (the suite's multi-document in.json).
enum JSONStream {
    static func values(_ data: Data) throws -> [JSONValue] {
        let b = [UInt8](data)
        var out: [JSONValue] = []
        var i = 0
        func isSpace(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 10 || c == 13 }
        while i < b.count {
            while i < b.count, isSpace(b[i]) { i += 1 }
            guard i < b.count else { break }
            let start = i
            if b[i] == UInt8(ascii: "{") || b[i] == UInt8(ascii: "[") || b[i] == UInt8(ascii: "\"") {
                var depth = 0, inString = false
                repeat {
                    let c = b[i]
                    if inString {
                        if c == UInt8(ascii: "\\") { i += 1 } else if c == UInt8(ascii: "\"") { inString = false; if depth == 0 { i += 1; break } }
                    } else if c == UInt8(ascii: "\"") { inString = true }
                    else if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") { depth += 1 }
                    else if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") { depth -= 1; if depth == 0 { i += 1; break } }
                    i += 1
                } while i < b.count
            } else {
                while i < b.count, !isSpace(b[i]) { i += 1 }
            }
            let slice = Data(b[start..<i])
            out.append(try JSONDecoder().decode(JSONValue.self, from: slice))
        }
        return out
    }
}
