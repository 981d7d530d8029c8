import RampartCrypto
import RampartModel

/// key-auth as the gateway receives it: the accepted keys are SHA-256 digests only, so no
/// plaintext key is kept in the data plane (the controller hashes them while building the snapshot).
public struct KeyAuthConfig: Sendable, Equatable {
    /// Request header that carries the key (matched case-insensitively).
    public var header: String
    /// Query parameter that carries the key (matched exactly).
    public var query: String
    /// SHA-256 of each accepted key.
    public var keyDigests: [[UInt8]]

    public init(header: String = SchemaDefaults.keyAuthHeader, query: String = SchemaDefaults.keyAuthQuery, keyDigests: [[UInt8]]) {
        self.header = header
        self.query = query
        self.keyDigests = keyDigests
    }

    /// Convenience for callers holding plaintext keys (tests): digests them at once.
    public init(header: String = SchemaDefaults.keyAuthHeader, query: String = SchemaDefaults.keyAuthQuery, keys: [[UInt8]]) {
        self.init(header: header, query: query, keyDigests: keys.map { KeyAuthConfig.digest($0) })
    }

    /// The digest stored for a key.
    public static func digest(_ key: [UInt8]) -> [UInt8] { SHA256.hash(key) }
}

/// key-auth compiled for the loops.
final class CompiledKeyAuth: Sendable {
    let headerLower: [UInt8]
    let query: [UInt8]
    let digests: [[UInt8]]

    init(_ c: KeyAuthConfig) throws {
        guard !c.header.isEmpty, c.header.utf8.allSatisfy({ ASCII.tchar[Int($0)] }) else {
            throw GatewayError.invalidConfig("key-auth: invalid header name")
        }
        guard c.keyDigests.allSatisfy({ $0.count == SHA256.byteCount }) else {
            throw GatewayError.invalidConfig("key-auth: keys must be SHA-256 digests")
        }
        headerLower = lowerBytes(c.header)
        query = Array(c.query.utf8)
        digests = c.keyDigests
    }

    /// Index of the key whose digest matches, or -1. Every stored digest is compared, each in
    /// constant time, so the time taken does not tell which key (or how much of one) matched.
    func match(_ key: UnsafeRawBufferPointer, _ hasher: SHA256Hasher) -> Int {
        guard let base = key.baseAddress, !key.isEmpty else { return -1 }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: SHA256.byteCount) { digest -> Int in
            guard let d = digest.baseAddress else { return -1 }
            hasher.hash(base, key.count, into: d)
            var found = -1
            let computed = UnsafeRawBufferPointer(start: d, count: SHA256.byteCount)
            for (i, k) in digests.enumerated() where ConstantTime.equals(k, computed) && found < 0 { found = i }
            return found
        }
    }
}

extension EventLoop {
    /// The consumer index of the request's key (header first, then query parameter), or -1.
    func keyAuthConsumer(_ ka: CompiledKeyAuth, _ h: RequestHead, _ p: UnsafePointer<UInt8>,
                         queryStart: Int, queryEnd: Int) -> Int {
        for hd in h.headers where bytesEqualsLower(p + Int(hd.nameStart), Int(hd.nameLen), ka.headerLower) {
            let i = ka.match(UnsafeRawBufferPointer(start: p + Int(hd.valueStart), count: Int(hd.valueLen)), sha256)
            if i >= 0 { return i }
        }
        if !ka.query.isEmpty, queryStart < queryEnd {
            var result = -1
            QueryString.forEachParam(p, from: queryStart + 1, to: queryEnd) { ns, nl, vs, vl in
                guard result < 0, nl == ka.query.count, bytesEqual(p + ns, nl, ka.query) else { return }
                let v = QueryString.percentDecode(p + vs, vl)
                result = v.withUnsafeBytes { ka.match($0, sha256) }
            }
            return result
        }
        return -1
    }
}
