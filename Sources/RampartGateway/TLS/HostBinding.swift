// mTLS bound to the Host: a request whose Host selects an SSL with `clientAuth.mode: require` is
// served only on a TLS connection whose SNI selected that SSL and whose client certificate verified
// there. Otherwise a client could skip the certificate by speaking plain HTTP, or by sending another
// SNI (another SSL's handshake) with the protected Host.

/// SNI names compiled for lookups on bytes: exact beats a one-label wildcard, the first SSL listing a
/// name keeps it, case-insensitive, a trailing dot ignored. Used by SNI selection and by the Host binding.
struct SNINames: Sendable {
    private struct Name: Sendable {
        var bytes: [UInt8]
        var index: Int
    }

    private var exact: [UInt64: [Name]] = [:]
    private var wildcard: [UInt64: [Name]] = [:]   // "example.com" for "*.example.com"

    /// `items`: an index each (what `lookup` returns) with its SNI names and patterns.
    init(_ items: [(index: Int, snis: [String])]) {
        for item in items {
            for sni in item.snis {
                var name = lowerBytes(sni)
                if name.last == SNINames.dot { name.removeLast() }
                if name.count > 2, name[0] == UInt8(ascii: "*"), name[1] == SNINames.dot {
                    SNINames.add(&wildcard, Array(name[2...]), item.index)
                } else if !name.isEmpty {
                    SNINames.add(&exact, name, item.index)
                }
            }
        }
    }

    var isEmpty: Bool { exact.isEmpty && wildcard.isEmpty }

    private static let dot = UInt8(ascii: ".")

    private static func add(_ table: inout [UInt64: [Name]], _ name: [UInt8], _ index: Int) {
        let hash = hashLower(name)
        if table[hash]?.contains(where: { $0.bytes == name }) == true { return }
        table[hash, default: []].append(Name(bytes: name, index: index))
    }

    /// The index `name` (no port) selects, or -1.
    @inline(__always)
    func lookup(_ name: UnsafePointer<UInt8>, _ count: Int) -> Int {
        var n = count
        if n > 0 && name[n - 1] == SNINames.dot { n -= 1 }
        guard n > 0 else { return -1 }
        if !exact.isEmpty, let list = exact[hashLower(name, n)] {
            for e in list where bytesEqualsLower(name, n, e.bytes) { return e.index }
        }
        if !wildcard.isEmpty {
            var firstDot = 0
            while firstDot < n && name[firstDot] != SNINames.dot { firstDot += 1 }
            let suffix = name + firstDot + 1, suffixLen = n - firstDot - 1
            if firstDot > 0 && suffixLen > 0, let list = wildcard[hashLower(suffix, suffixLen)] {
                for e in list where bytesEqualsLower(suffix, suffixLen, e.bytes) { return e.index }
            }
        }
        return -1
    }
}

/// The Host → SSL table of one snapshot and, per SSL that requires a client certificate, the policy a
/// connection must have verified under. Built from every server certificate, loaded or not, and from
/// the require SSLs the controller withheld: their names stay bound, and no connection satisfies them
/// (421, fail closed). `optional` binds nothing: such a name is served to anonymous clients anyway.
final class HostBinding: Sendable {
    private let names: SNINames
    /// Per SSL: its policy identity (`TLSPolicy.identity`) when it requires a client certificate, else empty.
    private let required: [[UInt8]]
    private let bindsAny: Bool
    /// Never equal to an identity (those are 32 bytes): a withheld SSL admits no connection.
    private static let unsatisfiable: [UInt8] = [0]

    init(_ certificates: [ServerCertificate], withheld: [WithheldClientAuth] = []) {
        let served = certificates.enumerated().map { (index: $0.offset, snis: $0.element.snis) }
        names = SNINames(served + withheld.enumerated().map { (index: certificates.count + $0.offset, snis: $0.element.snis) })
        required = certificates.map { ($0.clientAuth?.required ?? false) ? TLSPolicy.identity($0) : [] }
            + withheld.map { _ in HostBinding.unsatisfiable }
        bindsAny = required.contains { !$0.isEmpty }
    }

    /// false: the Host's SSL requires a client certificate, and `c` is not a TLS connection whose client
    /// certificate verified under that SSL (answer 421). `host`: without port (a trailing dot is ignored).
    @inline(__always)
    func admits(_ c: ClientConn, _ host: UnsafePointer<UInt8>, _ hostLen: Int) -> Bool {
        guard bindsAny else { return true }
        let i = names.lookup(host, hostLen)
        guard i >= 0, !required[i].isEmpty else { return true }
        return c.verifiedPolicy == required[i]
    }
}
