import COpenSSL
import Glibc

// The event loop's TLS steps: handshakes driven by epoll readiness, on both sides.
extension EventLoop {
    /// Events for a downstream TLS connection: OpenSSL may need the opposite readiness to go on.
    func dispatchTLSClient(_ c: ClientConn, _ events: UInt32) {
        if c.tlsState.handshaking {
            if events & (evIn | evOut | evErr) != 0 { clientReadable(c) }
        } else {
            if events & (evIn | evErr) != 0 || (c.tlsState.readWantsWrite && events & evOut != 0) { clientReadable(c) }
            if !c.closed && (events & evOut != 0 || (c.tlsState.writeWantsRead && events & evIn != 0)) { flushClient(c) }
        }
        if !c.closed { refresh(c) }
    }

    /// One read for each client `refresh` queued because OpenSSL holds its next records; a client
    /// that still has some after it is queued again and served after the next (non-blocking) wait,
    /// so one client's burst never holds the loop.
    func readPendingTLS() {
        let queued = tlsPending
        tlsPending.removeAll(keepingCapacity: true)
        for c in queued {
            c.queuedTLSRead = false
            if !c.closed { dispatchTLSClient(c, evIn) }
        }
    }

    /// Drives the server handshake; true once it is done (the connection may read), false while it
    /// waits or after it failed (the connection is then closed: the alert has been sent).
    func clientHandshake(_ c: ClientConn) -> Bool {
        guard let ssl = c.ssl else { return true }
        switch TLSIO.handshake(ssl, &c.tlsState) {
        case 1:
            c.clientCertSubject = TLSIO.verifiedPeerSubject(ssl)
            c.verifiedPolicy = ServerTLSEntry.verifiedPolicy(ssl)
            return true
        case 0:
            return false
        default:
            counters.count(.tlsHandshakeFailures)
            ERR_clear_error()
            closeClient(c)
            return false
        }
    }

    /// Starts (or continues) the client handshake towards an upstream; on success the staged request goes out.
    func upstreamHandshake(_ u: UpstreamConn) {
        guard let ssl = u.ssl else { return }
        guard let c = u.client else { return closeUpstreamFd(u) }
        switch TLSIO.handshake(ssl, &u.tlsState) {
        case 1:
            setExchangeDeadline(c)
            flushUpstream(u)
        case 0:
            return
        default:
            let reason = TLSIO.failureReason(ssl)
            logUpstreamTLS(u, reason)
            let staged = u.outBuf
            u.outBuf = ByteBuffer(capacity: 64)
            c.upstream = nil
            closeUpstreamFd(u)
            connectFailed(c, node: u.node, staged: staged, timeout: false)
        }
    }

    /// One line per upstream per second at most: a broken certificate must not flood the log.
    func logUpstreamTLS(_ u: UpstreamConn, _ reason: String) {
        let key = u.upstream.key
        if let last = tlsLogTimes[key], now - last < 1000 { return }
        tlsLogTimes[key] = now
        gw.log(.warn, "upstream TLS handshake failed; answering 502",
               ["upstream": key, "node": u.node.label, "sni": u.upstream.clientTLS?.config.sni ?? u.node.host, "reason": reason])
    }

    /// An idle pooled TLS connection became readable: fine if that was only TLS housekeeping
    /// (a session ticket), not usable if it was data, an alert or EOF.
    func idleTLSStillUsable(_ u: UpstreamConn) -> Bool {
        guard let ssl = u.ssl else { return false }
        var b: UInt8 = 0
        let n = TLSIO.read(ssl, &b, 1, &u.tlsState)
        return n < 0 && errno == EAGAIN
    }
}
