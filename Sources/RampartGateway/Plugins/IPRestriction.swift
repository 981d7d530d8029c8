import RampartModel

/// ip-restriction: the client address (as believed: a trusted proxy's X-Forwarded-For) must be in
/// `allow` when it is given, and never in `deny`. Request hook only; no per-exchange state.
final class IPRestrictionPlugin: Sendable {
    let allow: [CIDR]
    let deny: [CIDR]

    /// `adding`: an earlier ip-restriction entry of the same route, whose ranges are kept.
    init(allow: [String], deny: [String], adding earlier: IPRestrictionPlugin? = nil) throws {
        var allowed = earlier?.allow ?? [], denied = earlier?.deny ?? []
        for a in allow {
            guard let c = CIDR(a) else { throw GatewayError.invalidConfig("ip-restriction: bad CIDR \(a)") }
            allowed.append(c)
        }
        for d in deny {
            guard let c = CIDR(d) else { throw GatewayError.invalidConfig("ip-restriction: bad CIDR \(d)") }
            denied.append(c)
        }
        self.allow = allowed
        self.deny = denied
    }

    func admits(_ ip: [UInt8]) -> Bool {
        if deny.containsIP(ip) { return false }
        if !allow.isEmpty && !allow.containsIP(ip) { return false }
        return true
    }
}

extension EventLoop {
    /// ip-restriction's request hook: false when answered 403.
    func ipRestrictionRequest(_ c: ClientConn, _ plugin: IPRestrictionPlugin, _ req: IncomingRequest) -> Bool {
        if plugin.admits(req.forwarded?.realIP ?? c.peerIP) { return true }
        rejectHead(c, 403, keepAlive: true)
        return false
    }
}
