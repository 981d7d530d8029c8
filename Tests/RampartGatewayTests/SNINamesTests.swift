import RampartCrypto
import TestSupport
import XCTest
@testable import RampartGateway

/// The byte name table shared by SNI selection and the Host binding, the client-auth policy identity,
/// and the binding decision itself.
final class SNINamesTests: XCTestCase {
    static let pkiBox = Result { try TestPKI() }

    func lookup(_ t: SNINames, _ name: String) -> Int {
        let bytes = Array(name.utf8)
        return bytes.withUnsafeBufferPointer { b in b.baseAddress.map { t.lookup($0, b.count) } ?? -1 }
    }

    func testExactBeatsWildcardFirstListedWinsOneLabelCaseAndTrailingDot() {
        let t = SNINames([(index: 0, snis: ["*.example.com"]), (index: 1, snis: ["API.example.com"]),
                          (index: 2, snis: ["api.example.com", "*.example.com", "Other.Test."])])
        XCTAssertEqual(lookup(t, "api.example.com"), 1, "exact beats a wildcard listed before it; the first exact wins")
        XCTAssertEqual(lookup(t, "Api.Example.COM."), 1)
        XCTAssertEqual(lookup(t, "shop.example.com"), 0, "the first wildcard wins")
        XCTAssertEqual(lookup(t, "SHOP.example.com."), 0)
        XCTAssertEqual(lookup(t, "other.test"), 2)
        XCTAssertEqual(lookup(t, "a.b.example.com"), -1, "a wildcard covers one label")
        XCTAssertEqual(lookup(t, "example.com"), -1)
        XCTAssertEqual(lookup(t, ".example.com"), -1, "an empty label is not a label")
        XCTAssertEqual(lookup(t, "."), -1)
        XCTAssertEqual(lookup(t, "api.example.com.."), -1, "only one trailing dot is ignored")
        XCTAssertEqual(lookup(t, "api.example.co"), -1)
        XCTAssertEqual(lookup(SNINames([]), "api.example.com"), -1)
    }

    func server(_ name: String, clientAuth: ClientAuthConfig?, snis: [String] = ["secure.example.com"]) throws -> ServerCertificate {
        let pki = try Self.pkiBox.get()
        return ServerCertificate(name: name, snis: snis, chain: try Certificate.parseChain(pem: pki.pem("wild.crt")),
                                 key: try PrivateKey.parse(pem: pki.pem("wild.key")), clientAuth: clientAuth)
    }

    func testPolicyIdentityChangesWithNameModeDepthAndCA() throws {
        let pki = try Self.pkiBox.get()
        let ca = try Certificate.parseChain(pem: pki.pem("ca.crt"))
        let other = try Certificate.parseChain(pem: pki.pem("otherca.crt"))
        let base = TLSPolicy.identity(try server("default/secure", clientAuth: ClientAuthConfig(ca: ca, required: true, depth: 2)))
        XCTAssertEqual(base.count, 32)
        XCTAssertEqual(base, TLSPolicy.identity(try server("default/secure", clientAuth: ClientAuthConfig(ca: ca, required: true, depth: 2),
                                                           snis: ["other.example.com"])),
                       "the same SSL and policy keep their sessions when the names change")
        let variants = [
            try server("default/secure2", clientAuth: ClientAuthConfig(ca: ca, required: true, depth: 2)),
            try server("default/secure", clientAuth: ClientAuthConfig(ca: ca, required: false, depth: 2)),
            try server("default/secure", clientAuth: ClientAuthConfig(ca: ca, required: true, depth: 3)),
            try server("default/secure", clientAuth: ClientAuthConfig(ca: other, required: true, depth: 2)),
            try server("default/secure", clientAuth: ClientAuthConfig(ca: ca + other, required: true, depth: 2)),
            try server("default/secure", clientAuth: nil),
        ].map(TLSPolicy.identity)
        XCTAssertEqual(Set(variants + [base]).count, variants.count + 1, "every policy change gives another identity")
    }

    func conn(verifiedUnder identity: [UInt8]) throws -> ClientConn {
        let peer = try XCTUnwrap(SocketAddress(ip: "127.0.0.1", port: 1))
        let c = ClientConn(fd: -1, serial: 0, peer: peer, trusted: false, bufferSize: 64)
        c.verifiedPolicy = identity
        return c
    }

    func admits(_ b: HostBinding, _ c: ClientConn, _ host: String) -> Bool {
        let bytes = Array(host.utf8)
        return bytes.withUnsafeBufferPointer { p in p.baseAddress.map { b.admits(c, $0, p.count) } ?? true }
    }

    func testBindingAdmitsOnlyTheConnectionVerifiedUnderTheHostsSSL() throws {
        let ca = try Certificate.parseChain(pem: Self.pkiBox.get().pem("ca.crt"))
        let secure = try server("default/secure", clientAuth: ClientAuthConfig(ca: ca, required: true))
        let wild = try server("default/wild", clientAuth: ClientAuthConfig(ca: ca, required: true), snis: ["*.example.com"])
        let plain = try server("default/api", clientAuth: nil, snis: ["api.example.com"])
        let optional = try server("default/opt", clientAuth: ClientAuthConfig(ca: ca, required: false), snis: ["opt.example.com"])
        let binding = HostBinding([secure, wild, plain, optional],
                                  withheld: [WithheldClientAuth(name: "default/old", snis: ["old.example.com"])])
        let anonymous = try conn(verifiedUnder: [])
        let underSecure = try conn(verifiedUnder: TLSPolicy.identity(secure))
        let underWild = try conn(verifiedUnder: TLSPolicy.identity(wild))
        let underOptional = try conn(verifiedUnder: TLSPolicy.identity(optional))

        XCTAssertFalse(admits(binding, anonymous, "secure.example.com"))
        XCTAssertFalse(admits(binding, underWild, "SECURE.example.com."), "verified under another SSL with the same CA")
        XCTAssertFalse(admits(binding, underOptional, "secure.example.com"))
        XCTAssertTrue(admits(binding, underSecure, "Secure.Example.Com"))
        XCTAssertFalse(admits(binding, underSecure, "shop.example.com"))
        XCTAssertTrue(admits(binding, underWild, "shop.example.com"))
        // Not bound: no client auth (exact beats the require wildcard), optional, unknown names, no Host.
        XCTAssertTrue(admits(binding, anonymous, "api.example.com"))
        XCTAssertTrue(admits(binding, anonymous, "opt.example.com"))
        XCTAssertTrue(admits(binding, anonymous, "a.b.example.com"))
        XCTAssertTrue(admits(binding, anonymous, "other.test"))
        // A withheld require SSL admits nobody, whatever the connection verified.
        for c in [anonymous, underSecure, underWild, underOptional] { XCTAssertFalse(admits(binding, c, "old.example.com")) }
        // Nothing requires a client certificate: everything is admitted.
        XCTAssertTrue(admits(HostBinding([plain, optional]), anonymous, "api.example.com"))
    }
}
