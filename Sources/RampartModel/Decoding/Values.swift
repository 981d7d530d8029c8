/// Parsers for the contract's value formats: durations, sizes, CIDRs, names.
public enum Values {
    /// `250ms`, `30s`, `5m`, `1h`, `7d`, or a sum such as `1h30m`; milliseconds.
    public static func durationMs(_ s: String) -> Int? {
        let u = Array(s.utf8)
        guard !u.isEmpty else { return nil }
        var i = 0, total = 0
        while i < u.count {
            var n = 0, digits = 0
            while i < u.count, u[i] >= 48, u[i] <= 57 {
                n = n &* 10 &+ Int(u[i] - 48)
                digits += 1
                i += 1
                if digits > 12 { return nil }
            }
            guard digits > 0, i < u.count else { return nil }
            let unit: Int
            if u[i] == UInt8(ascii: "m"), i + 1 < u.count, u[i + 1] == UInt8(ascii: "s") { unit = 1; i += 2 }
            else if u[i] == UInt8(ascii: "s") { unit = 1000; i += 1 }
            else if u[i] == UInt8(ascii: "m") { unit = 60_000; i += 1 }
            else if u[i] == UInt8(ascii: "h") { unit = 3_600_000; i += 1 }
            else if u[i] == UInt8(ascii: "d") { unit = 86_400_000; i += 1 }
            else { return nil }
            let (m, o1) = n.multipliedReportingOverflow(by: unit)
            let (t, o2) = total.addingReportingOverflow(m)
            if o1 || o2 { return nil }
            total = t
        }
        return total
    }

    /// `512`, `8Ki`, `1Mi`, `2Gi`, `1k`, `1M`; bytes.
    public static func sizeBytes(_ s: String) -> Int? {
        let units: [(String, Int)] = [("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("k", 1000), ("M", 1_000_000), ("G", 1_000_000_000)]
        for (suffix, mult) in units where s.hasSuffix(suffix) {
            guard let n = Int(s.dropLast(suffix.count)), n >= 0 else { return nil }
            let (r, o) = n.multipliedReportingOverflow(by: mult)
            return o ? nil : r
        }
        guard let n = Int(s), n >= 0 else { return nil }
        return n
    }

    /// A DNS-1123 subdomain: lowercase alphanumerics, '-' and '.', starting and ending alphanumeric, ≤ 253.
    public static func isDNS1123Subdomain(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard !u.isEmpty, u.count <= 253 else { return false }
        func alnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
        guard let f = u.first, let l = u.last, alnum(f), alnum(l) else { return false }
        return u.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }

    /// A host name pattern: exact `a.example.com` or one leading wildcard label `*.example.com`.
    public static func isHostPattern(_ s: String) -> Bool {
        var rest = Substring(s)
        if rest.hasPrefix("*.") { rest = rest.dropFirst(2) }
        let labels = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard !rest.isEmpty, rest.count <= 253 else { return false }
        for l in labels {
            guard !l.isEmpty, l.count <= 63, l.first != "-", l.last != "-" else { return false }
            guard l.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "-") }) else { return false }
        }
        return true
    }

    /// A route path: `/exact` or a prefix `/prefix/*` (`/*` matches everything).
    public static func isRoutePath(_ s: String) -> Bool {
        guard s.hasPrefix("/") else { return false }
        let body = s.hasSuffix("/*") ? String(s.dropLast(1)) : s
        if body.contains("*") { return false }
        return body.utf8.allSatisfy { $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") }
    }

    /// Why a route path can never match a request (requests are matched in `PathNormalForm`), or nil.
    public static func routePathNormalFormProblem(_ s: String) -> String? {
        let body = s.hasSuffix("/*") ? String(s.dropLast(1)) : s
        let bytes = Array(body.utf8)
        guard let normal = PathNormalForm.normalize(bytes) else {
            return "holds what requests may not (an encoded '/' or '\\', '#', ';', a control byte or a climb above the root)"
        }
        if normal == bytes { return nil }
        let suggestion = String(decoding: normal, as: UTF8.self) + (s.hasSuffix("/*") ? "*" : "")
        return "is not in normal form and would never match; write \"\(suggestion)\""
    }

    /// An IPv4 or IPv6 CIDR (or a bare address, taken as a /32 or /128).
    public static func cidr(_ s: String) -> CIDR? { CIDR(s) }

    /// An HTTP token (RFC 9110 tchar), as used in header names and methods.
    public static func isToken(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }
}

/// An IP network; parses with inet_pton semantics written out for both families.
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    public var address: [UInt8]   // 4 or 16 bytes
    public var prefix: Int

    public init?(_ s: String) {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2 else { return nil }
        guard let addr = CIDR.parseAddress(String(parts[0])) else { return nil }
        let maxPrefix = addr.count * 8
        var p = maxPrefix
        if parts.count == 2 {
            guard let n = Int(parts[1]), n >= 0, n <= maxPrefix, parts[1].allSatisfy(\.isNumber) else { return nil }
            p = n
        }
        address = addr
        prefix = p
    }

    public var description: String { "\(CIDR.format(address))/\(prefix)" }

    public func contains(_ ip: [UInt8]) -> Bool {
        guard ip.count == address.count else { return false }
        var bits = prefix
        var i = 0
        while bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xFF : ~(0xFF >> UInt8(bits))
            if (ip[i] & mask) != (address[i] & mask) { return false }
            bits -= 8
            i += 1
        }
        return true
    }

    public static func parseAddress(_ s: String) -> [UInt8]? {
        if s.contains(":") { return parseIPv6(s) }
        let octets = s.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var out: [UInt8] = []
        for o in octets {
            guard !o.isEmpty, o.count <= 3, o.allSatisfy({ $0.isASCII && $0.isNumber }), let v = UInt8(o) else { return nil }
            if o.count > 1 && o.first == "0" { return nil }
            out.append(v)
        }
        return out
    }

    static func parseIPv6(_ s: String) -> [UInt8]? {
        let halves = s.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let items = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, g) in items.enumerated() {
                if i == items.count - 1, g.contains("."), let v4 = parseAddress(String(g)) {
                    out.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                    out.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                    continue
                }
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    static func format(_ a: [UInt8]) -> String {
        if a.count == 4 { return a.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(a[$0]) << 8 | UInt16(a[$0 + 1]), radix: 16) }.joined(separator: ":")
    }
}
