import CLinux
import Glibc

// Downstream side: reading heads, starting exchanges, streaming request bodies, writing.
extension EventLoop {
    func clientReadable(_ c: ClientConn) {
        if c.tlsState.handshaking && !clientHandshake(c) { return }
        let buf = c.inBuf
        let want = c.phase == .readingHead ? 16 * 1024 : 64 * 1024
        buf.reserve(want)   // >= 16 KiB: a whole TLS record's plaintext fits in one read
        let n: Int
        if let ssl = c.ssl {
            n = TLSIO.read(ssl, buf.writePointer, buf.writable, &c.tlsState)
        } else {
            n = read(c.fd, buf.writePointer, buf.writable)
        }
        if n > 0 {
            buf.writeIndex += n
            switch c.phase {
            case .readingHead:
                if !c.sawFirstByte {
                    c.sawFirstByte = true
                    c.deadline = now.addingSaturated(gw.config.headerTimeoutMs)
                    c.deadlineKind = .header
                }
            case .proxying:
                if !c.reqBodyDone {
                    c.deadline = now.addingSaturated(gw.config.bodyTimeoutMs)
                    c.deadlineKind = .body
                }
            case .tunnel:
                c.deadline = now.addingSaturated(gw.config.idleTimeoutMs)
            case .closing:
                buf.clear()
                return
            }
            processClient(c)
        } else if n == 0 {
            clientEOF(c)
        } else {
            let e = errno
            if e == EAGAIN || e == EINTR { return }
            closeClient(c)
        }
    }

    func clientEOF(_ c: ClientConn) {
        switch c.phase {
        case .readingHead, .closing:
            closeClient(c)
        case .proxying:
            // The client went away mid-request (or half-closed): abort the exchange.
            if c.route != nil, c.respStatus == 0 { recordRequest(c, status: 499) }
            closeClient(c)
        case .tunnel:
            if let u = c.upstream {
                flushUpstream(u)
                shutdown(u.fd, Int32(SHUT_WR))
            }
            c.phase = .closing
            c.closeAfterWrite = true
            if c.outBuf.isEmpty { closeClient(c) }
        }
    }

    /// Drives the client state machine over buffered bytes (handles pipelined requests).
    func processClient(_ c: ClientConn) {
        while !c.closed {
            switch c.phase {
            case .readingHead:
                let buf = c.inBuf
                // Ignore CRLFs between requests (RFC 9112 §2.2).
                while buf.readable >= 2 && buf[buf.readIndex] == ASCII.cr && buf[buf.readIndex + 1] == ASCII.lf {
                    buf.consume(2)
                }
                if buf.isEmpty { return }
                if !c.sawFirstByte {
                    c.sawFirstByte = true
                    c.deadline = now.addingSaturated(gw.config.headerTimeoutMs)
                    c.deadlineKind = .header
                }
                if !c.logLine.isEmpty { c.logLine.removeAll(keepingCapacity: true) }
                let r = c.scanner.scan(buf.readPointer, buf.readable, maxHead: maxHead, maxStartLine: gw.config.maxURIBytes)
                if r == 0 { return }
                if r < 0 {
                    localError(c, status: -r)
                    return
                }
                let pr = HeadParser.parseRequest(buf.base, base: buf.readIndex, len: r, into: &c.head)
                if case .error(let status) = pr {
                    localError(c, status: status)
                    return
                }
                startRequest(c)
            case .proxying:
                if !c.reqBodyDone { forwardRequestBody(c) }
                return
            case .tunnel:
                if let u = c.upstream, !c.inBuf.isEmpty {
                    u.outBuf.transfer(from: c.inBuf, count: c.inBuf.readable)
                    flushUpstream(u)
                }
                return
            case .closing:
                return
            }
        }
    }

    /// Writes pending bytes to the client; closes once drained if asked to.
    func flushClient(_ c: ClientConn) {
        let buf = c.outBuf
        while !buf.isEmpty {
            let n: Int
            if let ssl = c.ssl {
                if c.tlsState.handshaking { return }
                n = TLSIO.write(ssl, buf.readPointer, buf.readable, &c.tlsState)
            } else {
                n = write(c.fd, buf.readPointer, buf.readable)
            }
            if n > 0 {
                buf.consume(n)
                c.bytesSent += n
            } else {
                let e = errno
                if n < 0 && (e == EAGAIN || e == EINTR) { break }
                closeClient(c)
                return
            }
        }
        if buf.isEmpty {
            buf.clear()
            if c.closeAfterWrite {
                closeClient(c)
                return
            }
        }
        // Resume an upstream paused for backpressure.
        if let u = c.upstream, !u.inBuf.isEmpty, buf.readable < EventLoop.lowWater {
            processUpstream(u)
        }
    }

    /// Streams request body bytes from the client buffer to the upstream's output buffer.
    func forwardRequestBody(_ c: ClientConn) {
        guard let u = c.upstream else { return }
        let inb = c.inBuf
        while !c.reqBodyDone && !inb.isEmpty && u.outBuf.readable < EventLoop.highWater {
            switch c.reqFraming {
            case .length:
                let k = min(inb.readable, c.reqRemaining)
                u.outBuf.transfer(from: inb, count: k)
                c.reqRemaining -= k
                if c.reqRemaining == 0 { c.reqBodyDone = true }
            case .chunked:
                switch c.reqChunk.next(inb.readPointer, inb.readable) {
                case .error:
                    abortRequestBody(c, status: 400)
                    return
                case .framing(let k), .data(let k):
                    u.outBuf.transfer(from: inb, count: k)
                    if c.reqChunk.isDone { c.reqBodyDone = true }
                }
            case .none, .untilClose:
                c.reqBodyDone = true
            }
        }
        if c.reqBodyDone && c.deadlineKind == .body {
            c.deadline = now.addingSaturated(c.route?.timeouts.readMs ?? Timeouts().readMs)
            c.deadlineKind = .upstream
        }
        if !u.connecting { flushUpstream(u) }
        if c.reqBodyDone && c.respPhase == .done { finishExchange(c) }
    }

    func abortRequestBody(_ c: ClientConn, status: Int) {
        if let u = c.upstream {
            c.upstream = nil
            closeUpstreamFd(u)
        }
        if c.respStarted {
            closeClient(c)
        } else {
            localError(c, status: status)
        }
    }

    // MARK: local responses

    /// A framing/parse error or timeout before an exchange: answer and close.
    func localError(_ c: ClientConn, status: Int) {
        if c.phase == .readingHead && c.logLine.isEmpty {
            c.startNs = monotonicNs()    // no head parsed: the request's time starts now
        }
        if let u = c.upstream {
            c.upstream = nil
            closeUpstreamFd(u)
        }
        writeLocal(c, status: status, close: true)
        recordRequest(c, status: status)
        c.phase = .closing
        c.closeAfterWrite = true
        c.inBuf.clear()
        flushClient(c)
    }

    /// A response the gateway makes itself (404, 403, 503, ...) once a head is parsed.
    /// Keeps the connection when the request had no body and the client allows it.
    /// `body` replaces `errorBody(status)` (a not-served route's reason).
    func localResponse(_ c: ClientConn, status: Int, body: [UInt8]? = nil, extra: ((ByteBuffer) -> Void)? = nil) {
        let keep = c.keepAlive && c.reqFraming == .none && !draining
        if let u = c.upstream {
            c.upstream = nil
            closeUpstreamFd(u)
        }
        writeLocal(c, status: status, close: !keep, body: body, extra: extra)
        recordRequest(c, status: status)
        c.route = nil
        c.snapshot = nil
        if keep {
            resetForNextRequest(c)
        } else {
            c.phase = .closing
            c.closeAfterWrite = true
            c.inBuf.clear()
        }
        flushClient(c)
    }

    func writeLocal(_ c: ClientConn, status: Int, close: Bool, body: [UInt8]? = nil, extra: ((ByteBuffer) -> Void)? = nil) {
        c.respStatus = status
        c.respStarted = true
        ResponseWriter(out: c.outBuf).local(status: status, body: body, requestId: c.requestId, close: close,
                                            requestMinor: c.minor, headMethod: c.isHeadMethod, extra: extra)
    }

    func resetForNextRequest(_ c: ClientConn) {
        c.phase = .readingHead
        c.scanner.reset()
        c.sawFirstByte = false
        c.respPhase = .head
        c.respStarted = false
        c.respStatus = 0
        c.route = nil
        c.snapshot = nil
        c.node = nil
        c.requestId.removeAll(keepingCapacity: true)
        c.bytesSent = 0
        c.deadline = now.addingSaturated(gw.config.idleTimeoutMs)
        c.deadlineKind = .idle
        c.inBuf.shrinkIfIdle(to: 16 * 1024)
        c.outBuf.shrinkIfIdle(to: 16 * 1024)
    }

    // MARK: metrics + access log

    /// Counts the exchange under its route (`_unmatched` before one matched) and logs it.
    func recordRequest(_ c: ClientConn, status: Int) {
        let secs = Double(monotonicNs() &- c.startNs) / 1e9
        counters.recordRequest(routeSlot: c.route?.metricSlot ?? MetricSlots.unmatchedRoute, code: status, seconds: secs)
        if gw.accessLogFd >= 0 { appendAccessLog(c, route: c.route?.config.id ?? "", status: status, seconds: secs) }
    }

    /// Query parameters whose values the access log never holds (credentials by convention), lowercase.
    static let credentialParams: [[UInt8]] = [
        "apikey", "api_key", "api-key", "key", "token", "access_token", "id_token", "refresh_token", "auth",
        "password", "passwd", "pwd", "secret", "client_secret", "signature", "sig", "jwt", "session", "sessionid",
        "x-amz-signature", "x-amz-credential", "x-amz-security-token",
    ].map { Array($0.utf8) }

    /// The access log's "METHOD PATH?QUERY HTTP/1.x": the normalized path (capped at 512 bytes) and the
    /// query with credential values (and the route's key-auth parameter) written as `***`.
    func fillLogLine(_ c: ClientConn, _ p: UnsafePointer<UInt8>, _ h: RequestHead, path: UnsafePointer<UInt8>, pathLen: Int,
                     queryStart: Int, queryEnd: Int, keyParam: [UInt8]?) {
        c.logLine.removeAll(keepingCapacity: true)
        c.logLine.append(contentsOf: UnsafeBufferPointer(start: p + h.methodStart, count: h.methodLen))
        c.logLine.append(ASCII.sp)
        let cap = 512
        c.logLine.append(contentsOf: UnsafeBufferPointer(start: path, count: min(pathLen, cap)))
        var budget = cap - min(pathLen, cap)
        if queryStart < queryEnd && budget > 0 {
            c.logLine.append(UInt8(ascii: "?"))
            var first = true
            QueryString.forEachParam(p, from: queryStart + 1, to: queryEnd) { ns, nl, vs, vl in
                guard budget > 0 else { return }
                if !first { c.logLine.append(UInt8(ascii: "&")) }
                first = false
                let secret = (keyParam.map { bytesEqualIgnoringCase(p + ns, nl, $0) } ?? false)
                    || EventLoop.credentialParams.contains { bytesEqualsLower(p + ns, nl, $0) }
                let nameBytes = min(nl, budget)
                c.logLine.append(contentsOf: UnsafeBufferPointer(start: p + ns, count: nameBytes))
                budget -= nameBytes
                if vs > ns + nl {
                    c.logLine.append(UInt8(ascii: "="))
                    if secret {
                        c.logLine.append(contentsOf: [42, 42, 42])
                    } else {
                        let valueBytes = min(vl, max(0, budget))
                        c.logLine.append(contentsOf: UnsafeBufferPointer(start: p + vs, count: valueBytes))
                        budget -= valueBytes
                    }
                }
            }
        }
        c.logLine.append(contentsOf: h.minor == 1 ? EventLoop.http11Suffix : EventLoop.http10Suffix)
    }

    static let http11Suffix: [UInt8] = Array(" HTTP/1.1".utf8)
    static let http10Suffix: [UInt8] = Array(" HTTP/1.0".utf8)

    /// One JSON line per request: time (Unix seconds), client, route, method, path, status, bytes,
    /// duration, upstream node and request id. Client-supplied bytes are JSON-escaped.
    func appendAccessLog(_ c: ClientConn, route: String, status: Int, seconds: Double) {
        let b = logBuf
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        b.append("{\"time\":")
        b.appendDecimal(ts.tv_sec)
        b.append(".")
        let ms = ts.tv_nsec / 1_000_000
        if ms < 100 { b.append("0") }
        if ms < 10 { b.append("0") }
        b.appendDecimal(ms)
        b.append(",\"client\":\"")
        b.append(c.peerIPText)
        b.append("\",\"route\":")
        Self.appendJSONString(b, Array(route.utf8))
        // logLine is "METHOD TARGET HTTP/1.x" (target capped at 512 bytes).
        let line = c.logLine
        let sp1 = line.firstIndex(of: ASCII.sp) ?? line.count
        let sp2 = line.lastIndex(of: ASCII.sp).map { $0 > sp1 ? $0 : line.count } ?? line.count
        b.append(",\"method\":")
        Self.appendJSONString(b, Array(line[0..<sp1]))
        b.append(",\"path\":")
        Self.appendJSONString(b, sp1 < sp2 ? Array(line[(sp1 + 1)..<sp2]) : [])
        b.append(",\"status\":")
        b.appendDecimal(status)
        b.append(",\"bytes\":")
        b.appendDecimal(c.bytesSent)
        b.append(",\"duration_us\":")
        b.appendDecimal(Int(seconds * 1_000_000))
        b.append(",\"upstream\":")
        if let n = c.node { Self.appendJSONString(b, Array(n.label.utf8)) } else { b.append("null") }
        b.append(",\"request_id\":")
        Self.appendJSONString(b, c.requestId)
        b.append("}")
        b.append(ASCII.lf)
        if b.readable > 64 * 1024 { flushAccessLog() }
    }

    static func appendJSONString(_ b: ByteBuffer, _ bytes: [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        b.append(UInt8(ascii: "\""))
        for ch in bytes {
            switch ch {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                b.append(UInt8(ascii: "\\"))
                b.append(ch)
            case 0..<0x20, 0x7f...0xff:
                // Control bytes and non-ASCII (the codec admits no raw UTF-8 in targets) as \u00XX.
                b.append("\\u00")
                b.append(hex[Int(ch >> 4)])
                b.append(hex[Int(ch & 0x0f)])
            default:
                b.append(ch)
            }
        }
        b.append(UInt8(ascii: "\""))
    }
}
