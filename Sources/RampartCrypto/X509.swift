import COpenSSL
import CShims
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Longest PEM text accepted by the parsers (certificate bundles included).
let maxPEMLength = 4 << 20

/// Runs `body` with a read-only memory BIO over `bytes`; the bytes outlive the BIO.
private func withMemoryBIO<R>(_ bytes: [UInt8], _ what: String, _ body: (OpaquePointer) throws -> R) throws -> R {
    guard !bytes.isEmpty else { throw CryptoError(.malformed, "\(what): empty PEM") }
    guard bytes.count <= maxPEMLength else { throw CryptoError(.malformed, "\(what): PEM larger than \(maxPEMLength) bytes") }
    return try bytes.withUnsafeBytes { buf in
        guard let bio = BIO_new_mem_buf(buf.baseAddress, Int32(buf.count)) else { throw CryptoError.openSSL("BIO_new_mem_buf") }
        defer { BIO_free(bio) }
        return try body(bio)
    }
}

private func asn1TimeToDate(_ t: UnsafePointer<ASN1_TIME>?) -> Date? {
    guard let t else { return nil }
    var tm = tm()
    guard ASN1_TIME_to_tm(t, &tm) == 1 else { return nil }
    return Date(timeIntervalSince1970: TimeInterval(timegm(&tm)))
}

private func asn1StringToUTF8(_ s: UnsafePointer<ASN1_STRING>?) -> String? {
    guard let s else { return nil }
    var out: UnsafeMutablePointer<UInt8>?
    let n = ASN1_STRING_to_UTF8(&out, s)
    guard n >= 0, let out else { return nil }
    defer { CRYPTO_free(out, #fileID, #line) }
    return String(decoding: UnsafeBufferPointer(start: out, count: Int(n)), as: UTF8.self)
}

private func asn1Bytes(_ s: UnsafePointer<ASN1_STRING>?) -> [UInt8] {
    guard let s, let data = ASN1_STRING_get0_data(s) else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(s))))
}

/// `XN_FLAG_RFC2253`, spelled out: Swift does not import that composite macro.
private let xnFlagRFC2253: UInt = {
    let strFlags = UInt(ASN1_STRFLGS_ESC_2253) | UInt(ASN1_STRFLGS_ESC_CTRL) | UInt(ASN1_STRFLGS_ESC_MSB)
        | UInt(ASN1_STRFLGS_UTF8_CONVERT) | UInt(ASN1_STRFLGS_DUMP_UNKNOWN) | UInt(ASN1_STRFLGS_DUMP_DER)
    return strFlags | UInt(XN_FLAG_SEP_COMMA_PLUS) | UInt(XN_FLAG_DN_REV) | UInt(XN_FLAG_FN_SN)
        | UInt(XN_FLAG_DUMP_UNKNOWN_FIELDS)
}()

private func nameOneLine(_ name: OpaquePointer?) -> String {
    guard let name, let bio = BIO_new(BIO_s_mem()) else { return "" }
    defer { BIO_free(bio) }
    guard X509_NAME_print_ex(bio, name, 0, xnFlagRFC2253) >= 0 else { return "" }
    var ptr: UnsafeMutablePointer<CChar>?
    let len = rampart_bio_get_mem_data(bio, &ptr)
    guard len > 0, let ptr else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: ptr, count: len), as: UTF8.self)
}

private func ipToString(_ bytes: [UInt8]) -> String? {
    let family: Int32
    switch bytes.count {
    case 4: family = AF_INET
    case 16: family = AF_INET6
    default: return nil
    }
    var buf = [CChar](repeating: 0, count: 64)
    let ok = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buf, socklen_t(buf.count)) != nil }
    return ok ? String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
}

/// An X.509 certificate (owns an OpenSSL `X509`), with the fields the gateway checks eagerly decoded.
public final class Certificate: @unchecked Sendable, CustomStringConvertible, Equatable {
    // X509 objects are only read after parsing; OpenSSL 3 guards its internal caches.
    let handle: OpaquePointer

    public let notBefore: Date
    public let notAfter: Date
    /// Subject commonName, if present.
    public let subjectCommonName: String?
    /// Subject and issuer distinguished names, RFC 2253 form.
    public let subject: String
    public let issuer: String
    /// subjectAltName dNSName entries, as written in the certificate.
    public let dnsNames: [String]
    /// subjectAltName iPAddress entries in text form (`192.0.2.1`, `2001:db8::1`).
    public let ipAddresses: [String]
    /// True when basicConstraints says `CA:TRUE`.
    public let isCA: Bool
    /// Lowercase hex SHA-256 of the DER encoding.
    public let sha256Fingerprint: String

    /// The same certificate: the same DER bytes.
    public static func == (lhs: Certificate, rhs: Certificate) -> Bool {
        lhs === rhs || lhs.sha256Fingerprint == rhs.sha256Fingerprint
    }

    /// Takes ownership of `x509` (freed on deinit). If this throws, the caller still owns (and frees) it.
    init(taking x509: OpaquePointer) throws {
        handle = x509
        let flags = X509_get_extension_flags(x509)
        guard flags & UInt32(EXFLAG_INVALID) == 0 else {
            throw CryptoError(.malformed, "certificate: invalid or duplicate extensions")
        }
        guard let nb = asn1TimeToDate(X509_get0_notBefore(x509)), let na = asn1TimeToDate(X509_get0_notAfter(x509)) else {
            throw CryptoError(.malformed, "certificate: unreadable validity dates")
        }
        notBefore = nb
        notAfter = na
        isCA = flags & UInt32(EXFLAG_CA) != 0
        let subjectName = X509_get_subject_name(x509)
        subject = nameOneLine(subjectName)
        issuer = nameOneLine(X509_get_issuer_name(x509))
        var cn: String?
        let idx = X509_NAME_get_index_by_NID(subjectName, NID_commonName, -1)
        if idx >= 0, let entry = X509_NAME_get_entry(subjectName, idx) {
            cn = asn1StringToUTF8(X509_NAME_ENTRY_get_data(entry))
        }
        subjectCommonName = cn

        var dns: [String] = []
        var ips: [String] = []
        if let raw = X509_get_ext_d2i(x509, NID_subject_alt_name, nil, nil) {
            let stack = OpaquePointer(raw)
            defer { GENERAL_NAMES_free(stack) }
            for i in 0..<max(0, OPENSSL_sk_num(stack)) {
                guard let gp = OPENSSL_sk_value(stack, i) else { continue }
                let gn = gp.assumingMemoryBound(to: GENERAL_NAME.self)
                switch gn.pointee.type {
                case GEN_DNS:
                    dns.append(String(decoding: asn1Bytes(gn.pointee.d.dNSName), as: UTF8.self))
                case GEN_IPADD:
                    if let ip = ipToString(asn1Bytes(gn.pointee.d.iPAddress)) { ips.append(ip) }
                default:
                    break
                }
            }
        }
        dnsNames = dns
        ipAddresses = ips

        var md = [UInt8](repeating: 0, count: 64)
        var mdLen: UInt32 = 0
        guard X509_digest(x509, EVP_sha256(), &md, &mdLen) == 1 else {
            throw CryptoError.openSSL("X509_digest")
        }
        sha256Fingerprint = Hex.encode(Array(md.prefix(Int(mdLen))))
        OpenSSLErrors.clear()
    }

    deinit { X509_free(handle) }

    /// Parses every `CERTIFICATE` block of a PEM bundle, in order (leaf first for a chain).
    /// Text outside PEM blocks is ignored; a corrupt block or no certificate at all is an error.
    public static func parseChain(pem: String) throws -> [Certificate] {
        OpenSSLErrors.clear()
        return try withMemoryBIO(Array(pem.utf8), "certificate") { bio in
            var certs: [Certificate] = []
            while true {
                guard let x = PEM_read_bio_X509(bio, nil, nil, nil) else {
                    let err = ERR_peek_last_error()
                    if !certs.isEmpty && ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE {
                        OpenSSLErrors.clear()
                        return certs
                    }
                    if certs.isEmpty && ERR_GET_REASON(err) == PEM_R_NO_START_LINE {
                        OpenSSLErrors.clear()
                        throw CryptoError(.malformed, "certificate: no PEM CERTIFICATE block found")
                    }
                    let detail = OpenSSLErrors.drain()
                    throw CryptoError(.malformed, "certificate #\(certs.count + 1) in PEM is invalid: \(detail)")
                }
                do {
                    certs.append(try Certificate(taking: x))
                } catch {
                    X509_free(x)
                    throw error
                }
                if certs.count > 64 { throw CryptoError(.malformed, "certificate: more than 64 certificates in one PEM") }
            }
        }
    }

    /// DER encoding.
    public var derBytes: [UInt8] {
        let n = i2d_X509(handle, nil)
        guard n > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: Int(n))
        out.withUnsafeMutableBufferPointer { buf in
            var p: UnsafeMutablePointer<UInt8>? = buf.baseAddress
            _ = i2d_X509(handle, &p)
        }
        return out
    }

    /// True when this certificate is valid for `hostname` per RFC 6125 with OpenSSL's `X509_check_host`:
    /// subjectAltName only (the subject CN is never used), case-insensitive, a wildcard only as the whole
    /// leftmost label and matching exactly one label (`*.b.example.com` covers `x.b.example.com`, not
    /// `b.example.com` or `y.x.b.example.com`). IP literals match iPAddress entries. A wildcard `hostname`
    /// (an SNI pattern such as `*.example.com`) is covered only by the identical wildcard entry.
    public func covers(hostname: String) -> Bool {
        var host = hostname
        if host.hasSuffix(".") { host.removeLast() }
        guard !host.isEmpty, host.utf8.count <= 253, !host.utf8.contains(0) else { return false }
        if host.hasPrefix("*.") {
            let wanted = host.lowercased()
            return dnsNames.contains { $0.lowercased() == wanted }
        }
        defer { OpenSSLErrors.clear() }
        let ip = X509_check_ip_asc(handle, host, 0)
        if ip == 1 { return true }
        if ip == 0 { return false }
        // X509_check_host treats a leading "." as "any subdomain": only plain DNS names get this far.
        guard Self.isDNSName(host) else { return false }
        let flags = UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT)
        return X509_check_host(handle, host, host.utf8.count, flags, nil) == 1
    }

    /// ASCII labels of 1...63 letters, digits, `-` or `_`, separated by single dots (IDNs as A-labels).
    static func isDNSName(_ host: String) -> Bool {
        let labels = host.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            (1...63).contains(label.count) && label.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
                    || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
            }
        }
    }

    /// Calls `body` with the underlying `X509*`, borrowed for the call (e.g. for `SSL_CTX_use_certificate`).
    public func withUnsafeX509<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R { try body(handle) }

    public var description: String {
        "Certificate(subject: \(subject), notAfter: \(notAfter), sha256: \(sha256Fingerprint.prefix(16))…)"
    }
}

/// A private key (owns an OpenSSL `EVP_PKEY`). Never printed, reflected or included in errors.
public final class PrivateKey: @unchecked Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable, Equatable {
    let handle: OpaquePointer

    init(taking pkey: OpaquePointer) { handle = pkey }
    deinit { EVP_PKEY_free(handle) }

    /// The same key pair (OpenSSL compares the public parts; no key bytes leave OpenSSL).
    public static func == (lhs: PrivateKey, rhs: PrivateKey) -> Bool {
        lhs === rhs || EVP_PKEY_eq(lhs.handle, rhs.handle) == 1
    }

    /// Parses the first private key in `pem` (PKCS#8, traditional RSA/EC). Encrypted keys are refused
    /// (no passphrase prompt). Errors carry OpenSSL's reason text, never key bytes.
    public static func parse(pem: String) throws -> PrivateKey {
        var bytes = Array(pem.utf8)
        defer { wipe(&bytes) }
        OpenSSLErrors.clear()
        return try withMemoryBIO(bytes, "private key") { bio in
            // A callback that supplies no passphrase: the default one would prompt on the terminal.
            let noPassphrase: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = {
                _, _, _, _ in -1
            }
            guard let key = PEM_read_bio_PrivateKey(bio, nil, noPassphrase, nil) else {
                let detail = OpenSSLErrors.drain()
                let encrypted = pem.contains("ENCRYPTED")
                throw CryptoError(.malformed, encrypted
                    ? "private key: encrypted keys are not supported; provide an unencrypted PEM key"
                    : "private key: no valid PEM private key (\(detail))")
            }
            OpenSSLErrors.clear()
            return PrivateKey(taking: key)
        }
    }

    /// Key type name as OpenSSL reports it (`EC`, `RSA`, `ED25519`, ...).
    public var algorithm: String {
        guard let name = EVP_PKEY_get0_type_name(handle) else { return "unknown" }
        return String(cString: name)
    }

    /// Key size in bits.
    public var bits: Int { Int(EVP_PKEY_get_bits(handle)) }

    /// True when this key is the private half of `certificate`'s public key (`X509_check_private_key`).
    public func matches(_ certificate: Certificate) -> Bool {
        defer { OpenSSLErrors.clear() }
        return X509_check_private_key(certificate.handle, handle) == 1
    }

    /// Calls `body` with the underlying `EVP_PKEY*`, borrowed for the call (e.g. for `SSL_CTX_use_PrivateKey`).
    public func withUnsafeEVPPKey<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R { try body(handle) }

    public var description: String { "PrivateKey(\(algorithm), \(bits) bits, ***)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["algorithm": algorithm, "key": "***"], displayStyle: .class) }
}
