import RampartModel

/// proxy-rewrite: the path (fixed, or by regex), the Host and request headers sent upstream.
/// Hooks into the upstream head only; no per-exchange state.
final class ProxyRewritePlugin: Sendable {
    let uri: [UInt8]?
    let regex: RewriteRegex?
    let host: [UInt8]?
    let set: [(name: [UInt8], value: [UInt8])]
    let add: [(name: [UInt8], value: [UInt8])]
    /// Client headers not forwarded: the removed and the set ones, lowercase.
    let drop: [[UInt8]]

    init(uri: String?, regexUri: RegexRewrite?, host: String?, set: [HeaderPair], add: [HeaderPair], remove: [String]) throws {
        self.uri = uri.map { Array($0.utf8) }
        if let r = regexUri {
            do throws(RewriteRegex.Invalid) {
                regex = try RewriteRegex(pattern: r.pattern, replacement: r.replacement)
            } catch {
                throw GatewayError.invalidConfig("proxy-rewrite: bad regexUri: \(error)")
            }
        } else {
            regex = nil
        }
        self.host = host.map { Array($0.utf8) }
        self.set = set.map { (Array($0.name.utf8), Array($0.value.utf8)) }
        self.add = add.map { (Array($0.name.utf8), Array($0.value.utf8)) }
        drop = remove.map { lowerBytes($0) } + set.map { lowerBytes($0.name) }
        for (name, value) in self.set + self.add { try validatePluginHeader(name, value) }
        if let h = self.host, !h.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            throw GatewayError.invalidConfig("proxy-rewrite: invalid host")
        }
        if let u = self.uri, !u.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            throw GatewayError.invalidConfig("proxy-rewrite: invalid uri")
        }
    }

    /// The path sent upstream in place of the normalized one (always starting with `/`), or nil to keep it.
    func rewrittenPath(_ path: PathNormalForm.Normalized) -> [UInt8]? {
        var newPath: [UInt8]
        if let uri {
            newPath = uri
        } else if let regex {
            let old = String(decoding: UnsafeBufferPointer(start: path.base, count: path.count), as: UTF8.self)
            newPath = Array((regex.rewrite(old) ?? old).utf8)
        } else {
            return nil
        }
        if newPath.isEmpty || newPath[0] != ASCII.slash { newPath.insert(ASCII.slash, at: 0) }
        return newPath
    }

    /// Whether a client header (name bytes) is left out of the upstream head.
    func drops(_ name: UnsafePointer<UInt8>, _ length: Int) -> Bool {
        for d in drop where bytesEqualsLower(name, length, d) { return true }
        return false
    }

    /// Its header lines, after the gateway's own in the upstream head.
    func writeHeaders(_ o: ByteBuffer) {
        for s in set { o.appendHeaderLine(s.name, s.value) }
        for a in add { o.appendHeaderLine(a.name, a.value) }
    }
}
