import COpenSSL
import Glibc
import RampartCrypto

// Sessions are kept apart per SSL and client-auth policy: each SSL's context has its own session ID
// context and its own session-ticket key, both derived from the policy identity. A session made
// under one SSL (say, without client auth) then never resumes under another that requires a client
// certificate: OpenSSL refuses a session whose ID context differs, and a ticket sealed with another
// policy's key is not even opened. Either way the client gets a full handshake.

/// The identity of one SSL's client-auth policy: its session ID context, the seed of its ticket key,
/// and what the Host binding compares (so a policy change also unbinds older connections).
enum TLSPolicy {
    /// SHA-256 over the SSL's name, its clientAuth mode and depth, and its CA certificates.
    static func identity(_ cert: ServerCertificate) -> [UInt8] {
        var message = Array("rampart tls policy v1".utf8)
        let name = Array(cert.name.utf8)
        appendLength(&message, name.count)
        message += name
        if let auth = cert.clientAuth {
            message.append(auth.required ? 2 : 1)
            message.append(UInt8(max(0, min(auth.depth, 10))))
            appendLength(&message, auth.ca.count)
            for ca in auth.ca { message += SHA256.hash(ca.derBytes) }
        } else {
            message.append(0)
        }
        return SHA256.hash(message)   // 32 bytes = SSL_MAX_SID_CTX_LENGTH
    }

    private static func appendLength(_ m: inout [UInt8], _ n: Int) {
        let v = UInt32(clamping: n)
        m += [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }
}

/// One policy's session-ticket key (key name, HMAC-SHA256 key, AES-256-CBC key), derived from the
/// gateway's ticket secret and the policy identity; wiped when the snapshot goes away.
final class PolicyTicketKey: @unchecked Sendable {
    private static let nameLen = 16, macLen = 32, aesLen = 32
    private let block: UnsafeMutablePointer<UInt8>   // name | mac key | aes key

    init(secret: [UInt8], identity: [UInt8]) {
        let total = PolicyTicketKey.nameLen + PolicyTicketKey.macLen + PolicyTicketKey.aesLen
        block = .allocate(capacity: total)
        var offset = 0
        for (label, len) in [("name", PolicyTicketKey.nameLen), ("hmac", PolicyTicketKey.macLen), ("aes", PolicyTicketKey.aesLen)] {
            var part = HMAC.sha256(key: secret, message: Array("rampart ticket \(label)".utf8) + identity)
            part.withUnsafeBufferPointer { src in
                if let base = src.baseAddress { (block + offset).update(from: base, count: len) }
            }
            part.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
            offset += len
        }
    }

    deinit {
        OPENSSL_cleanse(block, PolicyTicketKey.nameLen + PolicyTicketKey.macLen + PolicyTicketKey.aesLen)
        block.deallocate()
    }

    /// OpenSSL's ticket key callback contract: 1 ready (sealing), 2 opened and to be renewed, 0 not
    /// this key (full handshake), -1 error. An opened ticket is always renewed: TLS 1.3 clients use a
    /// ticket once (RFC 8446 C.4), so without a fresh one every other connection was a full handshake.
    func apply(name: UnsafeMutablePointer<UInt8>, iv: UnsafeMutablePointer<UInt8>, cipher: OpaquePointer,
               mac: OpaquePointer, encrypt: Bool) -> Int32 {
        if encrypt {
            name.update(from: block, count: PolicyTicketKey.nameLen)
            guard RAND_bytes(iv, 16) == 1 else { return -1 }   // AES block size = IV length
        } else if memcmp(name, block, PolicyTicketKey.nameLen) != 0 {
            return 0
        }
        let aes = block + PolicyTicketKey.nameLen + PolicyTicketKey.macLen
        let ok = encrypt ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nil, aes, iv)
                         : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nil, aes, iv)
        guard ok == 1 else { return -1 }
        // Names as static strings: OSSL_PARAM keeps the pointers until EVP_MAC_CTX_set_params returns.
        let keyParam: StaticString = "key", digestParam: StaticString = "digest", digest: StaticString = "SHA256"
        let set = withUnsafeTemporaryAllocation(of: OSSL_PARAM.self, capacity: 3) { params -> Int32 in
            guard let p = params.baseAddress else { return 0 }
            p[0] = OSSL_PARAM_construct_octet_string(UnsafeRawPointer(keyParam.utf8Start).assumingMemoryBound(to: CChar.self),
                                                     block + PolicyTicketKey.nameLen, PolicyTicketKey.macLen)
            p[1] = OSSL_PARAM_construct_utf8_string(UnsafeRawPointer(digestParam.utf8Start).assumingMemoryBound(to: CChar.self),
                                                    UnsafeMutablePointer(mutating: UnsafeRawPointer(digest.utf8Start)
                                                        .assumingMemoryBound(to: CChar.self)), 0)
            p[2] = OSSL_PARAM_construct_end()
            return EVP_MAC_CTX_set_params(mac, p)
        }
        guard set == 1 else { return -1 }
        return encrypt ? 1 : 2
    }
}

/// ex_data slot of an entry's SSL_CTX that points back to its `ServerTLSEntry` (unretained: the
/// connection keeps the `ServerTLS`, and so the entry, alive while its SSL exists).
let serverEntryExIndex: Int32 = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, nil, nil, nil, nil)

extension ServerTLSEntry {
    /// The entry whose context the ClientHello callback switched `ssl` to, if any.
    static func selected(_ ssl: OpaquePointer) -> ServerTLSEntry? {
        guard let ctx = SSL_get_SSL_CTX(ssl), let raw = SSL_CTX_get_ex_data(ctx, serverEntryExIndex) else { return nil }
        return Unmanaged<ServerTLSEntry>.fromOpaque(raw).takeUnretainedValue()
    }

    /// The policy identity of the SSL under which `ssl`'s client certificate verified, or empty.
    static func verifiedPolicy(_ ssl: OpaquePointer) -> [UInt8] {
        guard SSL_get0_peer_certificate(ssl) != nil, SSL_get_verify_result(ssl) == X509_V_OK,
              let entry = selected(ssl) else { return [] }
        return entry.identity
    }
}

/// Session tickets are sealed and opened with the key of the SSL the SNI selected (see above).
let policyTicketKeyCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt8>?,
                                             OpaquePointer?, OpaquePointer?, Int32) -> Int32 = { ssl, name, iv, cipher, mac, enc in
    guard let ssl, let name, let iv, let cipher, let mac, let entry = ServerTLSEntry.selected(ssl) else { return 0 }
    return entry.ticketKey.apply(name: name, iv: iv, cipher: cipher, mac: mac, encrypt: enc == 1)
}
