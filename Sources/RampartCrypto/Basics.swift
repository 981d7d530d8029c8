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

    /// The same for bytes in place (a digest on the stack): true when `a` has `b.count` bytes equal to `b`'s.
    public static func equals(_ a: [UInt8], _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard let base = b.baseAddress else { return a.isEmpty }
        return a.withUnsafeBytes { pa in CRYPTO_memcmp(pa.baseAddress, base, a.count) == 0 }
    }
}

/// SHA-256 (FIPS 180-4) through `EVP_Digest`.
public enum SHA256 {
    /// Digest length in bytes.
    public static let byteCount = 32

    /// The implementation fetched once. `EVP_sha256()` is a legacy handle that makes every
    /// `EVP_Digest` fetch the provider's implementation again (a lock and a name lookup: a third
    /// of a key-auth request's hashing); a fetched `EVP_MD` is immutable and shared across threads.
    struct Fetched: @unchecked Sendable { let md: OpaquePointer? }
    static let fetched = Fetched(md: EVP_MD_fetch(nil, "SHA256", nil))

    /// SHA-256 of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        var len: UInt32 = 0
        let rc = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBufferPointer { o in
                EVP_Digest(input.baseAddress, input.count, o.baseAddress, &len, fetched.md ?? EVP_sha256(), nil)
            }
        }
        // Not reachable from input: EVP_Digest fails only when OpenSSL itself is broken (no SHA-256, no memory).
        if rc != 1 || len != UInt32(byteCount) { fatalError("EVP_Digest(SHA-256) failed: \(OpenSSLErrors.drain())") }
        return out
    }

    /// SHA-256 of the UTF-8 bytes of `string`.
    public static func hash(_ string: String) -> [UInt8] { hash(Array(string.utf8)) }
}

/// SHA-256 with one digest context kept for reuse, for a thread that hashes on every request (an
/// event loop checking key-auth keys): no context made, cleansed and freed per hash, no output array.
/// Not shared between threads: each owner has its own.
public final class SHA256Hasher {
    private let ctx: OpaquePointer?

    public init() { ctx = EVP_MD_CTX_new() }
    deinit { EVP_MD_CTX_free(ctx) }

    /// Writes SHA-256 of `count` bytes at `bytes` to the 32 bytes at `out`.
    public func hash(_ bytes: UnsafeRawPointer, _ count: Int, into out: UnsafeMutablePointer<UInt8>) {
        var len: UInt32 = 0
        if let ctx, let md = SHA256.fetched.md, EVP_DigestInit_ex2(ctx, md, nil) == 1, EVP_DigestUpdate(ctx, bytes, count) == 1,
           EVP_DigestFinal_ex(ctx, out, &len) == 1, len == UInt32(SHA256.byteCount) {
            return
        }
        // A context OpenSSL could not make or reset: the one-shot path (which stops the process if even that fails).
        let digest = SHA256.hash(Array(UnsafeRawBufferPointer(start: bytes, count: count)))
        digest.withUnsafeBufferPointer { d in
            if let base = d.baseAddress { out.update(from: base, count: SHA256.byteCount) }
        }
    }
}

/// HMAC-SHA256 (RFC 2104) through OpenSSL's EVP_MAC.
public enum HMAC {
    /// An HMAC context with its digest set once and no key; each call duplicates it and sets only its
    /// key. `EVP_Q_mac` fetched the MAC and the digest and parsed its parameters by name on every call,
    /// which a first reconcile of 10,000 resources (one HMAC per entry of its generation hash) and a
    /// basic-auth request (one per credential lookup) paid each time. Read only once made, so shared.
    private struct Template: @unchecked Sendable { let ctx: OpaquePointer? }
    private static let template: Template = {
        guard let mac = EVP_MAC_fetch(nil, "HMAC", nil) else { return Template(ctx: nil) }
        defer { EVP_MAC_free(mac) }  // the context keeps its own reference
        guard let ctx = EVP_MAC_CTX_new(mac) else { return Template(ctx: nil) }
        let digestParam: StaticString = "digest", digest: StaticString = "SHA256"
        let set = withUnsafeTemporaryAllocation(of: OSSL_PARAM.self, capacity: 2) { params -> Int32 in
            guard let p = params.baseAddress else { return 0 }
            p[0] = OSSL_PARAM_construct_utf8_string(UnsafeRawPointer(digestParam.utf8Start).assumingMemoryBound(to: CChar.self),
                                                    UnsafeMutablePointer(mutating: UnsafeRawPointer(digest.utf8Start)
                                                        .assumingMemoryBound(to: CChar.self)), 0)
            p[1] = OSSL_PARAM_construct_end()
            return EVP_MAC_CTX_set_params(ctx, p)
        }
        guard set == 1 else {
            EVP_MAC_CTX_free(ctx)
            return Template(ctx: nil)
        }
        return Template(ctx: ctx)
    }()

    /// HMAC-SHA256 of `message` under `key` (any key length; long keys are hashed per RFC 2104).
    public static func sha256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: SHA256.byteCount)
        var outLen = 0
        // A zero-length buffer may have no base address; OpenSSL wants a valid pointer.
        let keyBuf = key.isEmpty ? [0] : key
        let msgBuf = message.isEmpty ? [0] : message
        let ok = keyBuf.withUnsafeBytes { k in
            msgBuf.withUnsafeBytes { m in
                out.withUnsafeMutableBufferPointer { o -> Bool in
                    let keyBytes = k.baseAddress?.assumingMemoryBound(to: UInt8.self)
                    let messageBytes = m.baseAddress?.assumingMemoryBound(to: UInt8.self)
                    guard let ctx = template.ctx.flatMap({ EVP_MAC_CTX_dup($0) }) else {
                        return EVP_Q_mac(nil, "HMAC", nil, "SHA256", nil, keyBytes, key.count, messageBytes, message.count,
                                         o.baseAddress, o.count, &outLen) != nil
                    }
                    defer { EVP_MAC_CTX_free(ctx) }
                    return EVP_MAC_init(ctx, keyBytes, key.count, nil) == 1
                        && EVP_MAC_update(ctx, messageBytes, message.count) == 1
                        && EVP_MAC_final(ctx, o.baseAddress, &outLen, o.count) == 1
                }
            }
        }
        // Not reachable from input (any key and message length is valid): only a broken OpenSSL fails here.
        if !ok || outLen != SHA256.byteCount { fatalError("HMAC-SHA256 failed: \(OpenSSLErrors.drain())") }
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
