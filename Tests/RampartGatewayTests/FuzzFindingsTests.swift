import XCTest
@testable import RampartGateway

/// Inputs the fuzz targets (Fuzz/) found, each kept as a regression test beside the parser it broke.
final class FuzzFindingsTests: XCTestCase {
    /// Scans `bytes` in one read and again one byte per read, as a slow client or split TCP segments deliver them.
    private func scanBothWays(_ bytes: [UInt8], maxHead: Int, maxStartLine: Int) -> (oneRead: Int, byteByByte: Int) {
        bytes.withUnsafeBufferPointer { buf in
            guard let p = buf.baseAddress else { return (0, 0) }
            var whole = HeadScanner()
            let oneRead = whole.scan(p, buf.count, maxHead: maxHead, maxStartLine: maxStartLine)
            var pieces = HeadScanner()
            var result = 0, fed = 0
            while fed < buf.count && result == 0 {
                fed += 1
                result = pieces.scan(p, fed, maxHead: maxHead, maxStartLine: maxStartLine)
            }
            return (oneRead, result)
        }
    }

    /// FuzzRequestHead crash-72b752dd: a start line of exactly maxStartLine bytes was refused with 414 when a read
    /// ended between its CR and LF, and accepted when CR and LF arrived together. The limit does not depend on reads.
    func testStartLineOfExactlyTheLimitIsAcceptedHoweverTheReadsSplit() {
        // The fuzzer's input: limits 11 and 31, start line "\u{99}\u{ff}\u{ff}GTE HTTx" (11 bytes).
        let crash: [UInt8] = [0x99, 0xff, 0xff] + Array("GTE HTTx\r\n\r\n".utf8)
        let r = scanBothWays(crash, maxHead: 31, maxStartLine: 11)
        XCTAssertEqual(r.oneRead, crash.count)
        XCTAssertEqual(r.byteByByte, crash.count)

        // The same at the gateway's own sizes: a 1024-byte start line passes at maxURIBytes 1024, 1025 bytes do not.
        for (lineLength, accepted) in [(1024, true), (1025, false)] {
            let target = "/" + String(repeating: "a", count: lineLength - "GET / HTTP/1.1".utf8.count)
            let request = Array("GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
            XCTAssertEqual(request.count, lineLength + 13)
            let got = scanBothWays(request, maxHead: 4096, maxStartLine: 1024)
            XCTAssertEqual(got.oneRead, accepted ? request.count : -414, "line of \(lineLength) bytes in one read")
            XCTAssertEqual(got.byteByByte, got.oneRead, "line of \(lineLength) bytes, one byte per read")
        }
    }
}
