import Glibc

/// An IPv4 or IPv6 network. IPv4-mapped IPv6 client addresses match IPv4 networks.
struct CIDR: Sendable, Equatable {
    var bytes: [UInt8]
    var prefix: Int

    init?(_ s: String) {
        var addr = Substring(s)
        var plen: Int?
        if let slash = s.firstIndex(of: "/") {
            addr = s[..<slash]
            guard let p = Int(s[s.index(after: slash)...]) else { return nil }
            plen = p
        }
        if let b = CIDR.parseIP(String(addr)) {
            bytes = b
            let maxLen = b.count * 8
            let p = plen ?? maxLen
            guard p >= 0 && p <= maxLen else { return nil }
            prefix = p
        } else {
            return nil
        }
    }

    static func parseIP(_ s: String) -> [UInt8]? {
        var a4 = in_addr()
        if inet_pton(AF_INET, s, &a4) == 1 { return withUnsafeBytes(of: &a4) { Array($0) } }
        var a6 = in6_addr()
        if inet_pton(AF_INET6, s, &a6) == 1 { return withUnsafeBytes(of: &a6) { Array($0) } }
        return nil
    }

    static func normalize(_ ip: [UInt8]) -> [UInt8] {
        if ip.count == 16, ip[0..<10].allSatisfy({ $0 == 0 }), ip[10] == 0xFF, ip[11] == 0xFF {
            return Array(ip[12..<16])
        }
        return ip
    }

    func contains(_ ipRaw: [UInt8]) -> Bool {
        let ip = CIDR.normalize(ipRaw)
        guard ip.count == bytes.count else { return false }
        var bits = prefix
        var i = 0
        while bits >= 8 {
            if ip[i] != bytes[i] { return false }
            bits -= 8
            i += 1
        }
        if bits > 0 {
            let mask = UInt8(0xFF) << UInt8(8 - bits)
            if ip[i] & mask != bytes[i] & mask { return false }
        }
        return true
    }
}

extension Array where Element == CIDR {
    func containsIP(_ ip: [UInt8]) -> Bool { contains { $0.contains(ip) } }
}
