/// The one normal form of a request path: what the router matches, what the upstream receives,
/// and what a Route's `paths` must already be written in (so that every declared path can match).
///
/// Rules (RFC 3986 6.2.2 and 5.2.4, with Envoy's `normalize_path` + `merge_slashes` and nginx's
/// `merge_slashes on` as the models):
/// - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded; every other escape
///   keeps its `%` with its hex digits in upper case;
/// - an encoded `/` (`%2F`) or `\` (`%5C`), an encoded NUL or control byte, a raw `\`, `#` or `;`,
///   and a malformed escape are refused (nil): backends disagree on what they mean;
/// - raw bytes a path may not hold (`"`, `<`, `>`, `^`, `` ` ``, `{`, `|`, `}`, `[`, `]`, non-ASCII)
///   are percent-encoded;
/// - dot segments are resolved after decoding; a path that climbs above the root is refused;
/// - runs of `/` are merged into one; a trailing `/` is kept; case is significant.
public enum PathNormalForm {
    /// A path in normal form: either the input itself (nothing to change) or the scratch buffer.
    public struct Normalized {
        public let base: UnsafePointer<UInt8>
        public let count: Int
        public init(base: UnsafePointer<UInt8>, count: Int) {
            self.base = base
            self.count = count
        }
    }

    /// The scratch capacity `normalize` needs for an input of `length` bytes (escaping may triple it).
    public static func scratchCapacity(forPathLength length: Int) -> Int {
        length.multipliedReportingOverflow(by: 3).overflow ? Int.max : length * 3 + 1
    }

    /// Normalizes the path `p[0..<n]` (which starts with `/`; the query is not part of it).
    /// `scratch` must hold `scratchCapacity(forPathLength: n)` bytes. Returns nil if refused.
    public static func normalize(_ p: UnsafePointer<UInt8>, _ n: Int,
                                 scratch out: UnsafeMutablePointer<UInt8>, capacity: Int) -> Normalized? {
        guard n > 0, p[0] == slash, capacity >= scratchCapacity(forPathLength: n) else { return nil }
        if isAlreadyNormal(p, n) { return Normalized(base: p, count: n) }
        out[0] = slash
        var written = 1          // out[written - 1] == "/" at the start of every segment
        var i = 1
        while true {
            let segmentStart = written
            while i < n && p[i] != slash {
                let c = p[i]
                switch byteClass[Int(c)] {
                case plain:
                    out[written] = c
                    written += 1
                    i += 1
                case percent:
                    guard i + 2 < n, let hi = hexValue(p[i + 1]), let lo = hexValue(p[i + 2]) else { return nil }
                    let decoded = hi << 4 | lo
                    if isUnreserved(decoded) {
                        out[written] = decoded
                        written += 1
                    } else if decoded == slash || decoded == UInt8(ascii: "\\") || decoded < 0x20 || decoded == 0x7F {
                        return nil      // %2F, %5C, %00 and other control bytes
                    } else {
                        writeEscape(decoded, out + written)
                        written += 3
                    }
                    i += 3
                case escaped:
                    writeEscape(c, out + written)
                    written += 3
                    i += 1
                default:
                    return nil
                }
            }
            let segmentLength = written - segmentStart
            if segmentLength == 1 && out[segmentStart] == dot {
                written = segmentStart
            } else if segmentLength == 2 && out[segmentStart] == dot && out[segmentStart + 1] == dot {
                if segmentStart == 1 { return nil }     // above the root
                var k = segmentStart - 2
                while k > 0 && out[k] != slash { k -= 1 }
                written = k + 1
            }
            if i >= n { break }
            i += 1                                      // the "/" ending this segment
            if out[written - 1] != slash {
                out[written] = slash
                written += 1
            }
        }
        return Normalized(base: UnsafePointer(out), count: written)
    }

    /// The normal form of `path`, or nil if it is refused (tests, validation, tools).
    public static func normalize(_ path: [UInt8]) -> [UInt8]? {
        let capacity = scratchCapacity(forPathLength: path.count)
        guard !path.isEmpty, capacity < Int.max else { return nil }
        let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { scratch.deallocate() }
        return path.withUnsafeBufferPointer { input -> [UInt8]? in
            guard let base = input.baseAddress,
                  let result = normalize(base, input.count, scratch: scratch, capacity: capacity) else { return nil }
            return Array(UnsafeBufferPointer(start: result.base, count: result.count))
        }
    }

    /// Whether `path` is already in normal form (a Route's declared paths must be).
    public static func isNormal(_ path: String) -> Bool {
        let bytes = Array(path.utf8)
        return normalize(bytes) == bytes
    }

    // MARK: byte classes

    private static let slash = UInt8(ascii: "/")
    private static let dot = UInt8(ascii: ".")
    private static let plain: UInt8 = 0, percent: UInt8 = 1, escaped: UInt8 = 2, refused: UInt8 = 3

    /// Raw-byte classes: copied as is, an escape to read, a byte to escape, or refused.
    private static let byteClass: [UInt8] = {
        var table = [UInt8](repeating: escaped, count: 256)
        for c in 0..<0x21 { table[c] = refused }
        table[0x7F] = refused
        for c in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(c)] = plain }
        for c in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(c)] = plain }
        for c in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(c)] = plain }
        for c in "-._~!$&'()*+,=:@/".utf8 { table[Int(c)] = plain }
        table[Int(UInt8(ascii: "%"))] = percent
        for c in "\\#;?".utf8 { table[Int(c)] = refused }
        return table
    }()

    @inline(__always)
    private static func isUnreserved(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39)
            || c == 0x2D || c == 0x2E || c == 0x5F || c == 0x7E
    }

    /// True when the path has nothing to decode, escape, merge or resolve (the common case).
    @inline(__always)
    private static func isAlreadyNormal(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 0
        while i < n {
            let c = p[i]
            if byteClass[Int(c)] != plain { return false }
            if c == slash, i + 1 < n {
                let next = p[i + 1]
                if next == slash { return false }
                if next == dot {
                    let afterDot = i + 2 < n ? p[i + 2] : slash
                    if afterDot == slash { return false }
                    if afterDot == dot && (i + 3 >= n || p[i + 3] == slash) { return false }
                }
            }
            i += 1
        }
        return true
    }

    @inline(__always)
    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x37
        case 0x61...0x66: return c - 0x57
        default: return nil
        }
    }

    @inline(__always)
    private static func writeEscape(_ c: UInt8, _ out: UnsafeMutablePointer<UInt8>) {
        let digits: StaticString = "0123456789ABCDEF"
        out[0] = UInt8(ascii: "%")
        out[1] = digits.utf8Start[Int(c >> 4)]
        out[2] = digits.utf8Start[Int(c & 0x0F)]
    }
}
