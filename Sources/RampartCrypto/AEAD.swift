import COpenSSL
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// AES-256-GCM authenticated encryption (`EVP_aes_256_gcm`), output `nonce(12) || ciphertext || tag(16)`.
/// The static functions set up a cipher context and key schedule for one call; a key used more than
/// once belongs in an `AEADKey`, which keeps them.
public enum AEAD {
    public static let keyByteCount = 32
    public static let nonceByteCount = 12
    public static let tagByteCount = 16
    /// Largest plaintext accepted (OpenSSL's `int` lengths, with room to spare).
    public static let maxPlaintextByteCount = 1 << 30

    /// Encrypts `plaintext` under a 32-byte `key` with a fresh random nonce, authenticating `additionalData`.
    public static func seal(_ plaintext: [UInt8], key: [UInt8], additionalData: [UInt8] = []) throws -> [UInt8] {
        try key.withUnsafeBytes { raw in
            try withOneShotContext(rawKey: raw, encrypt: true) { try seal(plaintext, additionalData: additionalData, nonce: nil, context: $0) }
        }
    }

    /// Decrypts `nonce || ciphertext || tag`; throws `.authenticationFailed` for a wrong key, AD, or any change.
    public static func open(_ sealed: [UInt8], key: [UInt8], additionalData: [UInt8] = []) throws -> [UInt8] {
        try key.withUnsafeBytes { raw in
            try withOneShotContext(rawKey: raw, encrypt: false) { try open(sealed, additionalData: additionalData, context: $0) }
        }
    }

    /// Fixed-nonce form, for known-answer tests only: reusing a nonce under one key breaks GCM.
    static func seal(_ plaintext: [UInt8], key: [UInt8], additionalData: [UInt8], nonce: [UInt8]) throws -> [UInt8] {
        try key.withUnsafeBytes { raw in
            try withOneShotContext(rawKey: raw, encrypt: true) { try seal(plaintext, additionalData: additionalData, nonce: nonce, context: $0) }
        }
    }

    static func checkKey(byteCount: Int) throws {
        guard byteCount == keyByteCount else {
            throw CryptoError(.invalidArgument, "AES-256-GCM: key must be \(keyByteCount) bytes, got \(byteCount)")
        }
    }

    /// A context for one call: nothing is drawn ahead, the nonce comes from one `RAND_bytes` (as before `AEADKey`).
    static func withOneShotContext<R>(rawKey: UnsafeRawBufferPointer, encrypt: Bool, _ body: (CipherContext) throws -> R) throws -> R {
        try body(CipherContext(rawKey: rawKey, encrypt: encrypt, drawNoncesAhead: false))
    }

    /// Seals with a context that already holds the key: per call only the nonce is set (a fresh
    /// random one unless `nonce` is given), straight into the one output buffer.
    static func seal(_ plaintext: [UInt8], additionalData: [UInt8], nonce: [UInt8]?, context: CipherContext) throws -> [UInt8] {
        if let nonce, nonce.count != nonceByteCount {
            throw CryptoError(.invalidArgument, "AES-256-GCM: nonce must be \(nonceByteCount) bytes, got \(nonce.count)")
        }
        guard plaintext.count <= maxPlaintextByteCount, additionalData.count <= maxPlaintextByteCount else {
            throw CryptoError(.invalidArgument, "AES-256-GCM: input larger than \(maxPlaintextByteCount) bytes")
        }
        let total = nonceByteCount + plaintext.count + tagByteCount
        return try [UInt8](unsafeUninitializedCapacity: total) { out, initialized in
            guard let base = out.baseAddress else { throw CryptoError(.invalidArgument, "AES-256-GCM: no output buffer") }
            if let nonce {
                nonce.withUnsafeBytes { UnsafeMutableRawBufferPointer(start: base, count: nonceByteCount).copyMemory(from: $0) }
            } else {
                context.nextNonce(into: base)
            }
            let context = context.pointer
            var length: Int32 = 0
            var ok = EVP_EncryptInit_ex(context, nil, nil, nil, base) == 1
            if ok && !additionalData.isEmpty {
                ok = additionalData.withUnsafeBufferPointer { EVP_EncryptUpdate(context, nil, &length, $0.baseAddress, Int32($0.count)) } == 1
            }
            var written = 0
            if ok && !plaintext.isEmpty {
                ok = plaintext.withUnsafeBufferPointer {
                    EVP_EncryptUpdate(context, base + nonceByteCount, &length, $0.baseAddress, Int32($0.count))
                } == 1
                written = Int(length)
            }
            ok = ok && EVP_EncryptFinal_ex(context, base + nonceByteCount + written, &length) == 1
            written += Int(length)
            ok = ok && written == plaintext.count
                && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(tagByteCount), base + nonceByteCount + written) == 1
            guard ok else { throw CryptoError.openSSL("AES-256-GCM encrypt") }
            initialized = total
        }
    }

    /// Opens with a context that already holds the key; the tag is read in place, the plaintext
    /// written straight into the returned array (wiped if authentication fails).
    static func open(_ sealed: [UInt8], additionalData: [UInt8], context: CipherContext) throws -> [UInt8] {
        let context = context.pointer
        guard sealed.count >= nonceByteCount + tagByteCount else {
            throw CryptoError(.malformed, "AES-256-GCM: sealed data is \(sealed.count) bytes, shorter than nonce + tag (28)")
        }
        let ciphertextCount = sealed.count - nonceByteCount - tagByteCount
        guard ciphertextCount <= maxPlaintextByteCount, additionalData.count <= maxPlaintextByteCount else {
            throw CryptoError(.invalidArgument, "AES-256-GCM: input larger than \(maxPlaintextByteCount) bytes")
        }
        return try sealed.withUnsafeBufferPointer { input in
            try [UInt8](unsafeUninitializedCapacity: max(ciphertextCount, 1)) { out, initialized in
                guard let inputBase = input.baseAddress, let outBase = out.baseAddress else {
                    throw CryptoError(.malformed, "AES-256-GCM: no buffer")
                }
                var length: Int32 = 0
                var ok = EVP_DecryptInit_ex(context, nil, nil, nil, inputBase) == 1
                if ok && !additionalData.isEmpty {
                    ok = additionalData.withUnsafeBufferPointer { EVP_DecryptUpdate(context, nil, &length, $0.baseAddress, Int32($0.count)) } == 1
                }
                var written = 0
                if ok && ciphertextCount > 0 {
                    ok = EVP_DecryptUpdate(context, outBase, &length, inputBase + nonceByteCount, Int32(ciphertextCount)) == 1
                    written = Int(length)
                }
                // OpenSSL copies the expected tag out of this pointer; it never writes through it.
                let tag = UnsafeMutableRawPointer(mutating: inputBase + nonceByteCount + ciphertextCount)
                ok = ok && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tagByteCount), tag) == 1
                guard ok else {
                    OPENSSL_cleanse(outBase, out.count)
                    throw CryptoError.openSSL("AES-256-GCM decrypt")
                }
                guard EVP_DecryptFinal_ex(context, outBase + written, &length) == 1 else {
                    OPENSSL_cleanse(outBase, out.count)
                    OpenSSLErrors.clear()
                    throw CryptoError(.authenticationFailed,
                                      "AES-256-GCM: authentication failed (wrong key or additional data, or data was altered)")
                }
                guard written + Int(length) == ciphertextCount else {
                    OPENSSL_cleanse(outBase, out.count)
                    throw CryptoError.openSSL("AES-256-GCM decrypt")
                }
                initialized = ciphertextCount
            }
        }
    }
}

/// One AES-256-GCM key with its key schedule set up once: cipher contexts initialised with the key
/// are kept and reused, so a seal or open only sets the nonce. Safe to share between threads: each
/// call takes a context of its own from a small free list for the length of the call.
public final class AEADKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    private let sealers: CipherContextPool
    private let openers: CipherContextPool

    /// From exactly 32 raw key bytes (the caller should wipe its own copy).
    public convenience init(rawKey: [UInt8]) throws {
        try AEAD.checkKey(byteCount: rawKey.count)
        try self.init(secret: SecretBytes(rawKey))
    }

    init(secret: SecretBytes) throws {
        try AEAD.checkKey(byteCount: secret.count)
        sealers = CipherContextPool(secret: secret, encrypt: true)
        openers = CipherContextPool(secret: secret, encrypt: false)
    }

    /// Encrypts `plaintext` with a fresh random nonce, authenticating `additionalData`.
    public func seal(_ plaintext: [UInt8], additionalData: [UInt8] = []) throws -> [UInt8] {
        try sealers.withContext { try AEAD.seal(plaintext, additionalData: additionalData, nonce: nil, context: $0) }
    }

    /// Fixed-nonce form, for known-answer tests only.
    func seal(_ plaintext: [UInt8], additionalData: [UInt8], nonce: [UInt8]) throws -> [UInt8] {
        try sealers.withContext { try AEAD.seal(plaintext, additionalData: additionalData, nonce: nonce, context: $0) }
    }

    /// Decrypts `nonce || ciphertext || tag`; throws `.authenticationFailed` for a wrong key, AD, or any change.
    public func open(_ sealed: [UInt8], additionalData: [UInt8] = []) throws -> [UInt8] {
        try openers.withContext { try AEAD.open(sealed, additionalData: additionalData, context: $0) }
    }

    public var description: String { "AEADKey(***)" }
    public var debugDescription: String { description }
}

/// An `EVP_CIPHER_CTX` with the cipher and one key set for one direction (the part of a call an
/// `AEADKey` does once), and for sealing, nonces drawn ahead. Used by one call at a time.
final class CipherContext: @unchecked Sendable {
    let pointer: OpaquePointer
    /// Random bytes for the next nonces: one `RAND_bytes` per `noncesPerDraw` seals instead of one per
    /// seal (it was half the time of a small seal). Each nonce is still 12 fresh bytes from the DRBG, used once.
    private let nonces: UnsafeMutableRawBufferPointer?
    private var nextNonceOffset: Int
    private var drawnInForkGeneration: UInt64

    static let noncesPerDraw = 64

    init(rawKey key: UnsafeRawBufferPointer, encrypt: Bool, drawNoncesAhead: Bool) throws {
        try AEAD.checkKey(byteCount: key.count)
        guard let context = EVP_CIPHER_CTX_new() else { throw CryptoError.openSSL("EVP_CIPHER_CTX_new") }
        guard EVP_CipherInit_ex(context, EVP_aes_256_gcm(), nil, key.baseAddress?.assumingMemoryBound(to: UInt8.self), nil,
                                encrypt ? 1 : 0) == 1 else {
            EVP_CIPHER_CTX_free(context)
            throw CryptoError.openSSL("AES-256-GCM key setup")
        }
        pointer = context
        nonces = encrypt && drawNoncesAhead ? UnsafeMutableRawBufferPointer.allocate(byteCount: Self.noncesPerDraw * AEAD.nonceByteCount, alignment: 16) : nil
        nextNonceOffset = nonces?.count ?? 0  // drawn at the first seal
        drawnInForkGeneration = ForkGeneration.current
    }

    /// Writes the next unused random nonce to `destination`.
    func nextNonce(into destination: UnsafeMutableRawPointer) {
        guard let nonces else {
            Random.fill(UnsafeMutableRawBufferPointer(start: destination, count: AEAD.nonceByteCount))
            return
        }
        // A forked child holds a copy of these bytes, as its parent does: draw afresh rather than use them twice.
        let generation = ForkGeneration.current
        if nextNonceOffset + AEAD.nonceByteCount > nonces.count || generation != drawnInForkGeneration {
            Random.fill(nonces)
            nextNonceOffset = 0
            drawnInForkGeneration = generation
        }
        guard let base = nonces.baseAddress else { return }
        destination.copyMemory(from: base + nextNonceOffset, byteCount: AEAD.nonceByteCount)
        nextNonceOffset += AEAD.nonceByteCount
    }

    deinit {
        EVP_CIPHER_CTX_free(pointer)  // also cleanses the key schedule
        nonces?.deallocate()
    }
}

/// Counts forks (a `pthread_atfork` child handler), so that bytes drawn ahead before a fork are not
/// used by both processes.
enum ForkGeneration {
    static let counter = Atomic<UInt64>(0)
    private static let registered: Bool = {
        pthread_atfork(nil, nil, { ForkGeneration.counter.add(1, ordering: .relaxed) })
        return true
    }()

    static var current: UInt64 {
        _ = registered
        return counter.load(ordering: .relaxed)
    }
}

/// Cipher contexts holding one key for one direction. A context is used by one call at a time:
/// taken from the free list under a lock held only for the pop or push, never during the cipher work.
final class CipherContextPool: Sendable {
    /// Idle contexts kept: more than the threads that ever seal at once is memory for nothing.
    static let maxIdle = 16

    private let secret: SecretBytes
    private let encrypt: Bool
    private let idle = Mutex<[CipherContext]>([])

    init(secret: SecretBytes, encrypt: Bool) {
        self.secret = secret
        self.encrypt = encrypt
    }

    func withContext<R>(_ body: (CipherContext) throws -> R) throws -> R {
        let context = try idle.withLock { $0.popLast() } ?? secret.withUnsafeBytes { try CipherContext(rawKey: $0, encrypt: encrypt, drawNoncesAhead: true) }
        let result: R
        do {
            result = try body(context)
        } catch let error as CryptoError where error.kind == .authenticationFailed {
            // A refused tag ends the operation cleanly (the next call sets a new nonce): keep the context.
            giveBack(context)
            throw error
        }
        // Any other failure may leave the context mid-operation: it is not given back, and freed here.
        giveBack(context)
        return result
    }

    private func giveBack(_ context: CipherContext) {
        idle.withLock { contexts in
            if contexts.count < Self.maxIdle { contexts.append(context) }
        }
    }
}
