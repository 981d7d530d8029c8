import COpenSSL

/// AES-256-GCM authenticated encryption (`EVP_aes_256_gcm`), output `nonce(12) || ciphertext || tag(16)`.
public enum AEAD {
    public static let keyByteCount = 32
    public static let nonceByteCount = 12
    public static let tagByteCount = 16
    /// Largest plaintext accepted (OpenSSL's `int` lengths, with room to spare).
    public static let maxPlaintextByteCount = 1 << 30

    /// Encrypts `plaintext` under a 32-byte `key` with a fresh random nonce, authenticating `additionalData`.
    public static func seal(_ plaintext: [UInt8], key: [UInt8], additionalData: [UInt8] = []) throws -> [UInt8] {
        try seal(plaintext, key: key, additionalData: additionalData, nonce: Random.bytes(nonceByteCount))
    }

    /// Decrypts `nonce || ciphertext || tag`; throws `.authenticationFailed` for a wrong key, AD, or any change.
    public static func open(_ sealed: [UInt8], key: [UInt8], additionalData: [UInt8] = []) throws -> [UInt8] {
        try key.withUnsafeBytes { try open(sealed, rawKey: $0, additionalData: additionalData) }
    }

    /// Fixed-nonce form, for known-answer tests only: reusing a nonce under one key breaks GCM.
    static func seal(_ plaintext: [UInt8], key: [UInt8], additionalData: [UInt8], nonce: [UInt8]) throws -> [UInt8] {
        try key.withUnsafeBytes { try seal(plaintext, rawKey: $0, additionalData: additionalData, nonce: nonce) }
    }

    static func seal(_ plaintext: [UInt8], rawKey key: UnsafeRawBufferPointer, additionalData: [UInt8],
                     nonce: [UInt8]) throws -> [UInt8] {
        guard key.count == keyByteCount else {
            throw CryptoError(.invalidArgument, "AES-256-GCM: key must be \(keyByteCount) bytes, got \(key.count)")
        }
        guard nonce.count == nonceByteCount else {
            throw CryptoError(.invalidArgument, "AES-256-GCM: nonce must be \(nonceByteCount) bytes, got \(nonce.count)")
        }
        guard plaintext.count <= maxPlaintextByteCount, additionalData.count <= maxPlaintextByteCount else {
            throw CryptoError(.invalidArgument, "AES-256-GCM: input larger than \(maxPlaintextByteCount) bytes")
        }
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError.openSSL("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        OpenSSLErrors.clear()

        var out = [UInt8](repeating: 0, count: nonceByteCount + plaintext.count + tagByteCount)
        for i in 0..<nonceByteCount { out[i] = nonce[i] }
        let ok: Bool = out.withUnsafeMutableBufferPointer { o in
            let base = o.baseAddress!
            guard EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nil,
                                     key.baseAddress?.assumingMemoryBound(to: UInt8.self), base) == 1 else { return false }
            var len: Int32 = 0
            if !additionalData.isEmpty {
                let rc = additionalData.withUnsafeBufferPointer {
                    EVP_EncryptUpdate(ctx, nil, &len, $0.baseAddress, Int32($0.count))
                }
                guard rc == 1 else { return false }
            }
            var written = 0
            if !plaintext.isEmpty {
                let rc = plaintext.withUnsafeBufferPointer {
                    EVP_EncryptUpdate(ctx, base + nonceByteCount, &len, $0.baseAddress, Int32($0.count))
                }
                guard rc == 1 else { return false }
                written = Int(len)
            }
            guard EVP_EncryptFinal_ex(ctx, base + nonceByteCount + written, &len) == 1 else { return false }
            written += Int(len)
            guard written == plaintext.count else { return false }
            return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, Int32(tagByteCount),
                                       base + nonceByteCount + written) == 1
        }
        guard ok else { throw CryptoError.openSSL("AES-256-GCM encrypt") }
        return out
    }

    static func open(_ sealed: [UInt8], rawKey key: UnsafeRawBufferPointer, additionalData: [UInt8]) throws -> [UInt8] {
        guard key.count == keyByteCount else {
            throw CryptoError(.invalidArgument, "AES-256-GCM: key must be \(keyByteCount) bytes, got \(key.count)")
        }
        guard sealed.count >= nonceByteCount + tagByteCount else {
            throw CryptoError(.malformed, "AES-256-GCM: sealed data is \(sealed.count) bytes, shorter than nonce + tag (28)")
        }
        let ctLen = sealed.count - nonceByteCount - tagByteCount
        guard ctLen <= maxPlaintextByteCount, additionalData.count <= maxPlaintextByteCount else {
            throw CryptoError(.invalidArgument, "AES-256-GCM: input larger than \(maxPlaintextByteCount) bytes")
        }
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError.openSSL("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        OpenSSLErrors.clear()

        var tag = Array(sealed[(sealed.count - tagByteCount)...])
        var out = [UInt8](repeating: 0, count: max(ctLen, 1))
        enum Outcome { case ok, setupFailed, tagMismatch }
        let outcome: Outcome = sealed.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                let input = s.baseAddress!
                guard EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nil,
                                         key.baseAddress?.assumingMemoryBound(to: UInt8.self), input) == 1 else { return .setupFailed }
                var len: Int32 = 0
                if !additionalData.isEmpty {
                    let rc = additionalData.withUnsafeBufferPointer {
                        EVP_DecryptUpdate(ctx, nil, &len, $0.baseAddress, Int32($0.count))
                    }
                    guard rc == 1 else { return .setupFailed }
                }
                var written = 0
                if ctLen > 0 {
                    guard EVP_DecryptUpdate(ctx, o.baseAddress, &len, input + nonceByteCount, Int32(ctLen)) == 1 else {
                        return .setupFailed
                    }
                    written = Int(len)
                }
                let tagSet = tag.withUnsafeMutableBytes {
                    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, Int32(tagByteCount), $0.baseAddress)
                }
                guard tagSet == 1 else { return .setupFailed }
                guard EVP_DecryptFinal_ex(ctx, o.baseAddress! + written, &len) == 1 else { return .tagMismatch }
                return written + Int(len) == ctLen ? .ok : .setupFailed
            }
        }
        switch outcome {
        case .ok:
            if ctLen == 0 { return [] }
            return out
        case .tagMismatch:
            wipe(&out)
            OpenSSLErrors.clear()
            throw CryptoError(.authenticationFailed,
                              "AES-256-GCM: authentication failed (wrong key or additional data, or data was altered)")
        case .setupFailed:
            wipe(&out)
            throw CryptoError.openSSL("AES-256-GCM decrypt")
        }
    }
}
