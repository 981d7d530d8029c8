// libFuzzer target: the HTTP/1.1 response head parser (HeadParser.parseResponse), as the proxy runs it on
// upstream bytes. Input: one byte (bit 0: the request was HEAD), then the response bytes.
import FuzzSupport
import RampartGateway

private let cr: UInt8 = 13, lf: UInt8 = 10
// The limits the proxy's upstream side uses (Proxy/Upstream.swift).
private let maxHead = 64 * 1024, maxStartLine = 8 * 1024

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let requestWasHead = data[0] & 1 == 1
    let p = data + 1, n = size - 1
    var scanner = HeadScanner()
    let len = scanner.scan(p, n, maxHead: maxHead, maxStartLine: maxStartLine)
    guard len > 0 else { return 0 }
    Fuzz.require(len >= 4 && len <= n && p[len - 1] == lf && p[len - 2] == cr, "head length \(len) of \(n)")

    var head = ResponseHead()
    let result = HeadParser.parseResponse(p, base: 0, len: len, into: &head, requestWasHead: requestWasHead)
    let shift = 5
    var shifted = [UInt8](repeating: UInt8(ascii: "H"), count: shift)
    shifted.append(contentsOf: UnsafeBufferPointer(start: p, count: len))
    var shiftedHead = ResponseHead()
    let shiftedResult = shifted.withUnsafeBufferPointer { buf in
        buf.baseAddress.map { HeadParser.parseResponse($0, base: shift, len: len, into: &shiftedHead, requestWasHead: requestWasHead) }
            ?? .error(0)
    }
    Fuzz.require(result == shiftedResult, "base 0: \(result), base \(shift): \(shiftedResult)")
    guard result == .complete else {
        Fuzz.require(result == .error(502), "a bad upstream head answers 502, got \(result)")
        return 0
    }
    Fuzz.require(head.framing == shiftedHead.framing && head.status == shiftedHead.status
                 && head.reasonStart + shift == shiftedHead.reasonStart, "parse depends on the base")

    func inside(_ start: Int, _ count: Int) -> Bool { start >= 0 && count >= 0 && start <= len - count }
    Fuzz.require((100...599).contains(head.status), "status \(head.status)")
    Fuzz.require(inside(head.reasonStart, head.reasonLen), "reason outside the head")
    Fuzz.require(head.headers.count == head.kinds.count && head.headers.count <= 128, "header table size")
    var contentLengths: [Int] = [], transferEncodings = 0
    for (index, h) in head.headers.enumerated() {
        let ns = Int(h.nameStart), nl = Int(h.nameLen), vs = Int(h.valueStart), vl = Int(h.valueLen)
        Fuzz.require(inside(ns, nl) && nl > 0 && inside(vs, vl), "header \(index) outside the head")
        for i in vs..<(vs + vl) { Fuzz.require(p[i] != cr && p[i] != lf && p[i] != 0, "line break in header value \(index)") }
        switch head.kinds[index] {
        case .contentLength:
            var value = 0
            for i in vs..<(vs + vl) { value = value * 10 + Int(p[i] - 48) }  // accepted values are 1...18 digits
            contentLengths.append(value)
        case .transferEncoding: transferEncodings += 1
        default: break
        }
    }
    for (start, count) in head.connTokens {
        Fuzz.require(inside(Int(start), Int(count)) && count > 0, "connection token outside the head")
        // A hop drops what Connection names: never a header that decides framing or routing.
        let token = String(decoding: UnsafeBufferPointer(start: p + Int(start), count: Int(count)), as: UTF8.self).lowercased()
        Fuzz.require(!["content-length", "transfer-encoding", "host"].contains(token), "Connection nominates \(token)")
    }
    // Framing: never both sources, never two different lengths, no body where the status or method forbids one.
    Fuzz.require(contentLengths.isEmpty || transferEncodings == 0, "accepted Content-Length with Transfer-Encoding")
    Fuzz.require(Set(contentLengths).count <= 1, "accepted differing Content-Length values \(contentLengths)")
    let bodiless = requestWasHead || head.status < 200 || head.status == 204 || head.status == 304
    switch head.framing {
    case .none: Fuzz.require(bodiless || contentLengths.first == 0, "no body without a reason")
    case .length(let count): Fuzz.require(!bodiless && count > 0 && contentLengths.first == count, "length \(count) vs \(contentLengths)")
    case .chunked: Fuzz.require(!bodiless && transferEncodings > 0, "chunked without Transfer-Encoding")
    case .untilClose: Fuzz.require(!bodiless && contentLengths.isEmpty, "read-until-close with a Content-Length")
    }
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { Fuzz.replay(fuzz) } }
#endif
