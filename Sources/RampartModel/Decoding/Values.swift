/// Parsers for the contract's value formats: durations, sizes, CIDRs, names.
public enum Values {
    /// The most digits one number in a duration, size or count may have: 12 digits cannot overflow
    /// while they are read, and the unit multiplication and the sum after it are overflow-checked,
    /// so no string can trap the parser (more digits parse as `.tooLarge`).
    public static let maxDigits = 12
    /// The most `NUMBER UNIT` parts a duration may have (`1d2h3m4s5ms`).
    public static let maxDurationParts = 5

    /// `250ms`, `30s`, `5m`, `1h`, `7d`, or a sum such as `1h30m`; milliseconds.
    public static func durationMs(_ s: String) -> Int? { parse(s, as: .duration).value }

    /// `512`, `8Ki`, `1Mi`, `2Gi`, `1k`, `1M`, `1G`; bytes.
    public static func sizeBytes(_ s: String) -> Int? { parse(s, as: .size).value }

    /// Parses a duration, size or plain count; digits only (no sign, no spaces), every step overflow-checked.
    public static func parse(_ s: String, as kind: QuantityKind) -> ParsedQuantity {
        let u = Array(s.utf8)
        switch kind {
        case .duration: return parseDuration(u)
        case .size: return parseSize(u)
        case .count:
            guard let (n, end) = number(u, from: 0), end == u.count else { return .malformed }
            return n
        }
    }

    /// Parses `s` and checks it against `range`; the refusal reads as the end of a diagnostic.
    public static func check(_ s: String, _ kind: QuantityKind, in range: ClosedRange<Int>) -> Result<Int, QuantityError> {
        switch parse(s, as: kind) {
        case .malformed: return .failure(QuantityError(text: s, kind: kind, range: range, reason: .malformed))
        case .tooLarge: return .failure(QuantityError(text: s, kind: kind, range: range, reason: .aboveMaximum))
        case .value(let v):
            if v > range.upperBound { return .failure(QuantityError(text: s, kind: kind, range: range, reason: .aboveMaximum)) }
            if v < range.lowerBound { return .failure(QuantityError(text: s, kind: kind, range: range, reason: .belowMinimum)) }
            return .success(v)
        }
    }

    /// The shortest exact spelling: `3600000` ms → `1h`, `1048576` bytes → `1Mi`.
    public static func format(_ v: Int, as kind: QuantityKind) -> String {
        let units: [(String, Int)]
        switch kind {
        case .duration: units = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)]
        case .size: units = [("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)]
        case .count: units = []
        }
        if v == 0 { return kind == .duration ? "0s" : "0" }
        for (suffix, mult) in units where v % mult == 0 { return "\(v / mult)\(suffix)" }
        return kind == .duration ? "\(v)ms" : "\(v)"
    }

    /// `1ms to 1h`: a bound as the README, the CRDs and `--help` show it.
    public static func format(_ range: ClosedRange<Int>, as kind: QuantityKind) -> String {
        "\(format(range.lowerBound, as: kind)) to \(format(range.upperBound, as: kind))"
    }

    /// A run of decimal digits from `start`: its value (or `.tooLarge` past `maxDigits`) and where it ends.
    private static func number(_ u: [UInt8], from start: Int) -> (ParsedQuantity, Int)? {
        var i = start, n = 0
        while i < u.count, u[i] >= 48, u[i] <= 57 {
            if i - start < maxDigits { n = n * 10 + Int(u[i] - 48) }  // ≤ 12 digits: cannot overflow
            i += 1
        }
        guard i > start else { return nil }
        return (i - start > maxDigits ? .tooLarge : .value(n), i)
    }

    private static func parseDuration(_ u: [UInt8]) -> ParsedQuantity {
        var i = 0, total = 0, parts = 0, tooLarge = false
        guard !u.isEmpty else { return .malformed }
        while i < u.count {
            guard let (n, end) = number(u, from: i), end < u.count else { return .malformed }
            i = end
            let unit: Int
            if u[i] == UInt8(ascii: "m"), i + 1 < u.count, u[i + 1] == UInt8(ascii: "s") { unit = 1; i += 2 }
            else if u[i] == UInt8(ascii: "s") { unit = 1000; i += 1 }
            else if u[i] == UInt8(ascii: "m") { unit = 60_000; i += 1 }
            else if u[i] == UInt8(ascii: "h") { unit = 3_600_000; i += 1 }
            else if u[i] == UInt8(ascii: "d") { unit = 86_400_000; i += 1 }
            else { return .malformed }
            parts += 1
            guard parts <= maxDurationParts else { return .malformed }
            // Keep reading after an oversized part: a malformed rest is reported as malformed.
            guard case .value(let v) = n, !tooLarge else { tooLarge = true; continue }
            let (product, o1) = v.multipliedReportingOverflow(by: unit)
            let (sum, o2) = total.addingReportingOverflow(product)
            if o1 || o2 { tooLarge = true } else { total = sum }
        }
        return tooLarge ? .tooLarge : .value(total)
    }

    private static func parseSize(_ u: [UInt8]) -> ParsedQuantity {
        guard let (n, end) = number(u, from: 0) else { return .malformed }
        let suffix = String(decoding: u[end...], as: UTF8.self)
        let units: [String: Int] = ["": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "k": 1000, "M": 1_000_000, "G": 1_000_000_000]
        guard let mult = units[suffix] else { return .malformed }
        guard case .value(let v) = n else { return .tooLarge }
        let (bytes, overflow) = v.multipliedReportingOverflow(by: mult)
        return overflow ? .tooLarge : .value(bytes)
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

/// What a bounded quantity is written as: a duration (milliseconds), a size (bytes) or a plain count.
public enum QuantityKind: Sendable, Hashable {
    case duration, size, count

    var example: String {
        switch self {
        case .duration: return "a duration (e.g. 250ms, 30s, 5m, 1h, 7d)"
        case .size: return "a size (e.g. 512, 8Ki, 1Mi)"
        case .count: return "a whole number"
        }
    }
}

/// A parsed quantity: its value, a well-formed one too large for any bound, or not the format at all.
public enum ParsedQuantity: Sendable, Hashable {
    case value(Int)
    case tooLarge
    case malformed

    public var value: Int? {
        if case .value(let v) = self { return v }
        return nil
    }
}

/// Why a duration, size or count was refused, with the bound it broke.
public struct QuantityError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable { case malformed, aboveMaximum, belowMinimum }
    public var text: String
    public var kind: QuantityKind
    public var range: ClosedRange<Int>
    public var reason: Reason

    /// `"106751991167d25975807ms" exceeds the maximum 1h`
    public var description: String {
        switch reason {
        case .malformed: return "\"\(text)\" is not \(kind.example)"
        case .aboveMaximum: return "\"\(text)\" exceeds the maximum \(Values.format(range.upperBound, as: kind))"
        case .belowMinimum: return "\"\(text)\" is below the minimum \(Values.format(range.lowerBound, as: kind))"
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
