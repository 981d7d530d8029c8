// libFuzzer target: the HTTP/1.1 request head scanner and parser (RampartGateway/HTTP1/Head.swift).
// Input: two bytes choosing the limits (so the fuzzer reaches the boundaries), then the request bytes.
import FuzzSupport
import RampartGateway

private let cr: UInt8 = 13, lf: UInt8 = 10

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let maxStartLine = 8 + Int(data[0])
    let maxHead = maxStartLine + 4 * Int(data[1])
    let p = data + 2, n = size - 2

    // One read holding everything, and the same bytes arriving one at a time (the scanner resumes).
    var whole = HeadScanner()
    let oneShot = whole.scan(p, n, maxHead: maxHead, maxStartLine: maxStartLine)
    var pieces = HeadScanner()
    var incremental = 0
    var fed = 0
    while fed < n && incremental == 0 {
        fed += 1
        incremental = pieces.scan(p, fed, maxHead: maxHead, maxStartLine: maxStartLine)
    }
    // How the bytes were split must not decide whether a head is accepted, nor where it ends.
    Fuzz.require((oneShot > 0) == (incremental > 0), "one read: \(oneShot), byte by byte: \(incremental)")
    if oneShot > 0 { Fuzz.require(oneShot == incremental, "head length \(oneShot) vs \(incremental)") }
    guard oneShot > 0 else { return 0 }
    let len = oneShot
    Fuzz.require(len >= 4 && len <= n && len <= maxHead, "head length \(len) of \(n), max \(maxHead)")
    Fuzz.require(p[len - 4] == cr && p[len - 3] == lf && p[len - 2] == cr && p[len - 1] == lf, "head does not end in CRLFCRLF")
    for i in 0..<len {
        Fuzz.require(p[i] != 0, "NUL inside an accepted head at \(i)")
        if p[i] == lf { Fuzz.require(i > 0 && p[i - 1] == cr, "bare LF inside an accepted head at \(i)") }
        if p[i] == cr { Fuzz.require(i + 1 < len && p[i + 1] == lf, "bare CR inside an accepted head at \(i)") }
    }

    var head = RequestHead()
    let result = HeadParser.parseRequest(p, base: 0, len: len, into: &head)
    // The server parses in place at the read index of its buffer: the same head at another base gives the same answer.
    let shift = 7
    var shifted = [UInt8](repeating: UInt8(ascii: "x"), count: shift)
    shifted.append(contentsOf: UnsafeBufferPointer(start: p, count: len))
    var shiftedHead = RequestHead()
    let shiftedResult = shifted.withUnsafeBufferPointer { buf in
        buf.baseAddress.map { HeadParser.parseRequest($0, base: shift, len: len, into: &shiftedHead) } ?? .error(0)
    }
    Fuzz.require(result == shiftedResult, "base 0: \(result), base \(shift): \(shiftedResult)")
    guard result == .complete else {
        if case .error(let status) = result {
            Fuzz.require([400, 414, 417, 431, 501, 505].contains(status), "unexpected status \(status)")
        }
        return 0
    }
    Fuzz.require(head.framing == shiftedHead.framing && head.headers.count == shiftedHead.headers.count
                 && head.targetStart + shift == shiftedHead.targetStart, "parse depends on the base")
    check(head, p, len)
    return 0
}

/// Properties of an accepted head: every offset inside it, names are tokens, values carry no line breaks,
/// and the framing has exactly one source.
private func check(_ head: RequestHead, _ p: UnsafePointer<UInt8>, _ len: Int) {
    func inside(_ start: Int, _ count: Int) -> Bool { start >= 0 && count >= 0 && start <= len - count }
    Fuzz.require(head.headLength == len, "headLength \(head.headLength) != \(len)")
    Fuzz.require(inside(head.methodStart, head.methodLen) && head.methodLen > 0, "method outside the head")
    Fuzz.require(inside(head.targetStart, head.targetLen) && head.targetLen > 0, "target outside the head")
    for i in head.targetStart..<(head.targetStart + head.targetLen) {
        Fuzz.require(p[i] > 0x20 && p[i] != 0x7F, "space or control byte in the target")
    }
    Fuzz.require(head.headers.count == head.kinds.count && head.headers.count <= 128, "header table size")
    var contentLengths = 0, transferEncodings = 0, hosts = 0
    for (index, h) in head.headers.enumerated() {
        let ns = Int(h.nameStart), nl = Int(h.nameLen), vs = Int(h.valueStart), vl = Int(h.valueLen)
        Fuzz.require(inside(ns, nl) && nl > 0 && inside(vs, vl), "header \(index) outside the head")
        Fuzz.require(ns + nl < len && p[ns + nl] == UInt8(ascii: ":"), "header \(index) name not followed by a colon")
        for i in vs..<(vs + vl) { Fuzz.require(p[i] != cr && p[i] != lf && p[i] != 0, "line break in header value \(index)") }
        if vl > 0 {
            Fuzz.require(p[vs] != 32 && p[vs] != 9 && p[vs + vl - 1] != 32 && p[vs + vl - 1] != 9, "value \(index) not trimmed")
        }
        switch head.kinds[index] {
        case .contentLength: contentLengths += 1
        case .transferEncoding: transferEncodings += 1
        case .host: hosts += 1
        default: break
        }
    }
    for (start, count) in head.connTokens {
        Fuzz.require(inside(Int(start), Int(count)) && count > 0, "connection token outside the head")
        // A hop drops what Connection names: never a header that decides framing or routing.
        let token = String(decoding: UnsafeBufferPointer(start: p + Int(start), count: Int(count)), as: UTF8.self).lowercased()
        Fuzz.require(!["content-length", "transfer-encoding", "host"].contains(token), "Connection nominates \(token)")
    }
    // Smuggling: never two framing sources, never a repeated one, HTTP/1.1 always has exactly one Host.
    Fuzz.require(contentLengths <= 1 && transferEncodings <= 1 && !(contentLengths == 1 && transferEncodings == 1),
                 "accepted \(contentLengths) Content-Length and \(transferEncodings) Transfer-Encoding")
    Fuzz.require(hosts <= 1, "accepted \(hosts) Host headers")
    if head.minor == 1 { Fuzz.require(hosts == 1 && head.hostIndex >= 0 && head.hostIndex < head.headers.count, "HTTP/1.1 without a Host") }
    if head.minor == 0 { Fuzz.require(transferEncodings == 0, "HTTP/1.0 with Transfer-Encoding") }
    switch head.framing {
    case .length(let count): Fuzz.require(count > 0 && contentLengths == 1, "length framing \(count) without one Content-Length")
    case .chunked: Fuzz.require(transferEncodings == 1, "chunked framing without Transfer-Encoding")
    case .none: Fuzz.require(transferEncodings == 0, "Transfer-Encoding accepted without chunked framing")
    case .untilClose: Fuzz.require(false, "a request is never read until close")
    }
    if head.expectContinue { Fuzz.require(head.framing != .none, "100-continue without a body") }
}

#if !FUZZING
@main enum Replay { static func main() { Fuzz.replay(fuzz) } }
#endif
