import CLinux
import Glibc

// Upstream side: connecting, retries, reading responses, streaming them back, finishing.
extension EventLoop {
    func connectUpstream(_ c: ClientConn, node: CompiledNode, allowPool: Bool, staged: ByteBuffer?) {
        guard let up = c.route?.upstream else { return localResponse(c, status: 503) }
        if let err = up.tlsError {
            if tlsLogTimes[up.key].map({ now - $0 >= 1000 }) ?? true {
                tlsLogTimes[up.key] = now
                gw.log(.error, "upstream TLS is not configured; answering 502", ["upstream": up.key, "reason": err])
            }
            counters.recordUpstream(nodeSlot: node.metricSlot, code: 502)
            return localResponse(c, status: 502)
        }
        let u: UpstreamConn
        if allowPool, let pooled = takeFromPool(node) {
            u = pooled
            u.reused = true
        } else {
            let r = Net.connect(node.address)
            if r.fd < 0 {
                connectFailed(c, node: node, staged: staged, timeout: false)
                return
            }
            u = UpstreamConn(fd: r.fd, serial: serial(), node: node, upstream: up)
            if let tls = up.clientTLS {
                guard let ssl = tls.newConnection(fd: r.fd, host: node.host) else {
                    close(r.fd)
                    connectFailed(c, node: node, staged: staged, timeout: false)
                    return
                }
                u.ssl = ssl
                u.tlsState.handshaking = true
            }
            u.connecting = !r.done
            setOwner(r.fd, .upstream(u))
            u.interest = u.connecting ? evOut : evIn
            add(r.fd, serial: u.serial, events: u.interest)
        }
        u.client = c
        c.upstream = u
        c.node = node
        let st = up.perLoop[min(index, up.perLoop.count - 1)]
        if node.index < st.active.count {
            st.active[node.index] += 1
            u.countedActive = true
        }
        u.startNs = monotonicNs()
        u.scanner.reset()
        if let staged {
            u.outBuf = staged
        } else {
            u.outBuf.append(c.reqHead.readPointer, c.reqHead.readable)
            if !c.reqBodyDone { forwardRequestBody(c) }
            if c.closed || c.upstream !== u { return }
        }
        let t = c.route?.timeouts ?? Timeouts()
        if u.connecting || u.tlsState.handshaking {
            c.deadline = now.addingSaturated(t.connectMs)
            c.deadlineKind = .connect
            if !u.connecting { upstreamHandshake(u) }
        } else {
            setExchangeDeadline(c)
            flushUpstream(u)
        }
    }

    func setExchangeDeadline(_ c: ClientConn) {
        if c.reqBodyDone {
            c.deadline = now.addingSaturated(c.route?.timeouts.readMs ?? Timeouts().readMs)
            c.deadlineKind = .upstream
        } else {
            c.deadline = now.addingSaturated(gw.config.bodyTimeoutMs)
            c.deadlineKind = .body
        }
    }

    func connectFailed(_ c: ClientConn, node: CompiledNode, staged: ByteBuffer?, timeout: Bool) {
        guard let up = c.route?.upstream else { return localResponse(c, status: 502) }
        if let pc = up.config.healthCheck?.passive, timeout ? pc.onTimeout : pc.onConnectFailure {
            node.health.recordFailure(pc, now: now)
        }
        counters.recordUpstream(nodeSlot: node.metricSlot, code: timeout ? 504 : 502)
        if node.index < 64 { c.excluded |= 1 << UInt64(node.index) }
        if c.attempts < up.config.retries,
           let next = up.pick(loop: index, now: now, exclude: c.excluded, hashKey: c.hashKey, rng: &rng) {
            c.attempts += 1
            connectUpstream(c, node: next, allowPool: true, staged: staged)
            return
        }
        localResponse(c, status: timeout ? 504 : 502)
    }

    func upstreamWritable(_ u: UpstreamConn) {
        if u.connecting {
            let err = Net.socketError(u.fd)
            guard let c = u.client else { return closeUpstreamFd(u) }
            if err != 0 {
                let staged = u.outBuf
                u.outBuf = ByteBuffer(capacity: 64)
                c.upstream = nil
                closeUpstreamFd(u)
                connectFailed(c, node: u.node, staged: staged, timeout: false)
                return
            }
            u.connecting = false
            if u.ssl == nil { setExchangeDeadline(c) }
        }
        if u.tlsState.handshaking { return upstreamHandshake(u) }
        flushUpstream(u)
    }

    func flushUpstream(_ u: UpstreamConn) {
        if u.connecting || u.closed || u.tlsState.handshaking { return }
        let buf = u.outBuf
        let waiting = buf.readable
        while !buf.isEmpty {
            let n: Int
            if let ssl = u.ssl {
                n = TLSIO.write(ssl, buf.readPointer, buf.readable, &u.tlsState)
            } else {
                n = write(u.fd, buf.readPointer, buf.readable)
            }
            if n > 0 {
                buf.consume(n)
            } else {
                let e = errno
                if n < 0 && (e == EAGAIN || e == EINTR) { break }
                upstreamFailed(u)
                return
            }
        }
        if buf.isEmpty {
            buf.clear()
            u.sendDeadline = .max
        } else if buf.readable < waiting || u.sendDeadline == .max {
            // The send timeout counts from the last byte the upstream took.
            u.sendDeadline = now.addingSaturated(u.client?.route?.timeouts.sendMs ?? u.upstream.config.timeout.sendMs)
        }
    }

    func upstreamReadable(_ u: UpstreamConn) {
        guard let c = u.client else {
            // Idle pooled connection: data or EOF means it is no longer usable.
            if u.ssl != nil && idleTLSStillUsable(u) { return }
            closeUpstreamFd(u)
            return
        }
        if u.connecting { return }
        if u.tlsState.handshaking { return upstreamHandshake(u) }
        if u.tlsState.writeWantsRead { flushUpstream(u) }
        if u.closed { return }
        let buf = u.inBuf
        buf.reserve(16 * 1024)
        let n: Int
        if let ssl = u.ssl {
            n = TLSIO.read(ssl, buf.writePointer, buf.writable, &u.tlsState)
        } else {
            n = read(u.fd, buf.writePointer, buf.writable)
        }
        if n > 0 {
            buf.writeIndex += n
            if c.phase == .tunnel {
                c.deadline = now.addingSaturated(gw.config.idleTimeoutMs)
            } else if c.reqBodyDone {
                c.deadline = now.addingSaturated(c.route?.timeouts.readMs ?? Timeouts().readMs)
                c.deadlineKind = .upstream
            }
            processUpstream(u)
        } else if n == 0 {
            upstreamFailed(u)
        } else {
            let e = errno
            if e == EAGAIN || e == EINTR { return }
            upstreamFailed(u)
        }
    }

    /// EOF or error on an upstream connection.
    func upstreamFailed(_ u: UpstreamConn) {
        guard let c = u.client, c.upstream === u else { return closeUpstreamFd(u) }
        if c.phase == .tunnel {
            if !u.inBuf.isEmpty { c.outBuf.transfer(from: u.inBuf, count: u.inBuf.readable) }
            c.upstream = nil
            closeUpstreamFd(u)
            c.phase = .closing
            c.closeAfterWrite = true
            flushClient(c)
            return
        }
        switch c.respPhase {
        case .head:
            c.upstream = nil
            closeUpstreamFd(u)
            if u.reused && u.inBuf.isEmpty && c.reqFraming == .none && !c.respStarted {
                // A pooled connection the upstream had closed: replay once on a fresh one.
                connectUpstream(c, node: u.node, allowPool: false, staged: nil)
                return
            }
            if let up = c.route?.upstream {
                if let pc = up.config.healthCheck?.passive, pc.statuses.contains(502) {
                    u.node.health.recordFailure(pc, now: now)
                }
                counters.recordUpstream(nodeSlot: u.node.metricSlot, code: 502)
            }
            localResponse(c, status: 502)
        case .body:
            if c.respFraming == .untilClose {
                if !u.inBuf.isEmpty { processUpstream(u) }
                c.respPhase = .done
                finishExchange(c)
            } else {
                // Truncated response: the client must see a broken connection, not a short body.
                if !u.inBuf.isEmpty { processUpstream(u) }
                if c.closed || c.respPhase == .done { return }
                c.upstream = nil
                closeUpstreamFd(u)
                if c.route != nil { recordRequest(c, status: c.respStatus) }
                c.phase = .closing
                c.closeAfterWrite = true
                c.keepAlive = false
                flushClient(c)
            }
        case .done:
            c.upstream = nil
            closeUpstreamFd(u)
        }
    }

    func badGateway(_ c: ClientConn, _ u: UpstreamConn) {
        c.upstream = nil
        closeUpstreamFd(u)
        if c.route?.upstream != nil {
            counters.recordUpstream(nodeSlot: u.node.metricSlot, code: 502)
        }
        if c.respStarted { closeClient(c) } else { localResponse(c, status: 502) }
    }

    /// Parses the response head and streams the body into the client's output buffer.
    func processUpstream(_ u: UpstreamConn) {
        guard let c = u.client, c.upstream === u else { return }
        while !u.closed && !c.closed {
            if c.phase == .tunnel {
                if !u.inBuf.isEmpty { c.outBuf.transfer(from: u.inBuf, count: u.inBuf.readable) }
                flushClient(c)
                return
            }
            guard c.phase == .proxying else { return }
            let inb = u.inBuf
            switch c.respPhase {
            case .head:
                if inb.isEmpty { return }
                let r = u.scanner.scan(inb.readPointer, inb.readable, maxHead: 64 * 1024, maxStartLine: 8 * 1024)
                if r == 0 { return }
                if r < 0 { return badGateway(c, u) }
                let pr = HeadParser.parseResponse(inb.base, base: inb.readIndex, len: r, into: &u.head,
                                                  requestWasHead: c.isHeadMethod)
                if pr != .complete { return badGateway(c, u) }
                let status = u.head.status
                if status >= 100 && status < 200 && status != 101 {
                    inb.consume(r)      // interim responses are not relayed (100-continue is answered locally)
                    u.scanner.reset()
                    continue
                }
                if status == 101 {
                    guard c.websocket else { return badGateway(c, u) }
                    startTunnel(c, u, headLength: r)
                    return
                }
                if let up = c.route?.upstream {
                    counters.recordUpstream(nodeSlot: u.node.metricSlot, code: status)
                    if let pc = up.config.healthCheck?.passive {
                        if pc.statuses.contains(status) { u.node.health.recordFailure(pc, now: now) }
                        else { u.node.health.recordSuccess() }
                    }
                }
                writeResponseHead(c, u)
                inb.consume(r)
                if c.respFraming == .none {
                    c.respPhase = .done
                    finishExchange(c)
                    return
                }
                c.respPhase = .body
            case .body:
                if inb.isEmpty || c.outBuf.readable >= EventLoop.highWater {
                    flushClient(c)
                    return
                }
                var done = false
                switch c.respFraming {
                case .length:
                    let k = min(inb.readable, c.respRemaining)
                    c.outBuf.transfer(from: inb, count: k)
                    c.respRemaining -= k
                    done = c.respRemaining == 0
                case .chunked:
                    switch c.respChunk.next(inb.readPointer, inb.readable) {
                    case .error:
                        return badGateway(c, u)
                    case .framing(let k):
                        if c.respDecodeChunks { inb.consume(k) } else { c.outBuf.transfer(from: inb, count: k) }
                    case .data(let k):
                        c.outBuf.transfer(from: inb, count: k)
                    }
                    done = c.respChunk.isDone
                case .untilClose:
                    c.outBuf.transfer(from: inb, count: inb.readable)
                case .none:
                    done = true
                }
                if done {
                    c.respPhase = .done
                    finishExchange(c)
                    return
                }
            case .done:
                return
            }
        }
    }

    func writeResponseHead(_ c: ClientConn, _ u: UpstreamConn) {
        let h = u.head
        let p = UnsafePointer(u.inBuf.base)
        let framing = RelayFraming.decide(h.framing, requestMinor: c.minor, keepAlive: c.keepAlive && !draining && c.reqBodyDone)
        c.respFraming = h.framing
        c.respDecodeChunks = framing.decodeChunks
        switch h.framing {
        case .length(let n): c.respRemaining = n
        case .chunked: c.respChunk.reset()
        case .untilClose, .none: break
        }
        c.keepAlive = framing.keepAlive
        let pl = c.route?.plugins
        let o = c.outBuf
        let writer = ResponseWriter(out: o)
        writer.relayed(h, p, decodeChunks: framing.decodeChunks, drop: pl?.responseHeaders?.drop ?? [])
        pl?.writeResponseHeaders(c.plugins, o)
        writer.end(close: !framing.keepAlive, requestMinor: c.minor)
        c.respStarted = true
        c.respStatus = h.status
    }

    func startTunnel(_ c: ClientConn, _ u: UpstreamConn, headLength: Int) {
        ResponseWriter(out: c.outBuf).switchingProtocols(u.head, UnsafePointer(u.inBuf.base))
        u.inBuf.consume(headLength)
        c.phase = .tunnel
        c.respStarted = true
        c.respStatus = 101
        c.keepAlive = false
        if c.route != nil {
            counters.recordUpstream(nodeSlot: u.node.metricSlot, code: 101)
            recordRequest(c, status: 101)
        }
        c.deadline = now.addingSaturated(gw.config.idleTimeoutMs)
        c.deadlineKind = .tunnel
        if !u.inBuf.isEmpty { c.outBuf.transfer(from: u.inBuf, count: u.inBuf.readable) }
        if !c.inBuf.isEmpty {
            u.outBuf.transfer(from: c.inBuf, count: c.inBuf.readable)
            flushUpstream(u)
        }
        if !c.closed { flushClient(c) }
    }

    /// The response has been fully relayed.
    func finishExchange(_ c: ClientConn) {
        guard let u = c.upstream else { return }
        if !c.reqBodyDone {
            // The upstream answered before the request body ended: the connection cannot continue.
            c.keepAlive = false
        }
        let elapsed = monotonicNs() &- u.startNs
        let up = u.upstream
        if case .ewma = up.config.loadBalancer {
            let st = up.perLoop[min(index, up.perLoop.count - 1)]
            let i = u.node.index
            if i < st.ewmaNs.count {
                st.ewmaNs[i] = st.ewmaNs[i] == 0 ? Double(elapsed) : st.ewmaNs[i] * 0.7 + Double(elapsed) * 0.3
            }
        }
        if c.route != nil { recordRequest(c, status: c.respStatus) }
        let h = u.head
        let upstreamKeep = h.minor == 1 ? !h.connClose : h.connKeepAlive
        c.upstream = nil
        if upstreamKeep && c.reqBodyDone && c.respFraming != .untilClose && u.inBuf.isEmpty && u.outBuf.isEmpty {
            u.reused = false
            returnToPool(u)
        } else {
            closeUpstreamFd(u)
        }
        if c.keepAlive && c.reqBodyDone && !draining {
            resetForNextRequest(c)
            flushClient(c)
            if !c.closed && !c.inBuf.isEmpty { processClient(c) }
        } else {
            c.phase = .closing
            c.closeAfterWrite = true
            c.inBuf.clear()
            flushClient(c)
        }
    }

    func onTimeout(_ c: ClientConn) {
        switch c.phase {
        case .readingHead:
            if c.sawFirstByte || !c.inBuf.isEmpty { localError(c, status: 408) } else { closeClient(c) }
        case .proxying:
            if c.deadlineKind == .body {
                abortRequestBody(c, status: 408)
            } else if let u = c.upstream, u.connecting || u.tlsState.handshaking {
                let staged = u.outBuf
                u.outBuf = ByteBuffer(capacity: 64)
                c.upstream = nil
                closeUpstreamFd(u)
                connectFailed(c, node: u.node, staged: staged, timeout: true)
            } else {
                upstreamTimedOut(c)
            }
        case .tunnel, .closing:
            closeClient(c)
        }
    }

    /// The kernel wakes a writer only once half of a full send buffer is free, so an upstream that
    /// reads slowly but steadily can go a whole send timeout without a writable event. The last
    /// write ended on a full buffer; any room now means the upstream took bytes since then, so one
    /// more write decides between progress (the deadline moves on) and a stalled upstream (504).
    func sendDeadlinePassed(_ c: ClientConn, _ u: UpstreamConn) {
        flushUpstream(u)
        guard c.upstream === u, !u.closed, u.sendDeadline <= now else { return }
        upstreamTimedOut(c)
    }

    /// The upstream did not answer (read timeout) or took no request bytes (send timeout) in time:
    /// 504, and a timeout for the passive health check.
    func upstreamTimedOut(_ c: ClientConn) {
        if let u = c.upstream, let up = c.route?.upstream {
            if let pc = up.config.healthCheck?.passive, pc.onTimeout { u.node.health.recordFailure(pc, now: now) }
            counters.recordUpstream(nodeSlot: u.node.metricSlot, code: 504)
        }
        if c.respStarted { closeClient(c) } else { localResponse(c, status: 504) }
    }
}
