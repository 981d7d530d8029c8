// Strict chunked transfer-coding state machine (RFC 9112 §7.1). It validates framing while the
// bytes stream through; the proxy forwards either every consumed byte (pass-through) or only
// the data runs (decode, for HTTP/1.0 peers).

package struct ChunkedParser {
    package enum State: UInt8 {
        case size, ext, sizeLF, data, dataCR, dataLF, trailerStart, trailer, trailerLF, finalLF, done
    }
    package var state: State = .size
    var digits = 0
    var remaining = 0
    var trailerBytes = 0
    package static let maxTrailerBytes = 8 * 1024

    package init() {}

    mutating func reset() {
        state = .size
        digits = 0
        remaining = 0
        trailerBytes = 0
    }

    package var isDone: Bool { state == .done }

    package enum Run {
        case framing(Int)   // consumed framing bytes
        case data(Int)      // consumed data bytes
        case error
    }

    /// Consumes from p[0..<n]: either a run of framing bytes (stopping where data starts, at the
    /// end of input or at the end of the message) or a run of data bytes.
    @inline(__always)
    package mutating func next(_ p: UnsafePointer<UInt8>, _ n: Int) -> Run {
        if state == .data {
            let k = min(n, remaining)
            remaining -= k
            if remaining == 0 { state = .dataCR }
            return .data(k)
        }
        var i = 0
        while i < n {
            let c = p[i]
            switch state {
            case .size:
                if let d = hexValue(c) {
                    if digits >= 15 { return .error }
                    remaining = remaining << 4 | d
                    digits += 1
                } else if digits == 0 {
                    return .error
                } else if c == UInt8(ascii: ";") {
                    state = .ext
                } else if c == ASCII.cr {
                    state = .sizeLF
                } else {
                    return .error
                }
            case .ext:
                if c == ASCII.cr { state = .sizeLF }
                else if (c < 0x20 && c != ASCII.tab) || c == 0x7F { return .error }
            case .sizeLF:
                guard c == ASCII.lf else { return .error }
                digits = 0
                if remaining == 0 {
                    state = .trailerStart
                } else {
                    state = .data
                    return .framing(i + 1)
                }
            case .dataCR:
                guard c == ASCII.cr else { return .error }
                state = .dataLF
            case .dataLF:
                guard c == ASCII.lf else { return .error }
                state = .size
                remaining = 0
            case .trailerStart:
                if c == ASCII.cr { state = .finalLF }
                else if c == ASCII.sp || c == ASCII.tab || !ASCII.tchar[Int(c)] { return .error }
                else { state = .trailer }
                trailerBytes += 1
            case .trailer:
                trailerBytes += 1
                if trailerBytes > ChunkedParser.maxTrailerBytes { return .error }
                if c == ASCII.cr { state = .trailerLF }
                else if (c < 0x20 && c != ASCII.tab) || c == 0x7F { return .error }
            case .trailerLF:
                guard c == ASCII.lf else { return .error }
                state = .trailerStart
            case .finalLF:
                guard c == ASCII.lf else { return .error }
                state = .done
                return .framing(i + 1)
            case .data, .done:
                return .framing(i)
            }
            i += 1
        }
        return .framing(i)
    }

    /// Validates p[0..<n] without consuming (used before forwarding a head, so that a bad first
    /// chunk is rejected before the upstream sees anything). Returns false on a framing error.
    package func validates(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var copy = self
        var off = 0
        while off < n && !copy.isDone {
            switch copy.next(p + off, n - off) {
            case .error: return false
            case .framing(let k), .data(let k):
                if k == 0 { return true }
                off += k
            }
        }
        return true
    }

    @inline(__always)
    private func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 48...57: return Int(c - 48)
        case 65...70: return Int(c - 55)
        case 97...102: return Int(c - 87)
        default: return nil
        }
    }
}
