import RampartModel

/// A route's plugin chain, compiled once per snapshot. A class with `let`s: the loops read it
/// through the route without copying (or retaining) each member.
final class CompiledPlugins: Sendable {
    let ipAllow: [CIDR]
    let ipDeny: [CIDR]
    let hasIPRestriction: Bool

    let respSet: [(name: [UInt8], value: [UInt8])]
    let respSetLower: [[UInt8]]
    let respAdd: [(name: [UInt8], value: [UInt8])]
    let respRemove: [[UInt8]]   // lowercase names
    /// Upstream response headers not relayed: the removed and the set ones (set anew), lowercase.
    let respDrop: [[UInt8]]
    let hasResponseHeaders: Bool

    let rewriteURI: [UInt8]?
    let rewriteRegex: RewriteRegex?
    let rewriteHost: [UInt8]?
    let reqSet: [(name: [UInt8], value: [UInt8])]
    let reqSetLower: [[UInt8]]
    let reqAdd: [(name: [UInt8], value: [UInt8])]
    let reqRemove: [[UInt8]]
    let hasRewrite: Bool

    let cors: CORSConfig?

    // Access plugins (KeyAuth.swift, BasicAuth.swift, LimitCount.swift).
    let keyAuth: CompiledKeyAuth?
    let basicAuth: CompiledBasicAuth?
    let limitCount: CompiledLimitCount?
    /// Request headers never sent upstream (the credentials), lowercase.
    let stripRequest: [[UInt8]]
    var hasAccessPlugins: Bool { keyAuth != nil || basicAuth != nil || limitCount != nil }

    init(_ plugins: [PluginConfig], routeID: String = "", loops: Int = 1) throws {
        var ipAllow: [CIDR] = [], ipDeny: [CIDR] = [], hasIPRestriction = false
        var respSet: [(name: [UInt8], value: [UInt8])] = [], respSetLower: [[UInt8]] = []
        var respAdd: [(name: [UInt8], value: [UInt8])] = [], respRemove: [[UInt8]] = [], hasResponseHeaders = false
        var rewriteURI: [UInt8]?, rewriteRegex: RewriteRegex?, rewriteHost: [UInt8]?
        var reqSet: [(name: [UInt8], value: [UInt8])] = [], reqSetLower: [[UInt8]] = []
        var reqAdd: [(name: [UInt8], value: [UInt8])] = [], reqRemove: [[UInt8]] = [], hasRewrite = false
        var cors: CORSConfig?
        var keyAuth: CompiledKeyAuth?, basicAuth: CompiledBasicAuth?, limitCount: CompiledLimitCount?
        var stripRequest: [[UInt8]] = []
        for p in plugins {
            switch p {
            case .ipRestriction(let allow, let deny):
                hasIPRestriction = true
                for a in allow {
                    guard let c = CIDR(a) else { throw GatewayError.invalidConfig("ip-restriction: bad CIDR \(a)") }
                    ipAllow.append(c)
                }
                for d in deny {
                    guard let c = CIDR(d) else { throw GatewayError.invalidConfig("ip-restriction: bad CIDR \(d)") }
                    ipDeny.append(c)
                }
            case .responseHeaders(let set, let add, let remove):
                hasResponseHeaders = true
                respSet = set.map { (Array($0.name.utf8), Array($0.value.utf8)) }
                respSetLower = set.map { lowerBytes($0.name) }
                respAdd = add.map { (Array($0.name.utf8), Array($0.value.utf8)) }
                respRemove = remove.map { lowerBytes($0) }
            case .proxyRewrite(let uri, let regexUri, let host, let setH, let addH, let removeH):
                hasRewrite = true
                rewriteURI = uri.map { Array($0.utf8) }
                if let r = regexUri {
                    do throws(RewriteRegex.Invalid) {
                        rewriteRegex = try RewriteRegex(pattern: r.pattern, replacement: r.replacement)
                    } catch {
                        throw GatewayError.invalidConfig("proxy-rewrite: bad regexUri: \(error)")
                    }
                }
                rewriteHost = host.map { Array($0.utf8) }
                reqSet = setH.map { (Array($0.name.utf8), Array($0.value.utf8)) }
                reqSetLower = setH.map { lowerBytes($0.name) }
                reqAdd = addH.map { (Array($0.name.utf8), Array($0.value.utf8)) }
                reqRemove = removeH.map { lowerBytes($0) }
            case .cors(let c):
                if c.allowCredentials && (c.allowOrigins.isEmpty || c.allowOrigins.contains("*")) {
                    throw GatewayError.invalidConfig("cors: allowCredentials needs the allowed origins listed, not \"*\"")
                }
                cors = c
            case .keyAuth(let k):
                let ka = try CompiledKeyAuth(k)
                keyAuth = ka
                stripRequest.append(ka.headerLower)
            case .basicAuth(let users):
                basicAuth = try CompiledBasicAuth(users, loops: loops)
                stripRequest.append(Array("authorization".utf8))
            case .limitCount(let l):
                limitCount = try CompiledLimitCount(l, routeID: routeID)
            }
        }
        for (name, value) in respSet + respAdd + reqSet + reqAdd {
            try CompiledPlugins.validateHeader(name, value)
        }
        if let h = rewriteHost, !h.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            throw GatewayError.invalidConfig("proxy-rewrite: invalid host")
        }
        if let u = rewriteURI, !u.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            throw GatewayError.invalidConfig("proxy-rewrite: invalid uri")
        }
        self.ipAllow = ipAllow; self.ipDeny = ipDeny; self.hasIPRestriction = hasIPRestriction
        self.respSet = respSet; self.respSetLower = respSetLower; self.respAdd = respAdd
        self.respRemove = respRemove; respDrop = respRemove + respSetLower; self.hasResponseHeaders = hasResponseHeaders
        self.rewriteURI = rewriteURI; self.rewriteRegex = rewriteRegex; self.rewriteHost = rewriteHost
        self.reqSet = reqSet; self.reqSetLower = reqSetLower; self.reqAdd = reqAdd; self.reqRemove = reqRemove
        self.hasRewrite = hasRewrite
        self.cors = cors
        self.keyAuth = keyAuth; self.basicAuth = basicAuth; self.limitCount = limitCount
        self.stripRequest = stripRequest
    }

    /// No plugins: what a not-served route carries (it answers before any plugin would run).
    static let none = CompiledPlugins()

    private init() {
        ipAllow = []; ipDeny = []; hasIPRestriction = false
        respSet = []; respSetLower = []; respAdd = []; respRemove = []; respDrop = []; hasResponseHeaders = false
        rewriteURI = nil; rewriteRegex = nil; rewriteHost = nil
        reqSet = []; reqSetLower = []; reqAdd = []; reqRemove = []; hasRewrite = false
        cors = nil
        keyAuth = nil; basicAuth = nil; limitCount = nil
        stripRequest = []
    }

    private static func validateHeader(_ name: [UInt8], _ value: [UInt8]) throws {
        guard !name.isEmpty, name.allSatisfy({ ASCII.tchar[Int($0)] }),
              value.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == ASCII.tab }) else {
            throw GatewayError.invalidConfig("invalid header \(String(decoding: name, as: UTF8.self))")
        }
    }

    func ipAllowed(_ ip: [UInt8]) -> Bool {
        if ipDeny.containsIP(ip) { return false }
        if !ipAllow.isEmpty && !ipAllow.containsIP(ip) { return false }
        return true
    }
}
