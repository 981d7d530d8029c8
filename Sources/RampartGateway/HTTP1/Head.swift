// HTTP/1.1 message heads (RFC 9112), parsed in place: every field is an offset into the
// connection's read buffer, valid until those bytes are consumed.

package struct HeaderRef {
    package var nameStart: Int32
    package var nameLen: Int32
    package var valueStart: Int32
    package var valueLen: Int32
}

/// Well-known header names, classified once per header while parsing.
package enum HeaderKind: UInt8 {
    case other, contentLength, transferEncoding, host, connection, keepAlive, te, trailer, upgrade,
         proxyOther, expect, xForwardedFor, xForwardedProto, xForwardedHost, xRealIP, xRequestId, via,
         cookie, origin, xClientCertSubject
    /// Client-address and original-URL claims that only a trusted proxy may make
    /// (`Forwarded`, `X-Forwarded-Port`, `True-Client-IP`, `X-Original-URL`, ...).
    case forwardingClaim
    /// An underscore spelling (`X_Forwarded_For`, `Content_Length`) of a header this table knows:
    /// CGI-style backends read it as the dashed one, so it is never forwarded.
    case underscoreAlias

    /// Headers the gateway writes itself, or that carry framing: a `Connection` token naming one is
    /// an attempt to make a hop drop it (request smuggling, spoofed client identity).
    var mayNotBeNominated: Bool {
        switch self {
        case .contentLength, .transferEncoding, .host, .xForwardedFor, .xForwardedProto, .xForwardedHost,
             .xRealIP, .xRequestId, .via, .xClientCertSubject, .forwardingClaim, .underscoreAlias:
            return true
        default:
            return false
        }
    }
}

/// Classifies a header name (any case). A name holding `_` whose dashed spelling is known is an alias.
@inline(__always)
func classifyHeader(_ p: UnsafePointer<UInt8>, _ n: Int) -> HeaderKind {
    let kind = classifyDashedHeader(p, n, underscoreAsDash: false)
    if kind != .other || n > 32 { return kind }
    var hasUnderscore = false
    for i in 0..<n where p[i] == UInt8(ascii: "_") { hasUnderscore = true; break }
    if !hasUnderscore { return kind }
    return classifyDashedHeader(p, n, underscoreAsDash: true) == .other ? .other : .underscoreAlias
}

@inline(__always)
private func classifyDashedHeader(_ p: UnsafePointer<UInt8>, _ n: Int, underscoreAsDash: Bool) -> HeaderKind {
    @inline(__always) func eq(_ lit: StaticString) -> Bool {
        underscoreAsDash ? bytesEqualsLowerDashed(p, n, lit) : bytesEqualsLower(p, n, lit)
    }
    switch n {
    case 2: if eq("te") { return .te }
    case 3: if eq("via") { return .via }
    case 4: if eq("host") { return .host }
    case 6:
        if eq("expect") { return .expect }
        if eq("cookie") { return .cookie }
        if eq("origin") { return .origin }
    case 7:
        if eq("trailer") { return .trailer }
        if eq("upgrade") { return .upgrade }
    case 9:
        if eq("x-real-ip") { return .xRealIP }
        if eq("forwarded") { return .forwardingClaim }
    case 10:
        if eq("connection") { return .connection }
        if eq("keep-alive") { return .keepAlive }
    case 11: if eq("x-client-ip") { return .forwardingClaim }
    case 12: if eq("x-request-id") { return .xRequestId }
    case 13:
        if eq("x-rewrite-url") { return .forwardingClaim }
    case 14:
        if eq("content-length") { return .contentLength }
        if eq("true-client-ip") { return .forwardingClaim }
        if eq("x-original-url") { return .forwardingClaim }
    case 15:
        if eq("x-forwarded-for") { return .xForwardedFor }
        if eq("x-original-host") { return .forwardingClaim }
    case 16:
        if eq("x-forwarded-host") { return .xForwardedHost }
        if eq("x-forwarded-port") { return .forwardingClaim }
        if eq("cf-connecting-ip") { return .forwardingClaim }
        if eq("fastly-client-ip") { return .forwardingClaim }
    case 17:
        if eq("transfer-encoding") { return .transferEncoding }
        if eq("x-forwarded-proto") { return .xForwardedProto }
    case 18:
        if eq("x-forwarded-prefix") { return .forwardingClaim }
        if eq("x-forwarded-server") { return .forwardingClaim }
        if eq("x-forwarded-scheme") { return .forwardingClaim }
    case 19: if eq("x-cluster-client-ip") { return .forwardingClaim }
    case 24: if eq("x-original-forwarded-for") { return .forwardingClaim }
    case 21: if eq("x-client-cert-subject") { return .xClientCertSubject }
    default: break
    }
    if n > 6, underscoreAsDash ? bytesEqualsLowerDashed(p, 6, "proxy-") : bytesEqualsLower(p, 6, "proxy-") {
        return .proxyOther
    }
    return .other
}

package enum HeadParse: Equatable {
    case incomplete
    case complete
    case error(Int)   // HTTP status to answer with: 400, 414, 431, 501, 505
}

/// Incremental scan for the end of a head, validating line endings as it goes so that a
/// bare LF, bare CR or NUL is rejected at once (and a slow client costs O(n) in total).
package struct HeadScanner {
    var scanned = 0          // bytes already checked, relative to head start
    var firstLineEnd = -1    // offset of the CR ending the start line

    package init() {}

    mutating func reset() {
        scanned = 0
        firstLineEnd = -1
    }

    /// Returns the head length (through the final CRLFCRLF), 0 if incomplete, or -status on error.
    package mutating func scan(_ p: UnsafePointer<UInt8>, _ n: Int, maxHead: Int, maxStartLine: Int) -> Int {
        var i = scanned
        while i < n {
            let c = p[i]
            if c == ASCII.lf {
                if i == 0 || p[i - 1] != ASCII.cr { return -400 }
                if firstLineEnd < 0 { firstLineEnd = i - 1 }
                if i >= 3, p[i - 2] == ASCII.lf, p[i - 3] == ASCII.cr {
                    if firstLineEnd > maxStartLine { return -414 }
                    if i + 1 > maxHead { return -431 }
                    return i + 1
                }
            } else if c == ASCII.cr {
                if i + 1 < n, p[i + 1] != ASCII.lf { return -400 }
            } else if c == 0 {
                return -400
            }
            i += 1
        }
        // Keep the last byte unscanned-for-CR purposes: a CR at the end is re-checked next time.
        scanned = (n > 0 && p[n - 1] == ASCII.cr) ? n - 1 : n
        // That CR may end the start line (its LF not read yet): it is not part of the line's length, so
        // a line of exactly maxStartLine bytes is accepted however the reads split it.
        if firstLineEnd < 0 && scanned > maxStartLine { return -414 }
        if n > maxHead { return -431 }
        return 0
    }
}

package enum Framing: Equatable {
    case none
    case length(Int)
    case chunked
    case untilClose
}

package struct RequestHead {
    package var methodStart = 0, methodLen = 0
    package var targetStart = 0, targetLen = 0
    package var minor = 1
    package var headers: [HeaderRef] = []
    package var kinds: [HeaderKind] = []
    package var headLength = 0
    package var framing: Framing = .none
    package var hostIndex = -1
    package var connClose = false, connKeepAlive = false, connUpgrade = false
    package var upgradeWebsocket = false
    package var expectContinue = false
    /// Offsets of tokens listed in Connection (header names to strip).
    package var connTokens: [(Int32, Int32)] = []

    package init() {}

    mutating func reset() {
        headers.removeAll(keepingCapacity: true)
        kinds.removeAll(keepingCapacity: true)
        connTokens.removeAll(keepingCapacity: true)
        framing = .none
        hostIndex = -1
        connClose = false; connKeepAlive = false; connUpgrade = false
        upgradeWebsocket = false
        expectContinue = false
        minor = 1
    }
}

package struct ResponseHead {
    package var status = 0
    package var minor = 1
    package var headers: [HeaderRef] = []
    package var kinds: [HeaderKind] = []
    package var headLength = 0
    package var framing: Framing = .none
    package var connClose = false, connKeepAlive = false
    package var connTokens: [(Int32, Int32)] = []
    package var reasonStart = 0, reasonLen = 0

    package init() {}

    mutating func reset() {
        headers.removeAll(keepingCapacity: true)
        kinds.removeAll(keepingCapacity: true)
        connTokens.removeAll(keepingCapacity: true)
        framing = .none
        connClose = false; connKeepAlive = false
        status = 0
    }
}

let maxHeaderCount = 128

package enum HeadParser {
    /// Parses header lines from `i` (just after the start line's CRLF) to the end of the head.
    /// Returns false on any malformed line.
    @inline(__always)
    static func parseHeaderLines(_ p: UnsafePointer<UInt8>, from start: Int, end: Int, base: Int,
                                 headers: inout [HeaderRef], kinds: inout [HeaderKind]) -> HeadParse {
        var i = start
        while i < end {
            if p[i] == ASCII.cr { // the empty line
                return i + 2 == end ? .complete : .error(400)
            }
            // obs-fold or leading whitespace
            if p[i] == ASCII.sp || p[i] == ASCII.tab { return .error(400) }
            let ns = i
            while i < end && ASCII.tchar[Int(p[i])] { i += 1 }
            let nlen = i - ns
            if nlen == 0 || i >= end || p[i] != ASCII.colon { return .error(400) } // incl. space before colon
            i += 1
            while i < end && (p[i] == ASCII.sp || p[i] == ASCII.tab) { i += 1 }
            let vs = i
            while i < end && p[i] != ASCII.cr {
                let c = p[i]
                if (c < 0x20 && c != ASCII.tab) || c == 0x7F { return .error(400) }
                i += 1
            }
            var ve = i
            while ve > vs && (p[ve - 1] == ASCII.sp || p[ve - 1] == ASCII.tab) { ve -= 1 }
            if i + 1 >= end || p[i + 1] != ASCII.lf { return .error(400) }
            i += 2
            if headers.count >= maxHeaderCount { return .error(431) }
            headers.append(HeaderRef(nameStart: Int32(base + ns), nameLen: Int32(nlen),
                                     valueStart: Int32(base + vs), valueLen: Int32(ve - vs)))
            kinds.append(classifyHeader(p + ns, nlen))
        }
        return .error(400)
    }

    /// Parses a Content-Length value: 1*DIGIT, no sign, no list, bounded.
    static func parseContentLength(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int? {
        if n == 0 || n > 18 { return nil }
        var v = 0
        for i in 0..<n {
            let c = p[i]
            guard c >= 48 && c <= 57 else { return nil }
            v = v * 10 + Int(c - 48)
        }
        return v
    }

    /// Whether the whitespace around a header's value holds a tab. RFC 9110 allows it, but nginx and
    /// some backends do not read a tab-padded framing header alike, so framing headers may not have one.
    static func hasTabPadding(_ p: UnsafePointer<UInt8>, _ hd: HeaderRef) -> Bool {
        var i = Int(hd.valueStart) - 1
        while p[i] == ASCII.sp || p[i] == ASCII.tab {
            if p[i] == ASCII.tab { return true }
            i -= 1
        }
        i = Int(hd.valueStart) + Int(hd.valueLen)
        while p[i] == ASCII.sp || p[i] == ASCII.tab {
            if p[i] == ASCII.tab { return true }
            i += 1
        }
        return false
    }

    @inline(__always)
    static func isToken(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        for k in 0..<n where !ASCII.tchar[Int(p[k])] { return false }
        return n > 0
    }

    /// Calls body(tokenStart, tokenLen) for each comma-separated token (trimmed) of a list value.
    @inline(__always)
    static func forEachToken(_ p: UnsafePointer<UInt8>, _ start: Int, _ len: Int, _ body: (Int, Int) -> Void) {
        var i = start
        let end = start + len
        while i < end {
            while i < end && (p[i] == ASCII.sp || p[i] == ASCII.tab || p[i] == UInt8(ascii: ",")) { i += 1 }
            let ts = i
            while i < end && p[i] != UInt8(ascii: ",") { i += 1 }
            var te = i
            while te > ts && (p[te - 1] == ASCII.sp || p[te - 1] == ASCII.tab) { te -= 1 }
            if te > ts { body(ts, te - ts) }
        }
    }

    /// Parses a complete request head starting at `base` in `p` (length `len` = head length).
    package static func parseRequest(_ buf: UnsafePointer<UInt8>, base: Int, len: Int, into h: inout RequestHead) -> HeadParse {
        h.reset()
        let p = buf + base
        h.headLength = len
        var i = 0
        // method: case-sensitive (RFC 9110 9.1); like nginx, upper-case letters, '-' and '_' only
        while i < len, (p[i] >= 65 && p[i] <= 90) || p[i] == UInt8(ascii: "-") || p[i] == UInt8(ascii: "_") { i += 1 }
        if i == 0 || i >= len || p[i] != ASCII.sp { return .error(400) }
        h.methodStart = base
        h.methodLen = i
        i += 1
        // target
        let ts = i
        while i < len {
            let c = p[i]
            if c <= 0x20 || c == 0x7F { break }
            i += 1
        }
        if i == ts || i >= len || p[i] != ASCII.sp { return .error(400) }
        h.targetStart = base + ts
        h.targetLen = i - ts
        let t0 = p[ts]
        if t0 != ASCII.slash {
            // absolute-form http(s)://..., or "*" (OPTIONS only)
            let isStar = h.targetLen == 1 && t0 == UInt8(ascii: "*") && bytesEqualsLower(p, h.methodLen, "options")
            let isAbs = (h.targetLen > 7 && bytesEqualsLower(p + ts, 7, "http://"))
                || (h.targetLen > 8 && bytesEqualsLower(p + ts, 8, "https://"))
            if !isStar && !isAbs { return .error(400) }
        }
        i += 1
        // version: exactly HTTP/1.0 or HTTP/1.1
        if i + 10 > len { return .error(400) }
        let v = p + i
        guard v[0] == 72, v[1] == 84, v[2] == 84, v[3] == 80, v[4] == ASCII.slash else { return .error(400) }
        guard v[5] >= 48, v[5] <= 57, v[6] == UInt8(ascii: "."), v[7] >= 48, v[7] <= 57 else { return .error(400) }
        if v[5] != 49 { return .error(505) }
        h.minor = v[7] == 48 ? 0 : 1
        if v[8] != ASCII.cr || v[9] != ASCII.lf { return .error(400) }
        i += 10
        let r = parseHeaderLines(p, from: i, end: len, base: base, headers: &h.headers, kinds: &h.kinds)
        if r != .complete { return r }
        return analyzeRequest(buf, &h)
    }

    static func analyzeRequest(_ p: UnsafePointer<UInt8>, _ h: inout RequestHead) -> HeadParse {
        var cl = -1
        var sawTE = false
        var chunked = false
        var sawUpgrade = false
        for idx in 0..<h.headers.count {
            let hd = h.headers[idx]
            let vs = Int(hd.valueStart), vl = Int(hd.valueLen)
            switch h.kinds[idx] {
            case .contentLength:
                if cl >= 0 { return .error(400) }            // repeated
                guard let v = parseContentLength(p + vs, vl), !hasTabPadding(p, hd) else { return .error(400) }
                cl = v
            case .transferEncoding:
                if sawTE { return .error(400) }
                sawTE = true
                var tokens = 0
                var lastChunked = false
                var bad = false
                forEachToken(p, vs, vl) { s, n in
                    tokens += 1
                    if lastChunked { bad = true }             // chunked must be final and only once
                    lastChunked = bytesEqualsLower(p + s, n, "chunked")
                    if !lastChunked {
                        for k in 0..<n where !ASCII.tchar[Int(p[s + k])] { bad = true }
                    }
                }
                if bad || tokens == 0 || !lastChunked { return .error(400) }
                // A coding the gateway does not apply (gzip, identity, ...) in front of chunked would be
                // forwarded unapplied, and a backend reading the first coding frames the body otherwise.
                if tokens > 1 { return .error(501) }
                if hasTabPadding(p, hd) { return .error(400) }
                chunked = true
            case .host:
                if h.hostIndex >= 0 { return .error(400) }
                h.hostIndex = idx
            case .connection:
                var nominatesProtected = false
                forEachToken(p, vs, vl) { s, n in
                    if bytesEqualsLower(p + s, n, "close") { h.connClose = true }
                    else if bytesEqualsLower(p + s, n, "keep-alive") { h.connKeepAlive = true }
                    else if bytesEqualsLower(p + s, n, "upgrade") { h.connUpgrade = true }
                    else if !isToken(p + s, n) || classifyHeader(p + s, n).mayNotBeNominated { nominatesProtected = true }
                    else { h.connTokens.append((Int32(s), Int32(n))) }
                }
                if nominatesProtected { return .error(400) }
            case .upgrade:
                sawUpgrade = true
                forEachToken(p, vs, vl) { s, n in
                    if bytesEqualsLower(p + s, n, "websocket") { h.upgradeWebsocket = true }
                }
            case .expect:
                if bytesEqualsLower(p + vs, vl, "100-continue") { h.expectContinue = true }
                else { return .error(417) }
            default: break
            }
        }
        if sawTE && cl >= 0 { return .error(400) }
        if sawTE && h.minor == 0 { return .error(400) }
        // `Connection: upgrade` with nothing to upgrade to only serves to make a hop drop headers.
        if h.connUpgrade && !sawUpgrade { return .error(400) }
        if h.minor == 1 && h.hostIndex < 0 { return .error(400) }
        if chunked { h.framing = .chunked }
        else if cl > 0 { h.framing = .length(cl) }
        else { h.framing = .none }
        if h.framing == .none { h.expectContinue = false }
        return .complete
    }

    /// Parses a complete response head.
    package static func parseResponse(_ buf: UnsafePointer<UInt8>, base: Int, len: Int, into h: inout ResponseHead,
                              requestWasHead: Bool) -> HeadParse {
        h.reset()
        let p = buf + base
        h.headLength = len
        // "HTTP/1.x SSS[ reason]\r\n"
        guard len >= 14, p[0] == 72, p[1] == 84, p[2] == 84, p[3] == 80, p[4] == ASCII.slash,
              p[5] == 49, p[6] == UInt8(ascii: "."), p[7] >= 48, p[7] <= 57, p[8] == ASCII.sp else { return .error(502) }
        h.minor = p[7] == 48 ? 0 : 1
        var status = 0
        for k in 9..<12 {
            let c = p[k]
            guard c >= 48 && c <= 57 else { return .error(502) }
            status = status * 10 + Int(c - 48)
        }
        guard status >= 100 && status <= 599 else { return .error(502) }
        h.status = status
        var i = 12
        if p[i] == ASCII.sp { i += 1 } else if p[i] != ASCII.cr { return .error(502) }
        h.reasonStart = base + i
        while i < len && p[i] != ASCII.cr {
            let c = p[i]
            if (c < 0x20 && c != ASCII.tab) || c == 0x7F { return .error(502) }
            i += 1
        }
        h.reasonLen = base + i - h.reasonStart
        if i + 1 >= len || p[i + 1] != ASCII.lf { return .error(502) }
        i += 2
        let r = parseHeaderLines(p, from: i, end: len, base: base, headers: &h.headers, kinds: &h.kinds)
        if r != .complete { return .error(502) }
        var cl = -1
        var chunked = false
        var sawTE = false
        for idx in 0..<h.headers.count {
            let hd = h.headers[idx]
            let vs = Int(hd.valueStart), vl = Int(hd.valueLen)
            switch h.kinds[idx] {
            case .contentLength:
                guard let v = parseContentLength(buf + vs, vl) else { return .error(502) }
                if cl >= 0 && cl != v { return .error(502) }
                cl = v
            case .transferEncoding:
                sawTE = true
                var last = false
                forEachToken(buf, vs, vl) { s, n in last = bytesEqualsLower(buf + s, n, "chunked") }
                chunked = last
            case .connection:
                var nominatesFraming = false
                forEachToken(buf, vs, vl) { s, n in
                    if bytesEqualsLower(buf + s, n, "close") { h.connClose = true }
                    else if bytesEqualsLower(buf + s, n, "keep-alive") { h.connKeepAlive = true }
                    else if bytesEqualsLower(buf + s, n, "upgrade") { return }
                    else if !isToken(buf + s, n) { nominatesFraming = true }
                    else {
                        switch classifyHeader(buf + s, n) {
                        case .contentLength, .transferEncoding, .underscoreAlias: nominatesFraming = true
                        default: h.connTokens.append((Int32(s), Int32(n)))
                        }
                    }
                }
                if nominatesFraming { return .error(502) }
            default: break
            }
        }
        if sawTE && cl >= 0 { return .error(502) }
        if requestWasHead || (status >= 100 && status < 200) || status == 204 || status == 304 {
            h.framing = .none
        } else if sawTE {
            h.framing = chunked ? .chunked : .untilClose
        } else if cl >= 0 {
            h.framing = cl == 0 ? .none : .length(cl)
        } else {
            h.framing = .untilClose
        }
        return .complete
    }
}
