import COpenSSL

/// Cryptography on OpenSSL 3.
public enum CryptoInfo {
    /// The linked OpenSSL version, for `rampart version`.
    public static var openSSLVersion: String { String(cString: OpenSSL_version(OPENSSL_VERSION)) }
}
