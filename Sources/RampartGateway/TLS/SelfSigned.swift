import COpenSSL
import CShims
import Glibc
import RampartCrypto

/// A self-signed ECDSA P-256 certificate for the admin API (`--admin-tls auto`), made with OpenSSL.
public enum SelfSignedCertificate {
    public struct Generated: Sendable {
        public var certificatePEM: String
        /// PKCS#8 PEM; the caller writes it 0600 and wipes this copy.
        public var privateKeyPEM: [UInt8]
    }

    /// A new key and certificate valid for `dnsNames` and `ipAddresses` for `days` days.
    public static func generate(commonName: String, dnsNames: [String], ipAddresses: [String], days: Int = 825) throws -> Generated {
        defer { ERR_clear_error() }
        guard let kctx = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else { throw fail("EVP_PKEY_CTX_new_from_name") }
        defer { EVP_PKEY_CTX_free(kctx) }
        var pkey: OpaquePointer?
        guard EVP_PKEY_keygen_init(kctx) == 1, EVP_PKEY_CTX_set_group_name(kctx, "P-256") == 1,
              EVP_PKEY_generate(kctx, &pkey) == 1, let key = pkey else { throw fail("EC P-256 key generation") }
        defer { EVP_PKEY_free(key) }
        guard let x = X509_new() else { throw fail("X509_new") }
        defer { X509_free(x) }
        guard X509_set_version(x, 2) == 1 else { throw fail("X509_set_version") }
        var serial = Random.bytes(16)
        serial[0] &= 0x7f
        guard let bn = BN_bin2bn(serial, Int32(serial.count), nil) else { throw fail("BN_bin2bn") }
        defer { BN_free(bn) }
        guard BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nil,
              X509_gmtime_adj(X509_getm_notBefore(x), -3600) != nil,
              X509_gmtime_adj(X509_getm_notAfter(x), days * 86400) != nil,
              X509_set_pubkey(x, key) == 1 else { throw fail("certificate fields") }
        guard let name = X509_get_subject_name(x),
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, commonName, -1, -1, 0) == 1,
              X509_set_issuer_name(x, name) == 1 else { throw fail("certificate name") }
        let san = (dnsNames.map { "DNS:" + $0 } + ipAddresses.map { "IP:" + $0 }).joined(separator: ",")
        for (nid, value) in [(NID_subject_alt_name, san), (NID_basic_constraints, "critical,CA:FALSE"),
                             (NID_key_usage, "critical,digitalSignature"), (NID_ext_key_usage, "serverAuth")] {
            guard let ext = X509V3_EXT_conf_nid(nil, nil, nid, value) else { throw fail("extension \(value)") }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(x, ext, -1) == 1 else { throw fail("X509_add_ext") }
        }
        guard X509_sign(x, key, EVP_sha256()) > 0 else { throw fail("X509_sign") }
        let certPEM = try memPEM { PEM_write_bio_X509($0, x) == 1 }
        let keyPEM = try memPEM { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) == 1 }
        return Generated(certificatePEM: String(decoding: certPEM, as: UTF8.self), privateKeyPEM: keyPEM)
    }

    private static func memPEM(_ body: (OpaquePointer) -> Bool) throws -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw fail("BIO_new") }
        defer { BIO_free(bio) }
        guard body(bio) else { throw fail("PEM write") }
        var p: UnsafeMutablePointer<CChar>?
        let n = rampart_bio_get_mem_data(bio, &p)
        guard n > 0, let p else { throw fail("PEM write") }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }

    private static func fail(_ what: String) -> GatewayError {
        .invalidConfig("self-signed certificate: \(what) failed: \(TLSText.drainErrors())")
    }
}

/// The admin listener's certificate.
public struct AdminTLSConfig: Sendable {
    public var chain: [Certificate]
    public var key: PrivateKey
    public init(chain: [Certificate], key: PrivateKey) {
        self.chain = chain
        self.key = key
    }
}

/// The admin listener's TLS context (non-blocking connections on the admin I/O thread).
final class AdminTLSContext: @unchecked Sendable {
    let ctx: OpaquePointer

    init(_ config: AdminTLSConfig) throws {
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw GatewayError.invalidConfig("admin TLS: \(TLSText.drainErrors())") }
        self.ctx = ctx
        try TLSSettings.apply(ctx, minVersion: .tls12, server: true)
        try TLSSettings.useChain(ctx, chain: config.chain, key: config.key, what: "admin TLS")
    }

    deinit { SSL_CTX_free(ctx) }
}
