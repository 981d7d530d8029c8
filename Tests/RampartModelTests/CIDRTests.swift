@testable import RampartModel
import TestSupport
import XCTest

/// Validation's side of the shared CIDR table (the gateway's tests check serving against the same rows).
final class CIDRTests: XCTestCase {
    func testEveryRowParsesAsTheTableSays() {
        for row in CIDRCases.rows {
            let cidr = CIDR(row.text)
            XCTAssertEqual(cidr?.address, row.parsed?.address, "\(row.text): \(row.why)")
            XCTAssertEqual(cidr?.prefix, row.parsed?.prefix, "\(row.text): \(row.why)")
            XCTAssertEqual(Values.cidr(row.text) != nil, row.parsed != nil, "\(row.text): \(row.why)")
        }
    }

    func testADescriptionParsesBackToTheSameNetwork() {
        for row in CIDRCases.rows {
            guard let cidr = CIDR(row.text) else { continue }
            XCTAssertEqual(CIDR(cidr.description), cidr, row.text)
        }
    }

    func testValidationRefusesEveryRefusedRow() throws {
        for row in CIDRCases.rows where row.parsed == nil {
            let yaml = "apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: r}\nspec:\n  upstreamRef: {name: u}\n"
                + "  paths: [/x]\n  plugins:\n    ip-restriction: {allow: ['\(row.text)']}\n"
            let errors = ManifestDecoder(dev: true).decode(file: "t.yaml", bytes: Array(yaml.utf8)).diagnostics
                .filter { $0.severity == .error }.map(\.description)
            XCTAssertEqual(errors.count, 1, "\(row.text) (\(row.why)): \(errors)")
            XCTAssertTrue(errors.first?.contains("spec.plugins.ip-restriction.allow[0]") ?? false, "\(row.text): \(errors)")
        }
    }

    func testAnIPv4MappedClientMatchesTheIPv4NetworkAndNoOther() throws {
        let net = try XCTUnwrap(CIDR("10.0.0.0/8"))
        let mapped = try XCTUnwrap(CIDR.parseAddress("::ffff:10.9.9.9"))
        XCTAssertEqual(mapped.count, 16)
        XCTAssertTrue(net.contains(mapped))
        XCTAssertFalse(net.contains(try XCTUnwrap(CIDR.parseAddress("::ffff:11.9.9.9"))))
        // Not mapped: ::10.9.9.9 (IPv4-compatible, deprecated) and 64:ff9b::10.9.9.9 (NAT64) are other hosts.
        XCTAssertFalse(net.contains(try XCTUnwrap(CIDR.parseAddress("::10.9.9.9"))))
        XCTAssertFalse(net.contains(try XCTUnwrap(CIDR.parseAddress("64:ff9b::10.9.9.9"))))
        XCTAssertTrue(try XCTUnwrap(CIDR("::ffff:10.0.0.0/104")).contains([10, 1, 2, 3]))
        XCTAssertFalse(try XCTUnwrap(CIDR("2001:db8::/32")).contains([32, 1, 13, 184]), "4 bytes never match an IPv6 network")
        XCTAssertTrue([try XCTUnwrap(CIDR("192.0.2.0/24")), net].containsIP(mapped))
    }

    func testPrefixBoundaries() throws {
        let net = try XCTUnwrap(CIDR("10.0.0.0/12"))
        XCTAssertTrue(net.contains([10, 15, 255, 255]))
        XCTAssertFalse(net.contains([10, 16, 0, 0]))
        let any = try XCTUnwrap(CIDR("0.0.0.0/0"))
        XCTAssertTrue(any.contains([255, 255, 255, 255]))
        XCTAssertFalse(any.contains([UInt8](repeating: 0, count: 16)), "an IPv4 /0 is not every IPv6 address")
    }
}
