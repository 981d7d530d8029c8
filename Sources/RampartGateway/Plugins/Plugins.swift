import RampartModel

/// A route's plugin chain, compiled once per snapshot: one optional per plugin (concrete types, no
/// existentials on the request path). Each plugin's file holds its compile step, hooks and
/// per-exchange state; this file registers them (`init`) and calls the hooks in their fixed order.
/// A class with `let`s: the loops read it through the route without copying (or retaining) members.
final class CompiledPlugins: Sendable {
    let ipRestriction: IPRestrictionPlugin?
    let cors: CORSPlugin?
    let keyAuth: CompiledKeyAuth?
    let basicAuth: CompiledBasicAuth?
    let limitCount: CompiledLimitCount?
    let proxyRewrite: ProxyRewritePlugin?
    let responseHeaders: ResponseHeadersPlugin?

    /// Request headers never sent upstream (the credentials), lowercase.
    let stripRequest: [[UInt8]]
    var hasAccessPlugins: Bool { keyAuth != nil || basicAuth != nil || limitCount != nil }

    init(_ plugins: [PluginConfig], routeID: String = "", loops: Int = 1) throws {
        var ipRestriction: IPRestrictionPlugin?, cors: CORSPlugin?, keyAuth: CompiledKeyAuth?, basicAuth: CompiledBasicAuth?
        var limitCount: CompiledLimitCount?, proxyRewrite: ProxyRewritePlugin?, responseHeaders: ResponseHeadersPlugin?
        // The registration: one line per plugin, from its configuration to its compiled form.
        for p in plugins {
            switch p {
            case .ipRestriction(let allow, let deny): ipRestriction = try IPRestrictionPlugin(allow: allow, deny: deny, adding: ipRestriction)
            case .cors(let c): cors = try CORSPlugin(c)
            case .keyAuth(let k): keyAuth = try CompiledKeyAuth(k)
            case .basicAuth(let users): basicAuth = try CompiledBasicAuth(users, loops: loops)
            case .limitCount(let l): limitCount = try CompiledLimitCount(l, routeID: routeID)
            case .proxyRewrite(let uri, let regexUri, let host, let set, let add, let remove):
                proxyRewrite = try ProxyRewritePlugin(uri: uri, regexUri: regexUri, host: host, set: set, add: add, remove: remove)
            case .responseHeaders(let set, let add, let remove): responseHeaders = try ResponseHeadersPlugin(set: set, add: add, remove: remove)
            }
        }
        self.ipRestriction = ipRestriction
        self.cors = cors
        self.keyAuth = keyAuth
        self.basicAuth = basicAuth
        self.limitCount = limitCount
        self.proxyRewrite = proxyRewrite
        self.responseHeaders = responseHeaders
        stripRequest = (keyAuth.map { [$0.headerLower] } ?? []) + (basicAuth != nil ? [Array("authorization".utf8)] : [])
    }

    /// No plugins: what a not-served route carries (it answers before any plugin would run).
    static let none = CompiledPlugins()

    private init() {
        ipRestriction = nil; cors = nil; keyAuth = nil; basicAuth = nil; limitCount = nil
        proxyRewrite = nil; responseHeaders = nil
        stripRequest = []
    }

    func ipAllowed(_ ip: [UInt8]) -> Bool { ipRestriction?.admits(ip) ?? true }

    /// The response hooks, in order, after the relayed headers.
    func writeResponseHeaders(_ state: PluginExchange, _ o: ByteBuffer) {
        responseHeaders?.writeHeaders(o)
        cors?.writeHeaders(state.cors, o, preflight: false)
        limitCount?.writeHeaders(state.limitCount, o, retryAfter: false)
    }
}

/// What the plugins of one exchange keep between their hooks; reset as each exchange begins.
struct PluginExchange {
    var cors = CORSPlugin.Exchange()
    var limitCount = CompiledLimitCount.Exchange()
}

extension EventLoop {
    /// The request hooks in their fixed order; false when one answered or parked the request.
    /// ip-restriction first, then the request id (so its 403 carries none, as it always did), cors
    /// (which answers preflights), then the access plugins (Access.swift).
    @inline(__always)
    func runRequestPlugins(_ c: ClientConn, _ route: CompiledRoute, _ req: IncomingRequest, limitDecided: Int?) -> Bool {
        let pl = route.plugins
        if let ip = pl.ipRestriction, !ipRestrictionRequest(c, ip, req) { return false }
        assignRequestId(c, req)
        if let cors = pl.cors, !corsRequest(c, cors, req) { return false }
        if pl.hasAccessPlugins && !applyAccessPlugins(c, pl, req.head, req.p, queryStart: req.target.queryStart,
                                                      queryEnd: req.target.end,
                                                      clientIP: req.forwarded?.realIPText ?? c.peerIPText,
                                                      limitDecided: limitDecided) {
            return false
        }
        return true
    }
}
