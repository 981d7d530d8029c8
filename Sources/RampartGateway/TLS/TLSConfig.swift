import RampartCrypto

// Public TLS configuration: what the controller compiles SSL resources and upstream `tls` blocks into.
// Certificates and keys arrive parsed (RampartCrypto); a `PrivateKey` never prints its bytes.

/// The lowest TLS version a listener certificate accepts (API.md 1.3 `minVersion`).
public enum TLSVersion: String, Sendable, Equatable {
    case tls12 = "TLSv1.2"
    case tls13 = "TLSv1.3"
}

/// Downstream client-certificate checks (mTLS) for one server certificate.
public struct ClientAuthConfig: Sendable {
    /// Trust anchors (and intermediates) client certificates must chain to.
    public var ca: [Certificate]
    /// true: the handshake fails without a valid client certificate; false: one is asked for, not required.
    public var required: Bool
    /// Longest accepted chain below the client certificate (OpenSSL verify depth).
    public var depth: Int

    public init(ca: [Certificate], required: Bool = true, depth: Int = 2) {
        self.ca = ca
        self.required = required
        self.depth = depth
    }
}

/// A server SSL that requires a client certificate but cannot be served (its certificate, key or CA
/// failed): its names answer 421 instead of being served without the client certificate (fail closed).
public struct WithheldClientAuth: Sendable, Equatable {
    /// `namespace/name` of the SSL resource.
    public var name: String
    public var snis: [String]

    public init(name: String, snis: [String]) {
        self.name = name
        self.snis = snis
    }
}

/// A certificate served on the TLS listeners, chosen by SNI.
public struct ServerCertificate: Sendable, CustomStringConvertible {
    /// Where it came from (`namespace/name` of the SSL resource), for logs and errors.
    public var name: String
    /// Exact names and `*.example.com` patterns (one label).
    public var snis: [String]
    /// Leaf first, then intermediates.
    public var chain: [Certificate]
    public var key: PrivateKey
    public var clientAuth: ClientAuthConfig?
    public var minVersion: TLSVersion
    /// Served when the SNI matches no certificate (or the client sends none).
    public var isDefault: Bool

    public init(name: String, snis: [String], chain: [Certificate], key: PrivateKey, clientAuth: ClientAuthConfig? = nil,
                minVersion: TLSVersion = .tls12, isDefault: Bool = false) {
        self.name = name
        self.snis = snis
        self.chain = chain
        self.key = key
        self.clientAuth = clientAuth
        self.minVersion = minVersion
        self.isDefault = isDefault
    }

    public var description: String { "ServerCertificate(\(name), snis: \(snis), key: ***)" }
}

/// TLS towards an upstream (`scheme: https`).
public struct UpstreamTLSConfig: Sendable, Equatable, CustomStringConvertible {
    /// SNI and the name verified in the upstream's certificate; default: the node's host when it is a name.
    public var sni: String?
    public var verify: Bool
    /// Trust anchors; nil = the system store.
    public var ca: [Certificate]?
    /// A client certificate (mTLS): leaf first, and its key.
    public var clientChain: [Certificate]
    public var clientKey: PrivateKey?

    public init(sni: String? = nil, verify: Bool = true, ca: [Certificate]? = nil, clientChain: [Certificate] = [],
                clientKey: PrivateKey? = nil) {
        self.sni = sni
        self.verify = verify
        self.ca = ca
        self.clientChain = clientChain
        self.clientKey = clientKey
    }

    public var description: String {
        "UpstreamTLSConfig(sni: \(sni ?? "-"), verify: \(verify), clientCert: \(clientChain.isEmpty ? "none" : "***"))"
    }
}

/// Leveled log lines from the data plane (TLS handshake failures towards upstreams, certificate problems).
public enum GatewayLogLevel: Sendable {
    case debug, info, warn, error
}

public typealias GatewayLogger = @Sendable (GatewayLogLevel, String, [String: String]) -> Void
