import Glibc
import RampartModel

// Starting an exchange: routing, plugins, node choice and the head sent upstream.

/// What the steps of `startRequest` learn about a request, each filling in its part: offsets into
/// the client's read buffer, valid until the head is consumed.
struct IncomingRequest {
    let p: UnsafePointer<UInt8>
    let head: RequestHead
    let target: RequestTarget
    let path: PathNormalForm.Normalized
    /// The Host value (or absolute-form authority) with its port, and the length of the name alone.
    var hostStart = 0, hostLen = 0, hostNameLen = 0
    /// From a trusted proxy's X-Forwarded-For; nil for an untrusted peer.
    var forwarded: EventLoop.ForwardedInfo?
}

extension EventLoop {
    /// Starts the exchange of the parsed head in `c.head`: each step either fills in what the next
    /// one needs or answers (or parks) the request and ends it here.
    func startRequest(_ c: ClientConn) {
        let limitDecided = beginExchange(c)
        let p = UnsafePointer(c.inBuf.base)
        guard var req = readTarget(c, p) else { return }
        guard checkHost(c, &req) else { return }
        guard let route = matchRoute(c, &req) else { return }
        guard runRequestPlugins(c, route, req, limitDecided: limitDecided) else { return }
        guard let node = pickNode(c, route, req) else { return }
        forwardHead(c, route, node: node, req)
    }

    /// Resets the per-exchange state from the head. Returns limit-count's count when this request
    /// was parked after being counted.
    @inline(__always)
    func beginExchange(_ c: ClientConn) -> Int? {
        let h = c.head
        let p = UnsafePointer(c.inBuf.base)
        c.startNs = monotonicNs()
        c.minor = h.minor
        c.isHeadMethod = h.methodLen == 4 && bytesEqual(p + h.methodStart, 4, EventLoop.headMethod)
        c.keepAlive = (h.minor == 1 ? !h.connClose : h.connKeepAlive) && !draining
        c.reqFraming = h.framing
        c.requestId.removeAll(keepingCapacity: true)
        c.route = nil
        c.node = nil
        let limitDecided = c.plugins.limitCount.decided
        c.plugins = PluginExchange()
        return limitDecided
    }

    /// The target's parts and its path in the one normal form, routed and forwarded alike
    /// (PathNormalForm); nil when answered (400).
    @inline(__always)
    func readTarget(_ c: ClientConn, _ p: UnsafePointer<UInt8>) -> IncomingRequest? {
        let h = c.head
        guard let target = RequestTarget.parse(p, start: h.targetStart, length: h.targetLen) else {
            rejectHead(c, 400)
            return nil
        }
        let path: PathNormalForm.Normalized
        if target.form == .asterisk || target.pathLength == 0 {
            path = PathNormalForm.Normalized(base: target.form == .asterisk ? p + h.targetStart : UnsafePointer(slashPtr), count: 1)
        } else if let normal = PathNormalForm.normalize(p + target.pathStart, target.pathLength, scratch: pathScratch,
                                                        capacity: pathScratchCapacity) {
            path = normal
        } else {
            if gw.accessLogFd >= 0 {
                fillLogLine(c, p, h, path: p + target.pathStart, pathLen: target.pathLength, queryStart: target.queryStart,
                            queryEnd: target.end, keyParam: nil)
            }
            rejectHead(c, 400)
            return nil
        }
        if gw.accessLogFd >= 0 {
            fillLogLine(c, p, h, path: path.base, pathLen: path.count, queryStart: target.queryStart, queryEnd: target.end, keyParam: nil)
        }
        return IncomingRequest(p: p, head: h, target: target, path: path)
    }

    /// The host (absolute-form authority, else Host) checked, TRACE refused, and the Host binding of
    /// mTLS names enforced; false when answered (400, 405, 421).
    @inline(__always)
    func checkHost(_ c: ClientConn, _ req: inout IncomingRequest) -> Bool {
        let h = req.head, p = req.p
        if req.target.form == .absolute {
            req.hostStart = req.target.authorityStart
            req.hostLen = req.target.authorityLength
        } else if h.hostIndex >= 0 {
            req.hostStart = Int(h.headers[h.hostIndex].valueStart)
            req.hostLen = Int(h.headers[h.hostIndex].valueLen)
        }
        if !HostName.isValid(p + req.hostStart, req.hostLen) {
            rejectHead(c, 400)
            return false
        }
        req.hostNameLen = HostName.lengthWithoutPort(p + req.hostStart, req.hostLen)
        if h.minor == 1 || req.hostLen > 0, !HostName.isWellFormed(p + req.hostStart, req.hostNameLen) {
            rejectHead(c, 400)
            return false
        }
        // TRACE echoes the request, cookies and credentials included, to whoever can run script (XST).
        if h.methodLen == 5 && bytesEqual(p + h.methodStart, 5, EventLoop.traceMethod) {
            rejectHead(c, 405, keepAlive: true)
            return false
        }
        if !snapshot.hostBinding.admits(c, p + req.hostStart, req.hostNameLen) {
            rejectHead(c, 421, keepAlive: true)
            return false
        }
        return true
    }

    /// The route by host, path, method and header conditions; nil when answered (404, or a
    /// not-served route's 503, which answers before any plugin or upstream work: fail closed).
    @inline(__always)
    func matchRoute(_ c: ClientConn, _ req: inout IncomingRequest) -> CompiledRoute? {
        let snap = snapshot
        let h = req.head, p = req.p
        let ri = snap.router.match(host: p + req.hostStart, hostLen: req.hostNameLen, path: req.path.base, pathLen: req.path.count,
                                   scratch: &scratch) { ri in
            let r = snap.routes[Int(ri)]
            if !r.methods.isEmpty {
                var ok = false
                for m in r.methods where bytesEqual(p + h.methodStart, h.methodLen, m) { ok = true; break }
                if !ok { return false }
            }
            for cond in r.headerConds {
                var ok = false
                for hd in h.headers where bytesEqualsLower(p + Int(hd.nameStart), Int(hd.nameLen), cond.name)
                    && bytesEqual(p + Int(hd.valueStart), Int(hd.valueLen), cond.value) {
                    ok = true
                    break
                }
                if !ok { return false }
            }
            return true
        }
        guard ri >= 0 else {
            rejectHead(c, 404, keepAlive: true)
            return nil
        }
        let route = snap.routes[Int(ri)]
        c.route = route
        c.snapshot = snap
        if let body = route.notServedBody {
            answerNotServed(c, p, h, path: req.path, body: body)
            return nil
        }
        if gw.accessLogFd >= 0, let ka = route.plugins.keyAuth, !ka.query.isEmpty, req.target.hasQuery {
            fillLogLine(c, p, h, path: req.path.base, pathLen: req.path.count, queryStart: req.target.queryStart,
                        queryEnd: req.target.end, keyParam: ka.query)
        }
        // Client address as believed (trusted proxies' X-Forwarded-For).
        if c.peerTrusted { req.forwarded = forwardedInfo(c, p) }
        return route
    }

    /// Request id: passed through when well formed, else generated.
    @inline(__always)
    func assignRequestId(_ c: ClientConn, _ req: IncomingRequest) {
        let h = req.head, p = req.p
        for idx in 0..<h.headers.count where h.kinds[idx] == .xRequestId {
            let hd = h.headers[idx]
            if RequestID.isValid(p + Int(hd.valueStart), Int(hd.valueLen)) {
                c.requestId.append(contentsOf: UnsafeBufferPointer(start: p + Int(hd.valueStart), count: Int(hd.valueLen)))
            }
            break
        }
        if c.requestId.isEmpty { generateRequestId(c) }
    }

    /// The upstream node (balancer, health, hash key); nil when answered (503: none to pick).
    @inline(__always)
    func pickNode(_ c: ClientConn, _ route: CompiledRoute, _ req: IncomingRequest) -> CompiledNode? {
        guard let up = route.upstream else {
            rejectHead(c, 503, keepAlive: true)
            return nil
        }
        let h = req.head
        c.websocket = route.config.websocket && h.upgradeWebsocket && h.connUpgrade
        c.hashKey = chashKey(up, c, h, req.p, path: req.path)
        c.excluded = 0
        c.attempts = 0
        guard let node = up.pick(loop: index, now: now, exclude: 0, hashKey: c.hashKey, rng: &rng) else {
            rejectHead(c, 503, keepAlive: true)
            return nil
        }
        return node
    }

    /// Writes the head sent upstream, answers `Expect: 100-continue`, moves the connection to
    /// proxying and connects (or takes a pooled connection). A bad first chunk is refused before the
    /// upstream sees anything.
    @inline(__always)
    func forwardHead(_ c: ClientConn, _ route: CompiledRoute, node: CompiledNode, _ req: IncomingRequest) {
        let buf = c.inBuf
        let h = req.head
        let bodyStart = buf.readIndex + h.headLength
        if h.framing == .chunked {
            c.reqChunk.reset()
            if !c.reqChunk.validates(buf.base + bodyStart, buf.writeIndex - bodyStart) { return rejectHead(c, 400) }
        }
        buildUpstreamHead(c, req.p, h, route, node: node, forwarded: req.forwarded, absoluteForm: req.target.form == .absolute,
                          path: req.path, queryStart: req.target.queryStart, queryEnd: req.target.end,
                          hostStart: req.hostStart, hostLen: req.hostLen)
        if h.expectContinue && h.minor == 1 && buf.writeIndex == bodyStart {
            c.outBuf.append("HTTP/1.1 100 Continue\r\n\r\n")
        }
        buf.consume(h.headLength)
        c.phase = .proxying
        c.respPhase = .head
        c.respStarted = false
        c.respStatus = 0
        switch h.framing {
        case .length(let n): c.reqRemaining = n; c.reqBodyDone = false
        case .chunked: c.reqBodyDone = false
        default: c.reqBodyDone = true
        }
        connectUpstream(c, node: node, allowPool: true, staged: nil)
        if !c.closed && !c.outBuf.isEmpty { flushClient(c) }
    }

    /// Consumes the head and answers locally.
    func rejectHead(_ c: ClientConn, _ status: Int, keepAlive: Bool = false, body: [UInt8]? = nil, extra: ((ByteBuffer) -> Void)? = nil) {
        c.inBuf.consume(c.head.headLength)
        if keepAlive {
            localResponse(c, status: status, body: body, extra: extra)
        } else {
            localError(c, status: status)
        }
    }

    /// A not-served route's 503 `{"error":"route not served","reason":...}`. Its plugins are gone, so
    /// the name of its key-auth query parameter is unknown: the query, which may carry a client's
    /// key, is left out of the access log.
    func answerNotServed(_ c: ClientConn, _ p: UnsafePointer<UInt8>, _ h: RequestHead, path: PathNormalForm.Normalized, body: [UInt8]) {
        if gw.accessLogFd >= 0 { fillLogLine(c, p, h, path: path.base, pathLen: path.count, queryStart: 0, queryEnd: 0, keyParam: nil) }
        rejectHead(c, 503, keepAlive: true, body: body)
    }

    // MARK: request id, headers, hashing

    /// 32 random hex digits, written on the stack and appended once (one access to `requestId`
    /// rather than 32, each of which the runtime checks).
    func generateRequestId(_ c: ClientConn) {
        let hex: StaticString = "0123456789abcdef"
        let first = rng.next(), second = rng.next()
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { digits in
            digits.initialize(repeating: 0)
            for half in 0..<2 {
                var v = half == 0 ? first : second
                for k in 0..<16 {
                    digits[half * 16 + k] = hex.utf8Start[Int(v & 0xF)]
                    v >>= 4
                }
            }
            c.requestId.append(contentsOf: digits)
        }
    }

    func headerValue(_ h: RequestHead, _ p: UnsafePointer<UInt8>, _ kind: HeaderKind) -> (Int, Int)? {
        for idx in 0..<h.headers.count where h.kinds[idx] == kind {
            return (Int(h.headers[idx].valueStart), Int(h.headers[idx].valueLen))
        }
        return nil
    }

    func findHeader(_ h: RequestHead, _ p: UnsafePointer<UInt8>, _ lowerName: StaticString) -> Bool {
        for hd in h.headers where bytesEqualsLower(p + Int(hd.nameStart), Int(hd.nameLen), lowerName) { return true }
        return false
    }

    func chashKey(_ up: CompiledUpstream, _ c: ClientConn, _ h: RequestHead, _ p: UnsafePointer<UInt8>,
                  path: PathNormalForm.Normalized) -> UInt64 {
        guard case .chash(let on) = up.config.loadBalancer else { return 0 }
        switch on {
        case .remoteAddr:
            return hashLower(c.peerIP)
        case .uri:
            return hashLower(path.base, path.count)
        case .header(let name):
            let ln = lowerBytes(name)
            for hd in h.headers where bytesEqualsLower(p + Int(hd.nameStart), Int(hd.nameLen), ln) {
                return hashLower(p + Int(hd.valueStart), Int(hd.valueLen))
            }
            return 0
        case .cookie(let name):
            let key = Array(name.utf8) + [UInt8(ascii: "=")]
            for idx in 0..<h.headers.count where h.kinds[idx] == .cookie {
                let s = String(decoding: UnsafeBufferPointer(start: p + Int(h.headers[idx].valueStart),
                                                             count: Int(h.headers[idx].valueLen)), as: UTF8.self)
                for part in s.split(separator: ";") {
                    let t = Array(part.trimmingPrefix(" ").utf8)
                    if t.starts(with: key) { return hashLower(Array(t[key.count...])) }
                }
            }
            return 0
        }
    }

    // MARK: forwarded-for

    struct ForwardedInfo {
        var realIP: [UInt8]
        var realIPText: [UInt8]
        var incomingXFF: [UInt8]
    }

    /// For a trusted peer: the client address is the right-most untrusted X-Forwarded-For entry.
    func forwardedInfo(_ c: ClientConn, _ p: UnsafePointer<UInt8>) -> ForwardedInfo {
        var xff: [UInt8] = []
        let h = c.head
        for idx in 0..<h.headers.count where h.kinds[idx] == .xForwardedFor {
            if !xff.isEmpty { xff.append(contentsOf: Array(", ".utf8)) }
            xff.append(contentsOf: UnsafeBufferPointer(start: p + Int(h.headers[idx].valueStart), count: Int(h.headers[idx].valueLen)))
        }
        var info = ForwardedInfo(realIP: c.peerIP, realIPText: c.peerIPText, incomingXFF: xff)
        let entries = String(decoding: xff, as: UTF8.self).split(separator: ",").map { String($0.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed()) }
        for e in entries.reversed() {
            guard let ip = CIDR.parseAddress(e) else { break }
            info.realIP = ip
            info.realIPText = Array(e.utf8)
            if !gw.trusted.containsIP(ip) { break }
        }
        return info
    }

    // MARK: upstream head

    func buildUpstreamHead(_ c: ClientConn, _ p: UnsafePointer<UInt8>, _ h: RequestHead, _ route: CompiledRoute,
                           node: CompiledNode, forwarded: ForwardedInfo?, absoluteForm: Bool,
                           path: PathNormalForm.Normalized, queryStart: Int, queryEnd: Int, hostStart: Int, hostLen: Int) {
        let o = c.reqHead
        o.clear()
        let pl = route.plugins
        o.append(p + h.methodStart, h.methodLen)
        o.append(ASCII.sp)
        let rewrite = pl.proxyRewrite
        if let newPath = rewrite?.rewrittenPath(path) {
            o.append(newPath)
            if !newPath.contains(UInt8(ascii: "?")) { appendTargetQuery(o, p, pl, queryStart, queryEnd) }
        } else {
            o.append(path.base, path.count)
            appendTargetQuery(o, p, pl, queryStart, queryEnd)
        }
        o.append(" HTTP/1.1\r\n")

        let rewriteHost = rewrite?.host
        let overrideHost = rewriteHost != nil || absoluteForm || h.hostIndex < 0
        var sawProto = false, sawFwdHost = false
        let trusted = c.peerTrusted
        for idx in 0..<h.headers.count {
            let hd = h.headers[idx]
            let kind = h.kinds[idx]
            switch kind {
            case .connection, .keepAlive, .te, .trailer, .proxyOther, .expect, .xForwardedFor, .xRealIP, .xRequestId,
                 .xClientCertSubject, .underscoreAlias:
                continue
            case .forwardingClaim:
                if !trusted { continue }
            case .upgrade:
                if !c.websocket { continue }
            case .xForwardedProto:
                if !trusted { continue }
                sawProto = true
            case .xForwardedHost:
                if !trusted { continue }
                sawFwdHost = true
            case .host:
                if overrideHost { continue }
            default:
                break
            }
            if !h.connTokens.isEmpty || rewrite != nil || !pl.stripRequest.isEmpty {
                let np = p + Int(hd.nameStart), nl = Int(hd.nameLen)
                var drop = false
                for (ts, tl) in h.connTokens where Int(tl) == nl && bytesEqualIgnoringCase(np, p + Int(ts), nl) {
                    drop = true
                    break
                }
                if !drop {
                    // Credentials are stripped in their underscore spellings too (CGI folds `_` into `-`).
                    for r in pl.stripRequest where bytesEqualsLowerDashed(np, nl, r) { drop = true; break }
                }
                if !drop, let rewrite, rewrite.drops(np, nl) { drop = true }
                if drop { continue }
            }
            o.appendHeaderLine(p, hd)
        }
        if overrideHost {
            o.append("Host: ")
            if let rh = rewriteHost { o.append(rh) }
            else if hostLen > 0 { o.append(p + hostStart, hostLen) }
            else { o.append(node.label) }
            o.append("\r\n")
        } else if let rh = rewriteHost {
            o.append("Host: ")
            o.append(rh)
            o.append("\r\n")
        }
        o.append("X-Forwarded-For: ")
        if let f = forwarded, !f.incomingXFF.isEmpty {
            o.append(f.incomingXFF)
            o.append(", ")
        }
        o.append(c.peerIPText)
        o.append("\r\nX-Real-IP: ")
        o.append(forwarded?.realIPText ?? c.peerIPText)
        o.append("\r\n")
        if !sawProto { o.append(c.isTLS ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n") }
        if !c.clientCertSubject.isEmpty {
            o.append("X-Client-Cert-Subject: ")
            o.append(c.clientCertSubject)
            o.append("\r\n")
        }
        if !sawFwdHost && hostLen > 0 {
            o.append("X-Forwarded-Host: ")
            o.append(p + hostStart, hostLen)
            o.append("\r\n")
        }
        o.append("Via: 1.1 rampart\r\nX-Request-Id: ")
        o.append(c.requestId)
        o.append("\r\n")
        if c.websocket { o.append("Connection: Upgrade\r\n") }
        rewrite?.writeHeaders(o)
        o.append("\r\n")
    }

    /// The query part of the target; without key-auth's parameter when the route has one.
    func appendTargetQuery(_ o: ByteBuffer, _ p: UnsafePointer<UInt8>, _ pl: CompiledPlugins, _ start: Int, _ end: Int) {
        if let ka = pl.keyAuth, !ka.query.isEmpty {
            QueryString.append(to: o, p, from: start, to: end, strip: ka.query)
        } else {
            o.append(p + start, end - start)
        }
    }
}
