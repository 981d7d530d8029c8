import RampartCrypto
import RampartModel

/// The order-independent part of a generation's hash: the sum, modulo 2^256, of one keyed value per
/// entry (a resource's digest, a resolved SecretRef field, a held-closed Route). A successor state
/// updates it from the entries that changed instead of hashing every resource again.
///
/// Each entry's value is HMAC-SHA256 under the per-process `DesiredState.digestKey`: without the key
/// nobody can compute entry values, so a sum of unkeyed hashes' known weakness (choosing many entries
/// whose values add up to a target, Wagner's generalized birthday attack) has nothing to work with.
struct StateSum: Equatable, Sendable {
    /// Little-endian 64-bit limbs.
    private(set) var limbs: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    /// How many entries were added minus removed (part of the final hash: the empty sum is not a state of one zero entry).
    private(set) var count = 0

    static func == (a: StateSum, b: StateSum) -> Bool {
        a.count == b.count && a.limbs.0 == b.limbs.0 && a.limbs.1 == b.limbs.1 && a.limbs.2 == b.limbs.2 && a.limbs.3 == b.limbs.3
    }

    mutating func add(_ value: [UInt8]) {
        let v = StateSum.words(value)
        var carry: UInt64 = 0
        func step(_ a: UInt64, _ b: UInt64) -> UInt64 {
            let (s1, o1) = a.addingReportingOverflow(b)
            let (s2, o2) = s1.addingReportingOverflow(carry)
            carry = (o1 ? 1 : 0) + (o2 ? 1 : 0)
            return s2
        }
        limbs = (step(limbs.0, v.0), step(limbs.1, v.1), step(limbs.2, v.2), step(limbs.3, v.3))
        count += 1
    }

    mutating func subtract(_ value: [UInt8]) {
        let v = StateSum.words(value)
        var borrow: UInt64 = 0
        func step(_ a: UInt64, _ b: UInt64) -> UInt64 {
            let (d1, o1) = a.subtractingReportingOverflow(b)
            let (d2, o2) = d1.subtractingReportingOverflow(borrow)
            borrow = (o1 ? 1 : 0) + (o2 ? 1 : 0)
            return d2
        }
        limbs = (step(limbs.0, v.0), step(limbs.1, v.1), step(limbs.2, v.2), step(limbs.3, v.3))
        count -= 1
    }

    /// Both sums together (a state's resources, then its resolved values and held Routes).
    func adding(_ other: StateSum) -> StateSum {
        var out = self
        out.add(other.bytes)
        out.count = count + other.count
        return out
    }

    var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for limb in [limbs.0, limbs.1, limbs.2, limbs.3] { withUnsafeBytes(of: limb.littleEndian) { out += $0 } }
        return out
    }

    private static func words(_ value: [UInt8]) -> (UInt64, UInt64, UInt64, UInt64) {
        func word(_ at: Int) -> UInt64 {
            var w: UInt64 = 0
            for i in 0..<8 where at + i < value.count { w |= UInt64(value[at + i]) << (8 * UInt64(i)) }
            return w
        }
        return (word(0), word(8), word(16), word(24))
    }

    /// The keyed value of one entry: its fields length-prefixed, so no two entries share an encoding.
    static func entry(_ tag: String, _ fields: [String]) -> [UInt8] {
        var message: [UInt8] = []
        for field in [tag] + fields {
            let bytes = Array(field.utf8)
            withUnsafeBytes(of: UInt64(bytes.count).bigEndian) { message += $0 }
            message += bytes
        }
        return HMAC.sha256(key: DesiredState.digestKey, message: message)
    }

    static func resource(_ key: ResourceKey, digest: String) -> [UInt8] {
        entry("resource", [key.kind.rawValue, key.namespace, key.name, digest])
    }

    static func resolved(_ key: ResourceKey, path: String, value: ResolvedValue) -> [UInt8] {
        entry("resolved", [key.kind.rawValue, key.namespace, key.name, path, value.digest, value.version.map { "v" + $0 } ?? "-"])
    }

    static func held(_ key: ResourceKey, signature: String) -> [UInt8] {
        entry("held", [key.kind.rawValue, key.namespace, key.name, signature])
    }

    /// The generation hash: SHA-256 of the sum and the entry count (what `state.json` and the admin API show).
    var hash: String {
        var message = Array("rampart state v2\n".utf8)
        withUnsafeBytes(of: UInt64(bitPattern: Int64(count)).bigEndian) { message += $0 }
        message += bytes
        return Hex.encode(SHA256.hash(message))
    }
}
