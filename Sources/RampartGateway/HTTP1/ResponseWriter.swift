// The HTTP/1.1 response heads the gateway writes (RFC 9112): for responses it makes itself and for
// upstream responses it relays, into a connection's output buffer.

/// How a relayed response is framed towards the client: kept alive or not, and whether a chunked
/// body is decoded (an HTTP/1.0 client cannot read chunked; the connection then ends the body).
struct RelayFraming: Equatable {
    var keepAlive: Bool
    var decodeChunks: Bool

    static func decide(_ framing: Framing, requestMinor: Int, keepAlive: Bool) -> RelayFraming {
        switch framing {
        case .chunked where requestMinor == 0: return RelayFraming(keepAlive: false, decodeChunks: true)
        case .untilClose: return RelayFraming(keepAlive: false, decodeChunks: false)
        default: return RelayFraming(keepAlive: keepAlive, decodeChunks: false)
        }
    }
}

/// Writes response heads into `out`. The caller adds plugin headers between the head's start
/// (`local`'s `extra`, or `relayed`) and `end`.
struct ResponseWriter {
    let out: ByteBuffer

    static func reason(_ s: Int) -> StaticString {
        switch s {
        case 100: return "Continue"
        case 200: return "OK"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 417: return "Expectation Failed"
        case 421: return "Misdirected Request"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 499: return "Client Closed Request"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Error"
        }
    }

    static func errorBody(_ s: Int) -> StaticString {
        switch s {
        case 400: return "{\"error\":\"bad request\"}"
        case 401: return "{\"error\":\"unauthorized\"}"
        case 403: return "{\"error\":\"forbidden\"}"
        case 404: return "{\"error\":\"no route\"}"
        case 405: return "{\"error\":\"method not allowed\"}"
        case 408: return "{\"error\":\"request timeout\"}"
        case 414: return "{\"error\":\"uri too long\"}"
        case 417: return "{\"error\":\"expectation failed\"}"
        case 421: return "{\"error\":\"misdirected request\"}"
        case 429: return "{\"error\":\"too many requests\"}"
        case 431: return "{\"error\":\"request header fields too large\"}"
        case 502: return "{\"error\":\"bad gateway\"}"
        case 503: return "{\"error\":\"no healthy upstream\"}"
        case 504: return "{\"error\":\"upstream timeout\"}"
        case 505: return "{\"error\":\"http version not supported\"}"
        default: return "{\"error\":\"error\"}"
        }
    }

    /// A whole response the gateway makes: a JSON body (`body`, else `errorBody(status)`, plus a
    /// newline) with its Content-Length; 204 has no body and a HEAD request gets the head only.
    /// `extra` writes header lines of the route's plugins (CORS, RateLimit-*, WWW-Authenticate).
    func local(status: Int, body: [UInt8]?, requestId: [UInt8], close: Bool, requestMinor: Int, headMethod: Bool,
               extra: ((ByteBuffer) -> Void)? = nil) {
        let o = out
        o.append("HTTP/1.1 ")
        o.appendDecimal(status)
        o.append(ASCII.sp)
        o.append(ResponseWriter.reason(status))
        if status == 204 {
            o.append("\r\n")
        } else {
            o.append("\r\nContent-Type: application/json\r\nContent-Length: ")
            o.appendDecimal((body?.count ?? ResponseWriter.errorBody(status).utf8CodeUnitCount) + 1)
            o.append("\r\n")
        }
        if !requestId.isEmpty {
            o.append("X-Request-Id: ")
            o.append(requestId)
            o.append("\r\n")
        }
        extra?(o)
        end(close: close, requestMinor: requestMinor)
        if status != 204 && !headMethod {
            if let body { o.append(body) } else { o.append(ResponseWriter.errorBody(status)) }
            o.append(ASCII.lf)
        }
    }

    /// The status line and headers of a relayed response (`h`, parsed in `p`), without the hop-by-hop
    /// ones (Connection, Keep-Alive, TE, Trailer, Proxy-*, Upgrade), those its Connection header
    /// names, Transfer-Encoding when the body is decoded, and those named in `drop` (lowercase).
    /// The caller then adds its own lines and calls `end`.
    func relayed(_ h: ResponseHead, _ p: UnsafePointer<UInt8>, decodeChunks: Bool, drop: [[UInt8]]) {
        let o = out
        o.append("HTTP/1.1 ")
        o.appendDecimal(h.status)
        o.append(ASCII.sp)
        o.append(p + h.reasonStart, h.reasonLen)
        o.append("\r\n")
        for idx in 0..<h.headers.count {
            let hd = h.headers[idx]
            switch h.kinds[idx] {
            case .connection, .keepAlive, .te, .trailer, .proxyOther, .upgrade:
                continue
            case .transferEncoding:
                if decodeChunks { continue }
            default:
                break
            }
            let np = p + Int(hd.nameStart), nl = Int(hd.nameLen)
            if !h.connTokens.isEmpty {
                var nominated = false
                for (ts, tl) in h.connTokens where Int(tl) == nl && bytesEqualIgnoringCase(np, p + Int(ts), nl) {
                    nominated = true
                    break
                }
                if nominated { continue }
            }
            if !drop.isEmpty {
                var dropped = false
                for name in drop where bytesEqualsLower(np, nl, name) { dropped = true; break }
                if dropped { continue }
            }
            out.appendHeaderLine(p, hd)
        }
    }

    /// The head of a 101 answer to a WebSocket upgrade: the upstream's headers without hop-by-hop
    /// and framing ones, then `Connection: Upgrade` and the end of the head.
    func switchingProtocols(_ h: ResponseHead, _ p: UnsafePointer<UInt8>) {
        out.append("HTTP/1.1 101 Switching Protocols\r\n")
        for idx in 0..<h.headers.count {
            switch h.kinds[idx] {
            case .connection, .keepAlive, .te, .trailer, .proxyOther, .transferEncoding, .contentLength: continue
            default: out.appendHeaderLine(p, h.headers[idx])
            }
        }
        out.append("Connection: Upgrade\r\n\r\n")
    }

    /// The connection header (close, or keep-alive for an HTTP/1.0 client) and the blank line.
    func end(close: Bool, requestMinor: Int) {
        if close { out.append("Connection: close\r\n") } else if requestMinor == 0 { out.append("Connection: keep-alive\r\n") }
        out.append("\r\n")
    }
}

extension ByteBuffer {
    /// One header line copied from parsed bytes (a request's or a response's).
    @inline(__always)
    func appendHeaderLine(_ p: UnsafePointer<UInt8>, _ hd: HeaderRef) {
        append(p + Int(hd.nameStart), Int(hd.nameLen))
        append(ASCII.colon)
        append(ASCII.sp)
        append(p + Int(hd.valueStart), Int(hd.valueLen))
        append(ASCII.cr)
        append(ASCII.lf)
    }

    /// One configured header line.
    func appendHeaderLine(_ name: [UInt8], _ value: [UInt8]) {
        append(name)
        append(": ")
        append(value)
        append("\r\n")
    }
}
