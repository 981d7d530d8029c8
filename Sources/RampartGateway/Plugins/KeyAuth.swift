import RampartCrypto
import RampartModel

/// key-auth as the gateway receives it: the accepted keys are SHA-256 digests only, so no
/// plaintext key is kept in the data plane (the controller hashes them while building the snapshot).
public struct KeyAuthConfig: Sendable {
    /// Request header that carries the key (matched case-insensitively).
    public var header: String
    /// Query parameter that carries the key (matched exactly).
    public var query: String
    /// SHA-256 of each accepted key.
    public var keyDigests: [[UInt8]]

    public init(header: String = SchemaDefaults.keyAuthHeader, query: String = SchemaDefaults.keyAuthQuery, keyDigests: [[UInt8]]) {
        self.header = header
        self.query = query
        self.keyDigests = keyDigests
    }

    /// Convenience for callers holding plaintext keys (tests): digests them at once.
    public init(header: String = SchemaDefaults.keyAuthHeader, query: String = SchemaDefaults.keyAuthQuery, keys: [[UInt8]]) {
        self.init(header: header, query: query, keyDigests: keys.map { KeyAuthConfig.digest($0) })
    }

    /// The digest stored for a key.
    public static func digest(_ key: [UInt8]) -> [UInt8] { SHA256.hash(key) }
}

/// key-auth compiled for the loops.
final class CompiledKeyAuth: Sendable {
    let headerLower: [UInt8]
    let query: [UInt8]
    let digests: [[UInt8]]

    init(_ c: KeyAuthConfig) throws {
        guard !c.header.isEmpty, c.header.utf8.allSatisfy({ ASCII.tchar[Int($0)] }) else {
            throw GatewayError.invalidConfig("key-auth: invalid header name")
        }
        guard c.keyDigests.allSatisfy({ $0.count == SHA256.byteCount }) else {
            throw GatewayError.invalidConfig("key-auth: keys must be SHA-256 digests")
        }
        headerLower = lowerBytes(c.header)
        query = Array(c.query.utf8)
        digests = c.keyDigests
    }

    /// Index of the key whose digest matches, or -1. Every stored digest is compared, each in
    /// constant time, so the time taken does not tell which key (or how much of one) matched.
    func match(_ key: [UInt8]) -> Int {
        if key.isEmpty { return -1 }
        let d = SHA256.hash(key)
        var found = -1
        for (i, k) in digests.enumerated() where ConstantTime.equals(d, k) && found < 0 { found = i }
        return found
    }
}

extension EventLoop {
    /// The consumer index of the request's key (header first, then query parameter), or -1.
    func keyAuthConsumer(_ ka: CompiledKeyAuth, _ h: RequestHead, _ p: UnsafePointer<UInt8>,
                         queryStart: Int, queryEnd: Int) -> Int {
        for hd in h.headers where bytesEqualsLower(p + Int(hd.nameStart), Int(hd.nameLen), ka.headerLower) {
            let v = Array(UnsafeBufferPointer(start: p + Int(hd.valueStart), count: Int(hd.valueLen)))
            let i = ka.match(v)
            if i >= 0 { return i }
        }
        if !ka.query.isEmpty, queryStart < queryEnd {
            var result = -1
            EventLoop.forEachQueryParam(p, from: queryStart + 1, to: queryEnd) { ns, nl, vs, vl in
                guard result < 0, nl == ka.query.count, bytesEqual(p + ns, nl, ka.query) else { return }
                let v = EventLoop.percentDecode(p + vs, vl)
                result = ka.match(v)
            }
            return result
        }
        return -1
    }

    /// Calls `body(nameStart, nameLen, valueStart, valueLen)` for each `name=value` pair of a query string.
    static func forEachQueryParam(_ p: UnsafePointer<UInt8>, from: Int, to: Int,
                                  _ body: (Int, Int, Int, Int) -> Void) {
        var i = from
        while i < to {
            var j = i
            while j < to && p[j] != UInt8(ascii: "&") { j += 1 }
            var eq = i
            while eq < j && p[eq] != UInt8(ascii: "=") { eq += 1 }
            if j > i {
                if eq < j { body(i, eq - i, eq + 1, j - eq - 1) } else { body(i, j - i, j, 0) }
            }
            i = j + 1
        }
    }

    static func percentDecode(_ p: UnsafePointer<UInt8>, _ n: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(n)
        var i = 0
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 65...70: return c - 55
            case 97...102: return c - 87
            default: return nil
            }
        }
        while i < n {
            let c = p[i]
            if c == UInt8(ascii: "%"), i + 2 < n, let a = hex(p[i + 1]), let b = hex(p[i + 2]) {
                out.append(a << 4 | b)
                i += 3
            } else if c == UInt8(ascii: "+") {
                out.append(ASCII.sp)
                i += 1
            } else {
                out.append(c)
                i += 1
            }
        }
        return out
    }

    /// Appends `?query` (from the byte after '?' to `end`) without the parameters named `strip`.
    func appendQuery(_ o: ByteBuffer, _ p: UnsafePointer<UInt8>, from: Int, to end: Int, strip: [UInt8]) {
        guard from < end else { return }
        var first = true
        EventLoop.forEachQueryParam(p, from: from + 1, to: end) { ns, nl, vs, vl in
            if nl == strip.count && bytesEqual(p + ns, nl, strip) { return }
            o.append(first ? UInt8(ascii: "?") : UInt8(ascii: "&"))
            first = false
            let stop = max(vs + vl, ns + nl)
            o.append(p + ns, stop - ns)
        }
    }
}
