// The access plugins of a routed request (KeyAuth.swift, BasicAuth.swift, LimitCount.swift) and the
// parking of a request that waits for a thread (redis for limit-count, PBKDF2 for basic-auth).
extension EventLoop {
    /// key-auth, basic-auth and limit-count. limit-count runs first unless its key is `consumer`
    /// (which needs the authenticated identity), so that a flood of guesses is counted, and
    /// refused past the limit, before any PBKDF2 runs for it.
    /// Returns true to go on; false when the request was answered or parked (it is restarted later).
    func applyAccessPlugins(_ c: ClientConn, _ pl: CompiledPlugins, _ h: RequestHead, _ p: UnsafePointer<UInt8>,
                            queryStart: Int, queryEnd: Int, clientIP: [UInt8], limitDecided: Int?) -> Bool {
        var counted: Int?
        if let lc = pl.limitCount, lc.key != .consumer {
            guard let n = applyLimit(c, lc, consumer: [], clientIP: clientIP, h, p, decided: limitDecided) else { return false }
            counted = n
        }
        var consumer: [UInt8] = []
        if let ka = pl.keyAuth {
            let i = keyAuthConsumer(ka, h, p, queryStart: queryStart, queryEnd: queryEnd)
            if i < 0 {
                rejectHead(c, 401, keepAlive: true)
                return false
            }
            consumer = Array("key#\(i)".utf8)
        }
        if let ba = pl.basicAuth {
            let user = basicAuthUser(c, ba, h, p, limitCount: counted)
            if user < 0 { return false }
            if consumer.isEmpty { consumer = Array("user:".utf8) + ba.users[user].name }
        }
        if let lc = pl.limitCount, lc.key == .consumer {
            return applyLimit(c, lc, consumer: consumer, clientIP: clientIP, h, p, decided: limitDecided) != nil
        }
        return true
    }

    /// Finished PBKDF2 checks: the result goes into the route's loop cache, then the request starts
    /// again and finds it there.
    func resumeVerified(_ replies: [CredentialReply]) {
        for r in replies {
            pendingVerifications -= 1
            _ = r.credential.auth.learn(r.credential.mac, user: r.credential.user, matched: r.matched, loop: index)
            resumeParked(fd: r.fd, serial: r.serial, limitReply: r.limitCount)
        }
    }

    /// Holds the request (head unconsumed) until a thread answers through the inbox. While parked
    /// the connection reads nothing (phase proxying, no upstream, body not done); the deadline only
    /// fires if the thread never answers.
    func parkRequest(_ c: ClientConn, timeoutMs: Int) {
        c.parked = true
        c.phase = .proxying
        c.reqBodyDone = false
        c.deadline = now.addingSaturated(timeoutMs)
        c.deadlineKind = .body
    }

    /// Restarts a parked request: the head is scanned and parsed again (the buffer may have moved);
    /// `limitReply` is limit-count's count for it, if it was counted already.
    func resumeParked(fd: Int32, serial: UInt32, limitReply: Int?) {
        let i = Int(fd)
        guard i >= 0, i < table.count, case .client(let c) = table[i], c.serial == serial, c.parked, !c.closed,
              c.phase == .proxying, c.upstream == nil else { return }
        c.parked = false
        c.phase = .readingHead
        c.reqBodyDone = true
        c.scanner.reset()
        c.plugins.limitCount.decided = limitReply
        processClient(c)
        if !c.closed { refresh(c) }
    }
}
