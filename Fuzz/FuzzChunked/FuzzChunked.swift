// libFuzzer target: the chunked transfer-coding parser (RampartGateway/HTTP1/Chunked.swift).
// Input byte 0 picks the mode: even = arbitrary body bytes, odd = a description of chunks that is
// encoded validly and must decode back to its data. Byte 1 seeds how the bytes are split into reads.
import FuzzSupport
import RampartGateway

/// What one pass of the parser over some bytes saw.
private struct Outcome: Equatable {
    var consumed = 0
    var data: [UInt8] = []
    var done = false
    var failed = false
}

/// Feeds p[0..<n] to a fresh parser in reads of the sizes `splits` gives (cycled), as the proxy does.
private func parse(_ p: UnsafePointer<UInt8>, _ n: Int, splits: [Int]) -> Outcome {
    var parser = ChunkedParser()
    var out = Outcome()
    var readEnd = 0, splitIndex = 0
    while out.consumed < n && !out.done {
        if out.consumed == readEnd {
            readEnd = min(n, readEnd + splits[splitIndex % splits.count])
            splitIndex += 1
        }
        let available = readEnd - out.consumed
        switch parser.next(p + out.consumed, available) {
        case .error:
            out.failed = true
            return out
        case .framing(let k):
            Fuzz.require(k >= 0 && k <= available, "framing run \(k) of \(available)")
            // No progress on non-empty input would spin the proxy's loop forever.
            Fuzz.require(k > 0 || parser.isDone, "no progress with \(available) bytes available")
            out.consumed += k
        case .data(let k):
            Fuzz.require(k > 0 && k <= available, "data run \(k) of \(available)")
            out.data.append(contentsOf: UnsafeBufferPointer(start: p + out.consumed, count: k))
            out.consumed += k
        }
        out.done = parser.isDone
    }
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let mode = data[0], seed = Int(data[1])
    let splits = [1 + seed % 7, 1 + seed % 3, 1 + seed, 2]
    if mode & 1 == 0 {
        let p = data + 2, n = size - 2
        let oneRead = parse(p, n, splits: [max(n, 1)])
        let pieces = parse(p, n, splits: splits)
        // Where reads split the stream never changes what it means (an error's position is not reported:
        // framing bytes before it count as consumed only when an earlier read ended there).
        Fuzz.require(oneRead.failed ? pieces.failed && oneRead.data == pieces.data : oneRead == pieces, "one read \(oneRead.consumed)/\(oneRead.done)/\(oneRead.failed) vs pieces \(pieces.consumed)/\(pieces.done)/\(pieces.failed)")
        // validates() (used before the head is forwarded) agrees with parsing.
        Fuzz.require(ChunkedParser().validates(p, n) == !oneRead.failed, "validates disagrees with next")
        if oneRead.done { Fuzz.require(oneRead.consumed <= n, "consumed past the input") }
        return 0
    }
    // Valid encoding: bytes after the two header bytes are chunk descriptions (length byte, then data),
    // with an extension or a trailer on some of them.
    var encoded: [UInt8] = []
    var expected: [UInt8] = []
    var i = 2
    var chunkIndex = 0
    while i < size {
        let count = min(Int(data[i]), size - i - 1)
        i += 1
        if count == 0 { break }
        let body = UnsafeBufferPointer(start: data + i, count: count)
        i += count
        let hex = String(count, radix: 16, uppercase: chunkIndex % 2 == 1)
        encoded += Array((chunkIndex % 3 == 2 ? "000" : "").utf8) + Array(hex.utf8)
        if chunkIndex % 4 == 1 { encoded += Array(";name=\"v\"".utf8) }
        encoded += [13, 10] + Array(body) + [13, 10]
        expected += body
        chunkIndex += 1
    }
    encoded += Array("0\r\n".utf8)
    if seed % 2 == 1 { encoded += Array("X-Trailer: t\r\n".utf8) }
    encoded += [13, 10]
    let pipelined = Array("GET / HTTP/1.1\r\n".utf8)  // the next request on the connection, not part of the body
    let stream = encoded + pipelined
    stream.withUnsafeBufferPointer { buf in
        guard let base = buf.baseAddress else { return }
        for s in [[buf.count], splits] {
            let out = parse(base, buf.count, splits: s)
            Fuzz.require(!out.failed && out.done, "a valid encoding was rejected (failed \(out.failed), done \(out.done))")
            Fuzz.require(out.data == expected, "decoded \(out.data.count) bytes, expected \(expected.count)")
            Fuzz.require(out.consumed == encoded.count, "consumed \(out.consumed), the body is \(encoded.count) bytes")
        }
        Fuzz.require(ChunkedParser().validates(base, buf.count), "validates rejects a valid encoding")
    }
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { Fuzz.replay(fuzz) } }
#endif
