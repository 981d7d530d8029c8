import Foundation
import XCTest
@testable import RampartCrypto

/// Certificates made by the `openssl` CLI in a temporary directory.
struct CertFixture {
    let dir: URL
    func read(_ name: String) throws -> String { try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8) }

    @discardableResult
    static func openssl(_ args: [String], in dir: URL) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = args
        p.currentDirectoryURL = dir
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw CryptoError(.invalidArgument, "openssl \(args.joined(separator: " ")) exited \(p.terminationStatus)")
        }
        return p.terminationStatus
    }

    static func make() throws -> CertFixture {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else { throw XCTSkip("no openssl CLI") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rampart-x509-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        // A self-signed leaf as in the brief (req -x509 marks it CA:TRUE via openssl.cnf's v3_ca).
        try openssl(["req", "-x509"] + ec + ["-keyout", "self.key", "-out", "self.crt", "-days", "30",
                     "-subj", "/CN=a.example.com",
                     "-addext", "subjectAltName=DNS:a.example.com,DNS:*.b.example.com,IP:192.0.2.7,IP:2001:db8::1"], in: dir)
        // A CA and a CA-signed leaf with CA:FALSE.
        try openssl(["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.crt", "-days", "365",
                     "-subj", "/CN=Rampart Test CA"], in: dir)
        try openssl(["req", "-new"] + ec + ["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/O=Rampart/CN=api.example.com"],
                    in: dir)
        try "basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:api.example.com,DNS:*.example.com\n"
            .write(to: dir.appendingPathComponent("leaf.ext"), atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                     "-days", "10", "-extfile", "leaf.ext", "-out", "leaf.crt"], in: dir)
        try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "other.key"], in: dir)
        try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.key"], in: dir)
        try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256",
                     "-pass", "pass:hunter2", "-out", "enc.key"], in: dir)
        return CertFixture(dir: dir)
    }

    func remove() { try? FileManager.default.removeItem(at: dir) }
}

final class X509Tests: XCTestCase {
    func testSelfSignedFields() throws {
        let f = try CertFixture.make()
        defer { f.remove() }
        let certs = try Certificate.parseChain(pem: try f.read("self.crt"))
        XCTAssertEqual(certs.count, 1)
        let c = certs[0]
        XCTAssertEqual(c.subjectCommonName, "a.example.com")
        XCTAssertEqual(c.subject, "CN=a.example.com")
        XCTAssertEqual(c.dnsNames, ["a.example.com", "*.b.example.com"])
        XCTAssertEqual(c.ipAddresses, ["192.0.2.7", "2001:db8::1"])
        let now = Date()
        XCTAssertLessThan(c.notBefore, now.addingTimeInterval(60))
        XCTAssertGreaterThan(c.notAfter, now.addingTimeInterval(29 * 86400))
        XCTAssertLessThan(c.notAfter, now.addingTimeInterval(31 * 86400))
        XCTAssertEqual(c.sha256Fingerprint.count, 64)
        XCTAssertEqual(c.sha256Fingerprint, Hex.encode(SHA256.hash(c.derBytes)))
        XCTAssertTrue(String(describing: c).contains("CN=a.example.com"))
    }

    func testChainOrderAndCA() throws {
        let f = try CertFixture.make()
        defer { f.remove() }
        let pem = "leading text is ignored\n" + (try f.read("leaf.crt")) + "\n" + (try f.read("ca.crt"))
        let chain = try Certificate.parseChain(pem: pem)
        XCTAssertEqual(chain.map(\.subjectCommonName), ["api.example.com", "Rampart Test CA"])
        XCTAssertEqual(chain.map(\.isCA), [false, true])
        XCTAssertEqual(chain[0].issuer, "CN=Rampart Test CA")
        XCTAssertEqual(chain[0].subject, "CN=api.example.com,O=Rampart")
        XCTAssertEqual(chain[0].dnsNames, ["api.example.com", "*.example.com"])
        XCTAssertEqual(chain[0].ipAddresses, [])
    }

    func testKeyMatch() throws {
        let f = try CertFixture.make()
        defer { f.remove() }
        let cert = try Certificate.parseChain(pem: try f.read("self.crt"))[0]
        let leaf = try Certificate.parseChain(pem: try f.read("leaf.crt"))[0]
        let key = try PrivateKey.parse(pem: try f.read("self.key"))
        XCTAssertEqual(key.algorithm, "EC")
        XCTAssertEqual(key.bits, 256)
        XCTAssertTrue(key.matches(cert))
        // A combined cert + key PEM (as some tools write it) yields the key.
        XCTAssertTrue(try PrivateKey.parse(pem: try f.read("self.crt") + (try f.read("self.key"))).matches(cert))
        XCTAssertFalse(key.matches(leaf))
        XCTAssertTrue(try PrivateKey.parse(pem: try f.read("leaf.key")).matches(leaf))
        XCTAssertFalse(try PrivateKey.parse(pem: try f.read("other.key")).matches(cert))
        let rsa = try PrivateKey.parse(pem: try f.read("rsa.key"))
        XCTAssertEqual(rsa.algorithm, "RSA")
        XCTAssertFalse(rsa.matches(cert))
    }

    func testPrivateKeyNeverPrinted() throws {
        let f = try CertFixture.make()
        defer { f.remove() }
        let pem = try f.read("self.key")
        let key = try PrivateKey.parse(pem: pem)
        let body = pem.split(separator: "\n").dropFirst().first.map(String.init) ?? "?"
        var dumped = ""
        dump(key, to: &dumped)
        for r in [String(describing: key), String(reflecting: key), dumped] {
            XCTAssertTrue(r.contains("***"), r)
            XCTAssertFalse(r.contains(body), r)
        }
    }

    func testBadPrivateKeys() throws {
        let f = try CertFixture.make()
        defer { f.remove() }
        XCTAssertThrowsError(try PrivateKey.parse(pem: try f.read("enc.key"))) { error in
            XCTAssertTrue(String(describing: error).contains("encrypted"), "\(error)")
        }
        let keyPEM = try f.read("self.key")
        var lines = keyPEM.split(separator: "\n").map(String.init)
        lines[1] = String(lines[1].reversed())
        let corrupt = lines.joined(separator: "\n")
        for bad in ["", "not a key", try f.read("self.crt"), corrupt] {
            XCTAssertThrowsError(try PrivateKey.parse(pem: bad)) { error in
                XCTAssertEqual((error as? CryptoError)?.kind, .malformed)
                XCTAssertFalse(String(describing: error).contains(lines[1]))
            }
        }
    }

    func testMalformedCertificates() throws {
        let f = try CertFixture.make()
        defer { f.remove() }
        let good = try f.read("self.crt")
        var lines = good.split(separator: "\n").map(String.init)
        lines[2] = String(repeating: "A", count: lines[2].count - 4) + "!!!!"
        let cases = ["", "hello", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", lines.joined(separator: "\n"),
                     try f.read("self.key"), good + "\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]
        for (i, pem) in cases.enumerated() {
            XCTAssertThrowsError(try Certificate.parseChain(pem: pem), "case \(i)") { error in
                XCTAssertEqual((error as? CryptoError)?.kind, .malformed, "case \(i): \(error)")
            }
        }
    }

    func testCoversHostname() throws {
        let f = try CertFixture.make()
        defer { f.remove() }
        let c = try Certificate.parseChain(pem: try f.read("self.crt"))[0]
        let cases: [(String, Bool)] = [
            ("a.example.com", true), ("A.Example.COM", true), ("a.example.com.", true),
            ("x.b.example.com", true), ("X-1.B.example.com", true),
            ("b.example.com", false), ("y.x.b.example.com", false), (".b.example.com", false), ("..b.example.com", false),
            ("x..b.example.com", false), ("x.b.example.com..", false), ("x y.b.example.com", false), ("é.b.example.com", false),
            ("*.b.example.com", true), ("*.example.com", false), ("*.x.b.example.com", false),
            ("example.com", false), ("aa.example.com", false), ("", false), ("a.example.com\u{0}.evil", false),
            ("192.0.2.7", true), ("2001:db8::1", true), ("2001:DB8:0::1", true), ("192.0.2.8", false),
        ]
        for (host, expected) in cases {
            XCTAssertEqual(c.covers(hostname: host), expected, host)
        }
        // The subject CN alone never counts.
        let leaf = try Certificate.parseChain(pem: try f.read("leaf.crt"))[0]
        XCTAssertTrue(leaf.covers(hostname: "www.example.com"))
        XCTAssertFalse(leaf.covers(hostname: "Rampart Test CA"))
        let ca = try Certificate.parseChain(pem: try f.read("ca.crt"))[0]
        XCTAssertEqual(ca.subjectCommonName, "Rampart Test CA")
        XCTAssertFalse(ca.covers(hostname: "rampart.test"))
    }
}
