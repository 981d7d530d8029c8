import COpenSSL
import CShims
import Glibc
import RampartCrypto
import Synchronization

// OpenSSL contexts compiled from a snapshot. SSL_CTX objects are reference counted and
// thread-safe once configured; every SSL made from them lives on one loop.

enum TLSText {
    /// The OpenSSL error queue as one line (and emptied). Never contains key material.
    static func drainErrors() -> String {
        var parts: [String] = []
        while true {
            let e = ERR_get_error()
            if e == 0 { break }
            var buf = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(e, &buf, buf.count)
            parts.append(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return parts.isEmpty ? "unknown OpenSSL error" : parts.joined(separator: "; ")
    }

    /// A distinguished name in RFC 2253 form, control characters and non-ASCII escaped.
    static func name(_ n: OpaquePointer?) -> [UInt8] {
        guard let n, let bio = BIO_new(BIO_s_mem()) else { return [] }
        defer { BIO_free(bio) }
        let strFlags = UInt(ASN1_STRFLGS_ESC_2253) | UInt(ASN1_STRFLGS_ESC_CTRL) | UInt(ASN1_STRFLGS_ESC_MSB)
            | UInt(ASN1_STRFLGS_DUMP_UNKNOWN) | UInt(ASN1_STRFLGS_DUMP_DER)
        let flags = strFlags | UInt(XN_FLAG_SEP_COMMA_PLUS) | UInt(XN_FLAG_DN_REV) | UInt(XN_FLAG_FN_SN)
            | UInt(XN_FLAG_DUMP_UNKNOWN_FIELDS)
        guard X509_NAME_print_ex(bio, n, 0, flags) >= 0 else { return [] }
        var ptr: UnsafeMutablePointer<CChar>?
        let len = rampart_bio_get_mem_data(bio, &ptr)
        guard len > 0, let ptr else { return [] }
        // Header-safe: printable ASCII only (the flags above already escape the rest).
        return UnsafeRawBufferPointer(start: ptr, count: len).filter { $0 >= 0x20 && $0 < 0x7f }
    }
}

/// Settings shared by every context Rampart makes: TLS 1.2+, modern suites, no compression or renegotiation.
enum TLSSettings {
    static let cipherList = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
    static let sessionContext: [UInt8] = Array("rampart".utf8)

    static func apply(_ ctx: OpaquePointer, minVersion: TLSVersion, server: Bool) throws {
        var opts = rampart_SSL_OP_NO_COMPRESSION | rampart_SSL_OP_NO_RENEGOTIATION
        if server { opts |= rampart_SSL_OP_CIPHER_SERVER_PREFERENCE }
        _ = rampart_ssl_ctx_set_options(ctx, opts)
        let v = minVersion == .tls13 ? TLS1_3_VERSION : TLS1_2_VERSION
        guard rampart_ssl_ctx_set_min_proto_version(ctx, Int32(v)) == 1 else {
            throw GatewayError.invalidConfig("TLS: cannot set the minimum version: \(TLSText.drainErrors())")
        }
        guard SSL_CTX_set_cipher_list(ctx, cipherList) == 1 else {
            throw GatewayError.invalidConfig("TLS: cipher list refused: \(TLSText.drainErrors())")
        }
        let mode = Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS)
        _ = SSL_CTX_ctrl(ctx, SSL_CTRL_MODE, mode, nil)
        if server {
            _ = sessionContext.withUnsafeBufferPointer { SSL_CTX_set_session_id_context(ctx, $0.baseAddress, UInt32($0.count)) }
            SSL_CTX_set_alpn_select_cb(ctx, alpnSelect, nil)
        }
    }

    static func useChain(_ ctx: OpaquePointer, chain: [Certificate], key: PrivateKey, what: String) throws {
        guard let leaf = chain.first else { throw GatewayError.invalidConfig("\(what): no certificate") }
        let ok = leaf.withUnsafeX509 { SSL_CTX_use_certificate(ctx, $0) } == 1
        guard ok else { throw GatewayError.invalidConfig("\(what): certificate refused: \(TLSText.drainErrors())") }
        for c in chain.dropFirst() {
            let added = c.withUnsafeX509 { x in SSL_CTX_ctrl(ctx, SSL_CTRL_CHAIN_CERT, 1, UnsafeMutableRawPointer(x)) }
            guard added == 1 else { throw GatewayError.invalidConfig("\(what): chain certificate refused: \(TLSText.drainErrors())") }
        }
        guard key.withUnsafeEVPPKey({ SSL_CTX_use_PrivateKey(ctx, $0) }) == 1, SSL_CTX_check_private_key(ctx) == 1 else {
            _ = TLSText.drainErrors()
            throw GatewayError.invalidConfig("\(what): the private key does not match the certificate")
        }
    }

    static func addTrust(_ ctx: OpaquePointer, _ certs: [Certificate], clientCAList: Bool) throws {
        guard let store = SSL_CTX_get_cert_store(ctx) else { throw GatewayError.invalidConfig("TLS: no certificate store") }
        for c in certs {
            _ = c.withUnsafeX509 { X509_STORE_add_cert(store, $0) }
            if clientCAList { _ = c.withUnsafeX509 { SSL_CTX_add_client_CA(ctx, $0) } }
        }
        _ = TLSText.drainErrors()   // duplicates are harmless
    }
}

/// ALPN: http/1.1 when the client offers it; otherwise no ALPN (never a failed handshake).
private let alpnSelect: @convention(c) (OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
                                        UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?) -> Int32 = { _, out, outlen, inp, inlen, _ in
    guard let inp, let out, let outlen else { return SSL_TLSEXT_ERR_NOACK }
    let want: [UInt8] = [0x68, 0x74, 0x74, 0x70, 0x2f, 0x31, 0x2e, 0x31]   // "http/1.1"
    var i = 0
    let n = Int(inlen)
    while i < n {
        let l = Int(inp[i])
        if i + 1 + l > n { break }
        if l == want.count {
            var eq = true
            for k in 0..<l where inp[i + 1 + k] != want[k] { eq = false; break }
            if eq {
                out.pointee = inp + i + 1
                outlen.pointee = UInt8(l)
                return SSL_TLSEXT_ERR_OK
            }
        }
        i += 1 + l
    }
    return SSL_TLSEXT_ERR_NOACK
}

/// One server certificate's context and the per-connection settings that go with it.
final class ServerTLSEntry: @unchecked Sendable {
    let ctx: OpaquePointer
    let name: String
    let verifyMode: Int32
    let depth: Int32
    let minVersion: Int32
    /// `TLSPolicy.identity`: this context's session ID context, and what the Host binding compares.
    let identity: [UInt8]
    let ticketKey: PolicyTicketKey

    init(_ cert: ServerCertificate, ticketSecret: [UInt8]) throws {
        guard let ctx = SSL_CTX_new(TLS_server_method()) else {
            throw GatewayError.invalidConfig("SSL \(cert.name): SSL_CTX_new failed: \(TLSText.drainErrors())")
        }
        self.ctx = ctx
        name = cert.name
        identity = TLSPolicy.identity(cert)
        ticketKey = PolicyTicketKey(secret: ticketSecret, identity: identity)
        minVersion = Int32(cert.minVersion == .tls13 ? TLS1_3_VERSION : TLS1_2_VERSION)
        if let ca = cert.clientAuth {
            verifyMode = SSL_VERIFY_PEER | (ca.required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0)
            depth = Int32(max(0, min(ca.depth, 10)))
        } else {
            verifyMode = SSL_VERIFY_NONE
            depth = 0
        }
        try TLSSettings.apply(ctx, minVersion: cert.minVersion, server: true)
        try TLSSettings.useChain(ctx, chain: cert.chain, key: cert.key, what: "SSL \(cert.name)")
        if let ca = cert.clientAuth {
            try TLSSettings.addTrust(ctx, ca.ca, clientCAList: true)
            SSL_CTX_set_verify_depth(ctx, depth)
        }
        _ = identity.withUnsafeBufferPointer { SSL_CTX_set_session_id_context(ctx, $0.baseAddress, UInt32($0.count)) }
        SSL_CTX_set_ex_data(ctx, serverEntryExIndex, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { SSL_CTX_free(ctx) }
}

/// Session ticket key shared by the snapshots of one gateway, replaced after `lifetimeMs`
/// (tickets made with an older key then fall back to a full handshake).
final class TicketKeys: Sendable {
    static let lifetimeMs: Int64 = 12 * 3600 * 1000
    private let state = Mutex<(key: [UInt8], created: Int64)>(([], 0))

    func current(now: Int64 = monotonicMs()) -> [UInt8] {
        state.withLock { s in
            if s.key.isEmpty || now - s.created >= TicketKeys.lifetimeMs {
                s.key = Random.bytes(80)
                s.created = now
            }
            return s.key
        }
    }
}

/// The TLS listeners' view of one snapshot: a base context whose ClientHello callback picks a
/// certificate context by SNI. A connection keeps the object (and so its contexts) for its life.
final class ServerTLS: @unchecked Sendable {
    let base: OpaquePointer
    let entries: [ServerTLSEntry]
    let names: SNINames
    let defaultIndex: Int
    /// Certificates that could not be loaded: name → reason.
    let rejected: [String: String]
    /// (sni, notAfter seconds since 1970) for the expiry metric.
    let expiries: [(sni: String, notAfter: Double)]

    init?(certificates: [ServerCertificate], ticketKey: [UInt8]) {
        guard let base = SSL_CTX_new(TLS_server_method()) else { return nil }
        do {
            try TLSSettings.apply(base, minVersion: .tls12, server: true)
        } catch {
            SSL_CTX_free(base)
            return nil
        }
        self.base = base
        var entries: [ServerTLSEntry] = []
        var snis: [(index: Int, snis: [String])] = []
        var rejected: [String: String] = [:]
        var def = -1
        var exp: [(String, Double)] = []
        // Each SSL's ticket key is derived from this secret (see SessionPolicy.swift).
        var secret = ticketKey.count == 80 ? ticketKey : Random.bytes(80)
        for cert in certificates {
            do {
                let e = try ServerTLSEntry(cert, ticketSecret: secret)
                let i = entries.count
                entries.append(e)
                snis.append((index: i, snis: cert.snis))
                for s in cert.snis {
                    if let leaf = cert.chain.first { exp.append((s, leaf.notAfter.timeIntervalSince1970)) }
                }
                if cert.isDefault && def < 0 { def = i }
            } catch {
                rejected[cert.name] = "\(error)"
            }
        }
        secret.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
        self.entries = entries
        self.names = SNINames(snis)
        self.defaultIndex = def
        self.rejected = rejected
        self.expiries = exp
        _ = SSL_CTX_set_tlsext_ticket_key_evp_cb(base, policyTicketKeyCallback)
        SSL_CTX_set_client_hello_cb(base, serverClientHello, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { SSL_CTX_free(base) }

    /// exact > one-label wildcard > default; nil = no certificate (the handshake fails).
    func select(_ sni: UnsafeBufferPointer<UInt8>?) -> ServerTLSEntry? {
        if let sni, let p = sni.baseAddress, sni.count > 0, sni.count <= 253 {
            let i = names.lookup(p, sni.count)
            if i >= 0 { return entries[i] }
        }
        return defaultIndex >= 0 ? entries[defaultIndex] : nil
    }

    /// A new server-side SSL for an accepted socket, or nil.
    func newConnection(fd: Int32) -> OpaquePointer? {
        guard let ssl = SSL_new(base) else { _ = TLSText.drainErrors(); return nil }
        // One read(2) takes every record the socket holds, not a header and then a body (nginx does
        // the same): 2 fewer system calls per request, 6 per handshake. What it reads beyond the
        // record in hand is served from `tlsPending`, since epoll no longer reports it.
        SSL_set_read_ahead(ssl, 1)
        SSL_set_fd(ssl, fd)
        SSL_set_accept_state(ssl)
        return ssl
    }
}

/// The SNI host_name from a ClientHello's server_name extension.
private func sniFromHello(_ ssl: OpaquePointer) -> UnsafeBufferPointer<UInt8>? {
    var p: UnsafePointer<UInt8>?
    var len = 0
    guard SSL_client_hello_get0_ext(ssl, UInt32(TLSEXT_TYPE_server_name), &p, &len) == 1, let p, len >= 5 else { return nil }
    let listLen = Int(p[0]) << 8 | Int(p[1])
    guard listLen + 2 <= len else { return nil }
    var i = 2
    while i + 3 <= 2 + listLen {
        let type = p[i]
        let nl = Int(p[i + 1]) << 8 | Int(p[i + 2])
        guard i + 3 + nl <= 2 + listLen else { return nil }
        if type == 0 { return UnsafeBufferPointer(start: p + i + 3, count: nl) }
        i += 3 + nl
    }
    return nil
}

private let serverClientHello: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32 = { ssl, al, arg in
    guard let ssl, let arg else { return SSL_CLIENT_HELLO_ERROR }
    let tls = Unmanaged<ServerTLS>.fromOpaque(arg).takeUnretainedValue()
    guard let e = tls.select(sniFromHello(ssl)) else {
        al?.pointee = Int32(SSL_AD_UNRECOGNIZED_NAME)
        return SSL_CLIENT_HELLO_ERROR
    }
    guard SSL_set_SSL_CTX(ssl, e.ctx) != nil else {
        al?.pointee = Int32(SSL_AD_INTERNAL_ERROR)
        return SSL_CLIENT_HELLO_ERROR
    }
    _ = SSL_ctrl(ssl, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(e.minVersion), nil)
    // Sessions resume only under the policy they were made under (SessionPolicy.swift).
    _ = e.identity.withUnsafeBufferPointer { SSL_set_session_id_context(ssl, $0.baseAddress, UInt32($0.count)) }
    // `optional` mTLS admits a client whose certificate does not verify as anonymous: the handshake
    // goes on, and only a verified certificate's subject is ever passed upstream.
    SSL_set_verify(ssl, e.verifyMode, e.verifyMode == SSL_VERIFY_PEER ? admitUnverified : nil)
    if e.verifyMode != SSL_VERIFY_NONE { SSL_set_verify_depth(ssl, e.depth) }
    return SSL_CLIENT_HELLO_SUCCESS
}

/// An upstream's client context (`scheme: https`).
final class ClientTLS: @unchecked Sendable {
    let ctx: OpaquePointer
    let config: UpstreamTLSConfig

    init(_ config: UpstreamTLSConfig, upstream: String) throws {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else {
            throw GatewayError.invalidConfig("upstream \(upstream): SSL_CTX_new failed: \(TLSText.drainErrors())")
        }
        self.ctx = ctx
        self.config = config
        try TLSSettings.apply(ctx, minVersion: .tls12, server: false)
        let alpn: [UInt8] = [8] + Array("http/1.1".utf8)
        _ = alpn.withUnsafeBufferPointer { SSL_CTX_set_alpn_protos(ctx, $0.baseAddress, UInt32($0.count)) }
        if config.verify {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
            if let ca = config.ca {
                try TLSSettings.addTrust(ctx, ca, clientCAList: false)
            } else if SSL_CTX_set_default_verify_paths(ctx) != 1 {
                throw GatewayError.invalidConfig("upstream \(upstream): cannot load the system trust store: \(TLSText.drainErrors())")
            }
        } else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        }
        if let key = config.clientKey, !config.clientChain.isEmpty {
            try TLSSettings.useChain(ctx, chain: config.clientChain, key: key, what: "upstream \(upstream) client certificate")
        }
        // Client-side session cache: resumption on reconnects to the same node.
        _ = rampart_ssl_ctx_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_CLIENT))
    }

    deinit { SSL_CTX_free(ctx) }

    /// A new client SSL on a connected (or connecting) socket towards `host`.
    func newConnection(fd: Int32, host: String) -> OpaquePointer? {
        guard let ssl = SSL_new(ctx) else { _ = TLSText.drainErrors(); return nil }
        SSL_set_fd(ssl, fd)
        SSL_set_connect_state(ssl)
        let name = config.sni ?? host
        let isIP = SocketAddress(ip: name, port: 0) != nil
        if !isIP && !name.isEmpty { _ = rampart_ssl_set_tlsext_host_name(ssl, name) }
        if config.verify {
            if isIP {
                _ = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
            } else {
                _ = SSL_set1_host(ssl, name)
            }
        }
        return ssl
    }
}

/// Verification callback for `optional` mTLS: never fails the handshake; the result stays recorded
/// (`SSL_get_verify_result`), so an unverified certificate counts as no certificate.
private let admitUnverified: @convention(c) (Int32, OpaquePointer?) -> Int32 = { _, _ in 1 }
