import Foundation
import RampartSecrets
import TestSupport
import XCTest

/// The AWS SigV4 test suite, vendored beside this file (`aws-sigv4/README.md`).
final class SigV4Tests: XCTestCase {
    struct Case {
        var name: String
        var dir: URL
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("aws-sigv4")
    static let date = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z
    static let creds = AWSCredentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")

    func cases() throws -> [Case] {
        let fm = FileManager.default
        guard let e = fm.enumerator(at: Self.root, includingPropertiesForKeys: nil) else { return [] }
        var out: [Case] = []
        for case let url as URL in e where url.pathExtension == "req" {
            out.append(Case(name: url.deletingPathExtension().lastPathComponent, dir: url.deletingLastPathComponent()))
        }
        return out.sorted { $0.name < $1.name }
    }

    /// Parses a `.req`: request line, `Name:value` headers (indented lines continue a value), blank line, body.
    func parseRequest(_ text: String) -> (method: String, target: String, headers: [(String, String)], body: [UInt8])? {
        var lines = text.components(separatedBy: "\n")
        guard !lines.isEmpty else { return nil }
        let first = lines.removeFirst()
        guard let sp = first.firstIndex(of: " "), let last = first.range(of: " HTTP/", options: .backwards) else { return nil }
        let method = String(first[..<sp])
        let target = String(first[first.index(after: sp)..<last.lowerBound])
        var headers: [(String, String)] = []
        var bodyLines: [String]? = nil
        for (i, l) in lines.enumerated() {
            if l.isEmpty { bodyLines = Array(lines[(i + 1)...]); break }
            if l.first == " " || l.first == "\t", !headers.isEmpty {
                headers[headers.count - 1].1 += "\n" + l
                continue
            }
            guard let c = l.firstIndex(of: ":") else { return nil }
            headers.append((String(l[..<c]), String(l[l.index(after: c)...])))
        }
        return (method, target, headers, Array((bodyLines ?? []).joined(separator: "\n").utf8))
    }

    func read(_ c: Case, _ ext: String) throws -> String {
        try String(contentsOf: c.dir.appendingPathComponent("\(c.name).\(ext)"), encoding: .utf8)
    }

    func testAWSSigV4TestSuite() throws {
        let all = try cases()
        XCTAssertEqual(all.count, 34, "aws-sigv4 cases under \(Self.root.path)")
        var creqOK = 0, stsOK = 0, authzOK = 0
        for c in all {
            guard let req = parseRequest(try read(c, "req")) else { XCTFail("\(c.name): cannot parse .req"); continue }
            let expectedCreq = try read(c, "creq")
            var creds = Self.creds
            if c.name == "get-vanilla-with-session-token" {
                // The token is a credential input (README); it appears in the expected canonical request.
                creds.sessionToken = expectedCreq.components(separatedBy: "\n")
                    .first { $0.hasPrefix("x-amz-security-token:") }.map { String($0.dropFirst("x-amz-security-token:".count)) }
            }
            let r = SigV4.sign(method: req.method, target: req.target, headers: req.headers, body: req.body,
                               credentials: creds, region: "us-east-1", service: "service", date: Self.date)
            if r.canonicalRequest == expectedCreq { creqOK += 1 } else {
                XCTFail("\(c.name): canonical request\n--- got\n\(r.canonicalRequest)\n--- want\n\(expectedCreq)")
            }
            if r.stringToSign == (try read(c, "sts")) { stsOK += 1 } else { XCTFail("\(c.name): string to sign\n\(r.stringToSign)") }
            if r.authorization == (try read(c, "authz")) { authzOK += 1 } else { XCTFail("\(c.name): authorization \(r.authorization)") }
        }
        print("SigV4 test suite: \(all.count) cases; canonical request \(creqOK)/\(all.count), string to sign \(stsOK)/\(all.count), Authorization \(authzOK)/\(all.count)")
        XCTAssertEqual(authzOK, all.count)
    }

    func testAmzDateAndMaskedCredentials() {
        XCTAssertEqual(SigV4.amzDate(Self.date), "20150830T123600Z")
        let c = AWSCredentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: "tok-secret-123")
        assertNoSecrets(renderings(c), ["wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "tok-secret-123"])
        let r = SigV4.sign(method: "POST", target: "/", headers: [("Host", "h")], body: [], credentials: c, region: "r", service: "s", date: Self.date)
        XCTAssertTrue(r.headers.contains { $0.0 == "X-Amz-Security-Token" && $0.1 == "tok-secret-123" })
        assertNoSecrets([String(describing: r)], ["tok-secret-123"])
    }
}
