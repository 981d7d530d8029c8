import Foundation
import XCTest
@testable import RampartKubernetes

final class LineSplitterTests: XCTestCase {
    func feed(_ splitter: inout LineSplitter, _ bytes: [UInt8], into lines: inout [String]) throws {
        try bytes.withUnsafeBytes { raw in
            try splitter.feed(raw) { lines.append(String(decoding: $0, as: UTF8.self)) }
        }
    }

    let stream = "{\"type\":\"ADDED\",\"object\":{\"a\":1}}\n{\"type\":\"MODIFIED\",\"object\":{\"é\":\"x\"}}\r\n\n{\"type\":\"BOOKMARK\"}\n"
    let expected = ["{\"type\":\"ADDED\",\"object\":{\"a\":1}}", "{\"type\":\"MODIFIED\",\"object\":{\"é\":\"x\"}}", "{\"type\":\"BOOKMARK\"}"]

    func testWholeStreamInOneRead() throws {
        var splitter = LineSplitter()
        var lines: [String] = []
        try feed(&splitter, Array(stream.utf8), into: &lines)
        XCTAssertEqual(lines, expected, "CRLF and blank lines are not events")
        XCTAssertEqual(splitter.bufferedBytes, 0)
        XCTAssertNil(splitter.finish())
    }

    /// Two reads split at every byte offset (inside a UTF-8 sequence too) give the same lines.
    func testSplitAtEveryOffset() throws {
        let bytes = Array(stream.utf8)
        for cut in 0...bytes.count {
            var splitter = LineSplitter()
            var lines: [String] = []
            try feed(&splitter, Array(bytes[..<cut]), into: &lines)
            try feed(&splitter, Array(bytes[cut...]), into: &lines)
            XCTAssertEqual(lines, expected, "cut at \(cut)")
        }
    }

    func testOneByteReads() throws {
        var splitter = LineSplitter()
        var lines: [String] = []
        for byte in stream.utf8 { try feed(&splitter, [byte], into: &lines) }
        XCTAssertEqual(lines, expected)
    }

    func testLineAtTheLimitPassesOneOverIsRefused() throws {
        let limit = 64
        var splitter = LineSplitter(maxLineBytes: limit)
        var lines: [String] = []
        let atLimit = String(repeating: "a", count: limit)
        try feed(&splitter, Array((atLimit + "\n").utf8), into: &lines)
        XCTAssertEqual(lines, [atLimit])
        // One byte over, whether it arrives whole or across reads.
        XCTAssertThrowsError(try feed(&splitter, Array((atLimit + "b\n").utf8), into: &lines)) { error in
            XCTAssertTrue(error is LineSplitter.LineTooLong)
        }
        splitter.reset()
        try feed(&splitter, Array(atLimit.prefix(40).utf8), into: &lines)
        XCTAssertThrowsError(try feed(&splitter, Array(String(repeating: "c", count: 25).utf8), into: &lines))
        XCTAssertEqual(splitter.bufferedBytes, 0, "a refused line is not kept")
        XCTAssertEqual(lines.count, 1)
    }

    /// A server that never sends a newline: memory stays at the limit, it does not grow with the stream.
    func testNeverEndingLineIsBounded() throws {
        var splitter = LineSplitter(maxLineBytes: 1 << 20)
        var lines: [String] = []
        let chunk = [UInt8](repeating: 0x61, count: 64 << 10)
        var refused = false
        for _ in 0..<64 {
            do { try feed(&splitter, chunk, into: &lines) } catch {
                refused = true
                break
            }
            XCTAssertLessThanOrEqual(splitter.bufferedBytes, 1 << 20)
        }
        XCTAssertTrue(refused, "refused once the line passed 1 MiB")
        XCTAssertTrue(lines.isEmpty)
    }

    func testTruncatedLastLineIsReportedByFinish() throws {
        var splitter = LineSplitter()
        var lines: [String] = []
        try feed(&splitter, Array("{\"type\":\"ADDED\"}\n{\"type\":\"MOD".utf8), into: &lines)
        XCTAssertEqual(lines, ["{\"type\":\"ADDED\"}"])
        XCTAssertEqual(splitter.finish().map { String(decoding: $0, as: UTF8.self) }, "{\"type\":\"MOD")
        XCTAssertEqual(splitter.bufferedBytes, 0)
    }

    func testDefaultLimitIs16MiB() {
        XCTAssertEqual(LineSplitter().maxLineBytes, 16 << 20)
        XCTAssertEqual(ListWatch.Config(path: "/x", kind: "X").maxEventBytes, 16 << 20)
    }
}
