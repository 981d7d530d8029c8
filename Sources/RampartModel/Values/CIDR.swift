/// An IPv4 or IPv6 network: the one parser and matcher that validation and the gateway (ip-restriction,
/// trusted proxies, X-Forwarded-For entries) share, so what validates is exactly what is enforced.
///
/// Parsing follows inet_pton: IPv4 is four decimal octets without leading zeros (`010.0.0.1` is
/// refused: other parsers read it as octal), IPv6 is hex groups with at most one `::` and an optional
/// dotted IPv4 tail; zone ids (`fe80::1%eth0`), spaces and signs are refused. An IPv4-mapped network
/// (`::ffff:10.0.0.0/104`) is kept as the IPv4 network it names (`10.0.0.0/8`), and an IPv4-mapped
/// client address matches IPv4 networks, so the two spellings of one client cannot be told apart.
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    public private(set) var address: [UInt8]   // 4 or 16 bytes
    public private(set) var prefix: Int

    /// A network `ADDRESS/PREFIX`, or a bare address taken as a /32 or /128.
    public init?(_ s: String) {
        let text = Array(s.utf8)
        let slash = text.firstIndex(of: UInt8(ascii: "/"))
        guard var addr = CIDR.parseAddress(text[..<(slash ?? text.endIndex)]) else { return nil }
        var bits = addr.count * 8
        if let slash {
            guard let n = CIDR.decimal(text[(slash + 1)...], maxDigits: 3), n <= bits else { return nil }
            bits = n
        }
        if addr.count == 16, bits >= 96, CIDR.isIPv4Mapped(addr) {
            addr = Array(addr[12..<16])
            bits -= 96
        }
        address = addr
        prefix = bits
    }

    public var description: String { "\(CIDR.format(address))/\(prefix)" }

    /// Whether `ip` (4 or 16 bytes, as a socket gives it) is in the network.
    @inline(__always)
    public func contains(_ ip: [UInt8]) -> Bool {
        ip.withUnsafeBufferPointer { contains($0) }
    }

    /// The request path's form: no allocation, an IPv4-mapped IPv6 address is compared as IPv4.
    public func contains(_ ip: UnsafeBufferPointer<UInt8>) -> Bool {
        var start = 0
        if ip.count == 16, address.count == 4, CIDR.isIPv4Mapped(ip) { start = 12 }
        guard ip.count - start == address.count else { return false }
        var bits = prefix
        var i = 0
        while bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xFF : ~(0xFF >> UInt8(bits))
            if (ip[start + i] & mask) != (address[i] & mask) { return false }
            bits -= 8
            i += 1
        }
        return true
    }

    /// An IPv4 (4 bytes) or IPv6 (16 bytes) address, or nil.
    public static func parseAddress(_ s: String) -> [UInt8]? {
        let text = Array(s.utf8)
        return parseAddress(text[...])
    }

    static func parseAddress(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        text.contains(UInt8(ascii: ":")) ? parseIPv6(text) : parseIPv4(text)
    }

    static func parseIPv4(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        let octets = text.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var out: [UInt8] = []
        for octet in octets {
            guard let v = decimal(octet, maxDigits: 3), v <= 255 else { return nil }
            out.append(UInt8(v))
        }
        return out
    }

    static func parseIPv6(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        var groups: [UInt16] = []
        var gap: Int?   // where "::" stands, as a group index
        var i = text.startIndex
        let end = text.endIndex
        let colon = UInt8(ascii: ":")
        if i < end, text[i] == colon {
            guard i + 1 < end, text[i + 1] == colon else { return nil }
            gap = 0
            i += 2
        }
        while i < end {
            var j = i
            while j < end, text[j] != colon { j += 1 }
            let part = text[i..<j]
            if part.contains(UInt8(ascii: ".")) {
                // A dotted IPv4 tail fills the last two groups.
                guard j == end, groups.count <= 6, let v4 = parseIPv4(part) else { return nil }
                groups.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                groups.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                break
            }
            guard let value = hexGroup(part), groups.count < 8 else { return nil }
            groups.append(value)
            if j == end { break }
            if j + 1 < end, text[j + 1] == colon {
                guard gap == nil else { return nil }
                gap = groups.count
                i = j + 2
            } else {
                guard j + 1 < end else { return nil }   // a lone trailing ':'
                i = j + 1
            }
        }
        if let gap {
            // "::" stands for at least one zero group (inet_pton refuses it among eight).
            guard groups.count < 8 else { return nil }
            groups.insert(contentsOf: [UInt16](repeating: 0, count: 8 - groups.count), at: gap)
        }
        guard groups.count == 8 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(16)
        for g in groups { out.append(UInt8(g >> 8)); out.append(UInt8(g & 0xFF)) }
        return out
    }

    /// `::ffff:a.b.c.d`.
    static func isIPv4Mapped<C: RandomAccessCollection>(_ ip: C) -> Bool where C.Element == UInt8, C.Index == Int {
        guard ip.count == 16 else { return false }
        let base = ip.startIndex
        for k in 0..<10 where ip[base + k] != 0 { return false }
        return ip[base + 10] == 0xFF && ip[base + 11] == 0xFF
    }

    /// 1...maxDigits ASCII digits, no leading zero unless the number is 0.
    private static func decimal(_ digits: ArraySlice<UInt8>, maxDigits: Int) -> Int? {
        guard !digits.isEmpty, digits.count <= maxDigits else { return nil }
        if digits.count > 1, digits.first == UInt8(ascii: "0") { return nil }
        var n = 0
        for c in digits {
            guard c >= 48, c <= 57 else { return nil }
            n = n * 10 + Int(c - 48)
        }
        return n
    }

    /// 1–4 hex digits.
    private static func hexGroup(_ digits: ArraySlice<UInt8>) -> UInt16? {
        guard !digits.isEmpty, digits.count <= 4 else { return nil }
        var n: UInt16 = 0
        for c in digits {
            let v: UInt8
            switch c {
            case 48...57: v = c - 48
            case 65...70: v = c - 55
            case 97...102: v = c - 87
            default: return nil
            }
            n = n << 4 | UInt16(v)
        }
        return n
    }

    static func format(_ a: [UInt8]) -> String {
        if a.count == 4 { return a.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(a[$0]) << 8 | UInt16(a[$0 + 1]), radix: 16) }.joined(separator: ":")
    }
}

extension Array where Element == CIDR {
    /// Whether any network holds `ip`; allocation-free (the request path calls it per request).
    @inline(__always)
    public func containsIP(_ ip: [UInt8]) -> Bool {
        ip.withUnsafeBufferPointer { buffer in contains { $0.contains(buffer) } }
    }
}
