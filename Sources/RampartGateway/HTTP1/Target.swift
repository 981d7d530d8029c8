// Request-target helpers (RFC 9112 §3.2, RFC 9110 §7.2): the target's parts, the Host value's
// checks, query parameters and the request id, on bytes in place.

/// A request-target split into offsets of the head's bytes: origin-form (`/p?q`), absolute-form
/// (`http://authority/p?q`, already checked by `HeadParser`) or asterisk-form (`*`).
struct RequestTarget {
    enum Form { case origin, absolute, asterisk }

    var form: Form
    /// The authority of an absolute-form target (empty otherwise).
    var authorityStart = 0, authorityLength = 0
    var pathStart: Int
    /// Where the query starts (its `?`), or `end` when there is none.
    var queryStart: Int
    var end: Int

    var pathLength: Int { queryStart - pathStart }
    var hasQuery: Bool { queryStart < end }

    /// nil: an absolute-form target without an authority (answered 400).
    static func parse(_ p: UnsafePointer<UInt8>, start: Int, length: Int) -> RequestTarget? {
        let end = start + length
        let asterisk = length == 1 && p[start] == UInt8(ascii: "*")
        var target = RequestTarget(form: asterisk ? .asterisk : .origin, pathStart: start, queryStart: end, end: end)
        if !asterisk && p[start] != ASCII.slash {
            target.form = .absolute
            // "http://" or "https://" (HeadParser admits no other absolute-form).
            var i = start + (p[start + 4] == ASCII.colon ? 7 : 8)
            target.authorityStart = i
            while i < end && p[i] != ASCII.slash && p[i] != UInt8(ascii: "?") { i += 1 }
            target.authorityLength = i - target.authorityStart
            target.pathStart = i
            if target.authorityLength == 0 { return nil }
        }
        var q = target.pathStart
        while q < end && p[q] != UInt8(ascii: "?") { q += 1 }
        target.queryStart = q
        return target
    }
}

/// Checks on a Host header value or an absolute-form authority.
enum HostName {
    /// Only the bytes a host[:port] may hold (letters, digits, `.-_:[]`).
    static func isValid(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        for i in 0..<n {
            let c = p[i]
            let ok = (c >= 48 && c <= 58) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
                || c == UInt8(ascii: ".") || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
                || c == UInt8(ascii: "[") || c == UInt8(ascii: "]")
            if !ok { return false }
        }
        return true
    }

    /// A host name that names something: not empty, no empty label (`..`, a leading `.`).
    static func isWellFormed(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        if n == 0 || p[0] == UInt8(ascii: ".") { return false }
        if p[0] == UInt8(ascii: "[") { return n > 2 && p[n - 1] == UInt8(ascii: "]") }
        for i in 1..<max(1, n) where p[i] == UInt8(ascii: ".") && p[i - 1] == UInt8(ascii: ".") { return false }
        return true
    }

    /// Length of the host part of "host[:port]" / "[v6]:port", trailing dot removed.
    static func lengthWithoutPort(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
        if n == 0 { return 0 }
        var len = n
        if p[0] == UInt8(ascii: "[") {
            var i = 0
            while i < n && p[i] != UInt8(ascii: "]") { i += 1 }
            return min(i + 1, n)
        }
        var i = n - 1
        while i > 0 && p[i] >= 48 && p[i] <= 57 { i -= 1 }
        if p[i] == ASCII.colon { len = i }
        if len > 0 && p[len - 1] == UInt8(ascii: ".") { len -= 1 }
        return len
    }
}

/// `X-Request-Id` values passed through: 1 to 128 bytes of letters, digits and `-_.:`.
enum RequestID {
    static func isValid(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        if n == 0 || n > 128 { return false }
        for i in 0..<n {
            let c = p[i]
            let ok = (c >= 48 && c <= 58) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
                || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
            if !ok { return false }
        }
        return true
    }
}

/// `name=value` pairs of a query string, in place.
enum QueryString {
    /// Calls `body(nameStart, nameLen, valueStart, valueLen)` for each `name=value` pair between
    /// `from` (the byte after `?`) and `to`.
    static func forEachParam(_ p: UnsafePointer<UInt8>, from: Int, to: Int, _ body: (Int, Int, Int, Int) -> Void) {
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

    /// `%XX` and `+` decoded (a malformed escape is kept as it is).
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

    /// Appends `?query` (from the `?` at `from` to `end`) without the parameters named `strip`.
    static func append(to o: ByteBuffer, _ p: UnsafePointer<UInt8>, from: Int, to end: Int, strip: [UInt8]) {
        guard from < end else { return }
        var first = true
        forEachParam(p, from: from + 1, to: end) { ns, nl, vs, vl in
            if nl == strip.count && bytesEqual(p + ns, nl, strip) { return }
            o.append(first ? UInt8(ascii: "?") : UInt8(ascii: "&"))
            first = false
            let stop = max(vs + vl, ns + nl)
            o.append(p + ns, stop - ns)
        }
    }
}
