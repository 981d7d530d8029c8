import Glibc

enum ASCII {
    static let cr: UInt8 = 13
    static let lf: UInt8 = 10
    static let sp: UInt8 = 32
    static let tab: UInt8 = 9
    static let colon: UInt8 = 58
    static let slash: UInt8 = 47

    /// RFC 9110 tchar table.
    static let tchar: [Bool] = {
        var t = [Bool](repeating: false, count: 256)
        for c in UInt8(ascii: "0")...UInt8(ascii: "9") { t[Int(c)] = true }
        for c in UInt8(ascii: "a")...UInt8(ascii: "z") { t[Int(c)] = true }
        for c in UInt8(ascii: "A")...UInt8(ascii: "Z") { t[Int(c)] = true }
        for c in "!#$%&'*+-.^_`|~".utf8 { t[Int(c)] = true }
        return t
    }()

    @inline(__always) static func lower(_ c: UInt8) -> UInt8 {
        (c >= 65 && c <= 90) ? c | 0x20 : c
    }
}

/// Case-insensitive comparison of bytes at p (len n) with a lowercase ASCII literal.
@inline(__always)
func bytesEqualsLower(_ p: UnsafePointer<UInt8>, _ n: Int, _ lit: StaticString) -> Bool {
    if n != lit.utf8CodeUnitCount { return false }
    let l = lit.utf8Start
    for i in 0..<n where ASCII.lower(p[i]) != l[i] { return false }
    return true
}

@inline(__always)
func bytesEqualsLower(_ p: UnsafePointer<UInt8>, _ n: Int, _ lit: [UInt8]) -> Bool {
    if n != lit.count { return false }
    for i in 0..<n where ASCII.lower(p[i]) != lit[i] { return false }
    return true
}

/// As `bytesEqualsLower`, reading `_` in p as `-` (how CGI-style backends fold header names).
@inline(__always)
func bytesEqualsLowerDashed(_ p: UnsafePointer<UInt8>, _ n: Int, _ lit: StaticString) -> Bool {
    if n != lit.utf8CodeUnitCount { return false }
    let l = lit.utf8Start
    for i in 0..<n {
        let c = p[i] == UInt8(ascii: "_") ? UInt8(ascii: "-") : ASCII.lower(p[i])
        if c != l[i] { return false }
    }
    return true
}

@inline(__always)
func bytesEqualsLowerDashed(_ p: UnsafePointer<UInt8>, _ n: Int, _ lit: [UInt8]) -> Bool {
    if n != lit.count { return false }
    for i in 0..<n {
        let c = p[i] == UInt8(ascii: "_") ? UInt8(ascii: "-") : ASCII.lower(p[i])
        if c != lit[i] { return false }
    }
    return true
}

/// Case-insensitive comparison of bytes at p (len n) with bytes of any case.
@inline(__always)
func bytesEqualIgnoringCase(_ p: UnsafePointer<UInt8>, _ n: Int, _ other: [UInt8]) -> Bool {
    if n != other.count { return false }
    for i in 0..<n where ASCII.lower(p[i]) != ASCII.lower(other[i]) { return false }
    return true
}

/// Case-insensitive comparison of two ASCII byte runs of the same length.
@inline(__always)
func bytesEqualIgnoringCase(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    for i in 0..<n where ASCII.lower(a[i]) != ASCII.lower(b[i]) { return false }
    return true
}

@inline(__always)
func bytesEqual(_ p: UnsafePointer<UInt8>, _ n: Int, _ lit: [UInt8]) -> Bool {
    if n != lit.count { return false }
    return lit.withUnsafeBufferPointer { bp in
        guard let b = bp.baseAddress else { return n == 0 }
        return memcmp(p, b, n) == 0
    }
}

/// FNV-1a over lowercased bytes.
@inline(__always)
func hashLower(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for i in 0..<n {
        h ^= UInt64(ASCII.lower(p[i]))
        h = h &* 0x100_0000_01b3
    }
    return h
}

func hashLower(_ bytes: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for c in bytes {
        h ^= UInt64(ASCII.lower(c))
        h = h &* 0x100_0000_01b3
    }
    return h
}

func lowerBytes(_ s: String) -> [UInt8] { s.utf8.map { ASCII.lower($0) } }

/// Monotonic milliseconds.
@inline(__always)
func monotonicMs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

@inline(__always)
func monotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// xorshift64* PRNG, one per loop, seeded from getrandom.
struct FastRandom {
    var state: UInt64
    init() {
        var g = SystemRandomNumberGenerator()
        let s = g.next()
        state = s == 0 ? 0x9E37_79B9_7F4A_7C15 : s
    }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
}
