import RampartYAML

/// Checks a node tree against a `Schema` and reports every mismatch with its field path.
struct SchemaChecker {
    var diags: Diagnostics
    /// `Kind/namespace/name` of the resource checked, for the `rampart encrypt --resource` hint.
    var resource: String? = nil
    /// Accept legacy `$enc:v1:` values: only for Rampart's own `state.json`, which re-binds them at start.
    var acceptsLegacyEncrypted = false
    /// Accept `{digest: ...}` markers: only for `state.json` (a value that was not stored, see `Sensitive.Source.digest`).
    var acceptsDigestMarkers = false

    mutating func check(_ node: Node, _ schema: Schema, path: String) {
        switch schema {
        case .object(let fields):
            guard let pairs = node.mapping else { return mismatch(node, path, "a mapping") }
            var seen = Set<String>()
            for p in pairs {
                guard let key = p.key.scalar?.text else {
                    diags.error(path, "keys must be strings", at: p.key.mark)
                    continue
                }
                seen.insert(key)
                let sub = Self.join(path, key)
                guard let f = fields.first(where: { $0.name == key }) else {
                    var msg = "unknown field \"\(key)\""
                    if let s = Suggest.closest(key, among: fields.map(\.name)) { msg += "; did you mean \"\(s)\"?" }
                    diags.error(sub, msg, at: p.key.mark)
                    continue
                }
                if case .scalar = p.value.value, p.value.resolved == .null, !f.required { continue }
                check(p.value, f.schema, path: sub)
            }
            for f in fields where f.required && !seen.contains(f.name) {
                diags.error(Self.join(path, f.name), "required field is missing", at: node.mark)
            }
        case .array(let item, let minItems):
            guard let items = node.sequence else { return mismatch(node, path, "a list") }
            if items.count < minItems { diags.error(path, "needs at least \(minItems) item\(minItems == 1 ? "" : "s")", at: node.mark) }
            for (i, n) in items.enumerated() { check(n, item, path: "\(path)[\(i)]") }
        case .map(let value):
            guard let pairs = node.mapping else { return mismatch(node, path, "a mapping") }
            for p in pairs {
                guard let key = p.key.scalar?.text else { diags.error(path, "keys must be strings", at: p.key.mark); continue }
                check(p.value, value, path: Self.join(path, key))
            }
        case .string(let format):
            guard node.scalar != nil, case .string(let s) = node.resolved else { return mismatch(node, path, "a string") }
            checkFormat(s, format, node, path)
        case .integer(let lo, let hi):
            guard case .int(let v) = node.resolved else { return mismatch(node, path, "an integer") }
            checkRange(Double(v), lo.map(Double.init), hi.map(Double.init), node, path, shown: "\(v)")
        case .number(let lo, let hi):
            let v: Double
            switch node.resolved {
            case .int(let i): v = Double(i)
            case .float(let d) where d.isFinite: v = d
            default: return mismatch(node, path, "a number")
            }
            checkRange(v, lo, hi, node, path, shown: node.scalar?.text ?? "\(v)")
        case .boolean:
            guard case .bool = node.resolved else { return mismatch(node, path, "true or false") }
        case .intOrString:
            guard node.scalar != nil else { return mismatch(node, path, "a number or a string") }
        case .sensitive:
            checkSensitive(node, path)
        case .any:
            break
        }
    }

    private mutating func checkSensitive(_ node: Node, _ path: String) {
        guard let pairs = node.mapping, pairs.count == 1, let key = pairs[0].key.scalar?.text else {
            // Never echo the value: it may be a secret written in the wrong place.
            diags.error(path, "is a sensitive value: expected {secretRef: {name: NAME, key: KEY}}, {value: \"...\"} or {encrypted: \"\(Sensitive.encryptedPrefix)...\"}", at: node.mark)
            return
        }
        let value = pairs[0].value
        switch key {
        case "secretRef":
            check(value, Sensitive.refSchema, path: Self.join(path, key))
        case "value":
            if value.scalar == nil { diags.error(Self.join(path, key), "expected a string", at: value.mark) }
        case "encrypted":
            guard let s = value.scalar?.text, s.hasPrefix(Sensitive.encryptedPrefix) || s.hasPrefix(Sensitive.legacyEncryptedPrefix),
                  s.split(separator: ":", omittingEmptySubsequences: false).count == 4 else {
                diags.error(Self.join(path, key), "expected \"\(Sensitive.encryptedPrefix)KEYID:BASE64\" made by `rampart encrypt`", at: value.mark)
                return
            }
            if s.hasPrefix(Sensitive.legacyEncryptedPrefix) && !acceptsLegacyEncrypted {
                // Fail closed: a v1 value decrypts in any resource's same field, so it may be another resource's secret copied here.
                diags.error(path, "a legacy \(Sensitive.legacyEncryptedPrefix) value is bound to its field but not to its resource, so it is "
                                + "refused (it could be another resource's secret copied here); make it again with "
                                + "`rampart encrypt PATH --resource \(resource ?? "Kind/namespace/name") --field \(path)`", at: value.mark)
            }
        case "digest" where acceptsDigestMarkers:
            guard let s = value.scalar?.text, s.hasPrefix("hmac-sha256:") else {
                diags.error(Self.join(path, key), "expected \"hmac-sha256:HEX\"", at: value.mark)
                return
            }
        default:
            var msg = "unknown field \"\(key)\" in a sensitive value; expected secretRef, value or encrypted"
            if let s = Suggest.closest(key, among: ["secretRef", "value", "encrypted"]) { msg += " (did you mean \"\(s)\"?)" }
            diags.error(Self.join(path, key), msg, at: pairs[0].key.mark)
        }
    }

    private mutating func checkFormat(_ s: String, _ f: StringFormat, _ node: Node, _ path: String) {
        let q = "\"\(s)\""
        switch f {
        case .any: break
        case .oneOf(let allowed):
            if !allowed.contains(s) {
                var msg = "\(q) is not one of \(allowed.joined(separator: ", "))"
                if let c = Suggest.closest(s, among: allowed) { msg += "; did you mean \"\(c)\"?" }
                diags.error(path, msg, at: node.mark)
            }
        case .duration(let range):
            if case .failure(let e) = Values.check(s, .duration, in: range) { diags.error(path, e.description, at: node.mark) }
        case .size(let range):
            if case .failure(let e) = Values.check(s, .size, in: range) { diags.error(path, e.description, at: node.mark) }
        case .cidr:
            if CIDR(s) == nil { diags.error(path, "\(q) is not an IPv4 or IPv6 CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)", at: node.mark) }
        case .host:
            if !Values.isHostPattern(s) || s.hasPrefix("*"), CIDR.parseAddress(s) == nil {
                diags.error(path, "\(q) is not a host name or IP address", at: node.mark)
            }
        case .hostPattern:
            if !Values.isHostPattern(s) { diags.error(path, "\(q) is not a host name (exact, or one leading wildcard label such as *.example.com)", at: node.mark) }
        case .routePath:
            if !Values.isRoutePath(s) {
                diags.error(path, "\(q) is not a route path (\"/exact\" or a prefix ending \"/*\")", at: node.mark)
            } else if let problem = Values.routePathNormalFormProblem(s) {
                diags.error(path, "\(q) \(problem)", at: node.mark)
            }
        case .dns1123:
            if !Values.isDNS1123Subdomain(s) { diags.error(path, "\(q) is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')", at: node.mark) }
        case .token:
            if !Values.isToken(s) { diags.error(path, "\(q) is not an HTTP token", at: node.mark) }
        case .url:
            if !(s.hasPrefix("http://") || s.hasPrefix("https://")) || s.count < 10 { diags.error(path, "\(q) is not an http(s) URL", at: node.mark) }
        case .hashKey:
            if !(s == "remote_addr" || s == "uri" || Self.prefixed(s, "header:") || Self.prefixed(s, "cookie:")) {
                diags.error(path, "\(q) is not one of remote_addr, uri, header:NAME, cookie:NAME", at: node.mark)
            }
        case .limitKey:
            if !(s == "remote_addr" || s == "consumer" || Self.prefixed(s, "header:")) {
                diags.error(path, "\(q) is not one of remote_addr, consumer, header:NAME", at: node.mark)
            }
        case .tlsVersion:
            if s != "TLSv1.2" && s != "TLSv1.3" { diags.error(path, "\(q) is not one of TLSv1.2, TLSv1.3", at: node.mark) }
        }
    }

    private static func prefixed(_ s: String, _ p: String) -> Bool {
        s.hasPrefix(p) && Values.isToken(String(s.dropFirst(p.count)))
    }

    private mutating func checkRange(_ v: Double, _ lo: Double?, _ hi: Double?, _ node: Node, _ path: String, shown: String) {
        if let lo, v < lo || (hi.map { v > $0 } ?? false) {
            if let hi { diags.error(path, "\(shown) is out of range (\(Self.fmt(lo))-\(Self.fmt(hi)))", at: node.mark) }
            else { diags.error(path, "\(shown) must be at least \(Self.fmt(lo))", at: node.mark) }
        } else if let hi, v > hi {
            diags.error(path, "\(shown) must be at most \(Self.fmt(hi))", at: node.mark)
        }
    }

    private static func fmt(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(d) }

    private mutating func mismatch(_ node: Node, _ path: String, _ expected: String) {
        diags.error(path, "expected \(expected), got \(node.kindDescription)", at: node.mark)
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}

/// "Did you mean" suggestions by edit distance.
public enum Suggest {
    /// The candidate nearest to `word`, ignoring case, if within `maxDistance` edits (default: a third of its length, 1 to 3).
    public static func closest(_ word: String, among candidates: [String], maxDistance: Int? = nil) -> String? {
        let w = Array(word.lowercased())
        var best: (String, Int)?
        for c in candidates {
            let d = distance(w, Array(c.lowercased()))
            if d <= maxDistance ?? max(1, min(3, c.count / 3)), d < (best?.1 ?? Int.max) { best = (c, d) }
        }
        return best?.0
    }

    public static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        for i in 1...a.count {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }
}
