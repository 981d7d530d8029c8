import COpenSSL
import Foundation

/// Cryptographically secure random bytes from OpenSSL's DRBG (`RAND_bytes`).
public enum Random {
    /// `n` random bytes (empty for `n <= 0`). A failing system CSPRNG is unrecoverable and stops the process.
    public static func bytes(_ n: Int) -> [UInt8] {
        guard n > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: n) { buffer, initialized in
            fill(UnsafeMutableRawBufferPointer(buffer))
            initialized = n
        }
    }

    /// Fills `buffer` with random bytes in place (a nonce written straight into its output).
    static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            let chunk = min(buffer.count - offset, Int(Int32.max))
            if RAND_bytes(base.assumingMemoryBound(to: UInt8.self) + offset, Int32(chunk)) != 1 {
                // Returning predictable bytes would be worse than stopping: nonces and keys depend on this.
                fatalError("RAND_bytes failed: \(OpenSSLErrors.drain())")
            }
            offset += chunk
        }
    }
}

/// Comparison whose running time does not depend on where inputs differ (`CRYPTO_memcmp`).
public enum ConstantTime {
    /// True when `a` and `b` have equal length and bytes. Length itself is not hidden.
    public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, a.count) == 0 }
        }
    }
}

/// SHA-256 (FIPS 180-4) through `EVP_Digest`.
public enum SHA256 {
    /// Digest length in bytes.
    public static let byteCount = 32

    /// SHA-256 of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        var len: UInt32 = 0
        let rc = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { o in
                EVP_Digest(input.baseAddress, input.count, o.baseAddress, &len, EVP_sha256(), nil)
            }
        }
        // Not reachable from input: EVP_Digest fails only when OpenSSL itself is broken (no SHA-256, no memory).
        if rc != 1 || len != UInt32(byteCount) { fatalError("EVP_Digest(SHA-256) failed: \(OpenSSLErrors.drain())") }
        return out
    }

    /// SHA-256 of the UTF-8 bytes of `string`.
    public static func hash(_ string: String) -> [UInt8] { hash(Array(string.utf8)) }
}

/// HMAC-SHA256 (RFC 2104) through `EVP_Q_mac`.
public enum HMAC {
    /// HMAC-SHA256 of `message` under `key` (any key length; long keys are hashed per RFC 2104).
    public static func sha256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: SHA256.byteCount)
        var outLen = 0
        // A zero-length buffer may have no base address; OpenSSL wants a valid pointer.
        let keyBuf = key.isEmpty ? [0] : key
        let msgBuf = message.isEmpty ? [0] : message
        let result = keyBuf.withUnsafeBytes { k in
            msgBuf.withUnsafeBytes { m in
                out.withUnsafeMutableBufferPointer { o in
                    EVP_Q_mac(nil, "HMAC", nil, "SHA256", nil,
                              k.baseAddress, key.count, m.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count,
                              o.baseAddress, o.count, &outLen)
                }
            }
        }
        // Not reachable from input (any key and message length is valid): only a broken OpenSSL fails here.
        if result == nil || outLen != SHA256.byteCount { fatalError("EVP_Q_mac(HMAC-SHA256) failed: \(OpenSSLErrors.drain())") }
        return out
    }

    /// HMAC-SHA256 of the UTF-8 bytes of `message`.
    public static func sha256(key: [UInt8], message: String) -> [UInt8] { sha256(key: key, message: Array(message.utf8)) }
}

/// Lowercase hexadecimal encoding.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Lowercase hex of `bytes`.
    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes of a hex string (either case, even length, no separators or prefix).
    public static func decode(_ text: String) throws -> [UInt8] {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { throw CryptoError(.malformed, "hex: odd length \(chars.count)") }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else {
                throw CryptoError(.malformed, "hex: invalid character at offset \(i)")
            }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Base64 with the standard alphabet (RFC 4648 §4, `+` and `/`), strict and canonical on decode.
public enum Base64 {
    /// Standard-alphabet base64 of `bytes`; `padding: false` drops trailing `=` (as PHC strings do).
    public static func encode(_ bytes: [UInt8], padding: Bool = true) -> String {
        var s = Data(bytes).base64EncodedString()
        if !padding { while s.hasSuffix("=") { s.removeLast() } }
        return s
    }

    /// Decodes standard-alphabet base64. With `padding: true` the `=` padding is required, with `false`
    /// it is forbidden. Rejects whitespace, other alphabets and non-canonical encodings; nil if invalid.
    public static func decode(_ text: String, padding: Bool = true) -> [UInt8]? {
        var s = text
        if padding {
            guard s.utf8.count % 4 == 0 else { return nil }
        } else {
            guard !s.contains("=") else { return nil }
            switch s.utf8.count % 4 {
            case 0: break
            case 2: s += "=="
            case 3: s += "="
            default: return nil
            }
        }
        guard s.utf8.allSatisfy({ isAlphabet($0) || $0 == UInt8(ascii: "=") }),
              let data = Data(base64Encoded: s) else { return nil }
        let bytes = [UInt8](data)
        // Canonical form only: one string per byte sequence (no stray bits in the last character).
        guard Data(bytes).base64EncodedString() == s else { return nil }
        return bytes
    }

    private static func isAlphabet(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"): return true
        default: return false
        }
    }
}

/// Bytes that are wiped (`OPENSSL_cleanse`) when the last reference goes away. Immutable after init.
final class SecretBytes: @unchecked Sendable {
    private let storage: UnsafeMutableRawBufferPointer
    private let length: Int
    var count: Int { length }

    /// Copies `bytes` into private storage. The caller should wipe its own copy.
    init(_ bytes: [UInt8]) {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        buf.initializeMemory(as: UInt8.self, repeating: 0)
        bytes.withUnsafeBytes { src in
            if let base = src.baseAddress, let dst = buf.baseAddress { dst.copyMemory(from: base, byteCount: src.count) }
        }
        storage = buf
        length = bytes.count
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<length]))
    }

    deinit {
        OPENSSL_cleanse(storage.baseAddress, storage.count)
        storage.deallocate()
    }
}

/// Overwrites `bytes` with zeros in place (`OPENSSL_cleanse`), for temporary copies of secrets.
func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
}
