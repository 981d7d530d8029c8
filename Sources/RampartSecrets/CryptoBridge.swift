import RampartCrypto

/// Thin access to RampartCrypto for files that also import names that clash (e.g. Foundation's).
enum RampartCryptoBridge {
    static func sha256(_ s: String) -> [UInt8] { SHA256.hash(s) }
}
