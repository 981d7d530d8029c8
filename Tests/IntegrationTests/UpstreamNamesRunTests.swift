import Foundation
import TestSupport
import XCTest

/// The real binary with Upstream nodes named by host name: `localhost` resolves by definition and
/// `does-not-exist.invalid` never does (RFC 6761), so no test touches /etc/hosts or DNS.
final class UpstreamNamesRunTests: XCTestCase {
    func testUnresolvableNodeIsUnhealthyWithItsReasonAndTheResolvableOneServes() throws {
        let up = try TestUpstream(name: "named")
        defer { up.stop() }
        let r = try RampartInstance(extraArgs: ["--dev"])
        try r.write("all.yaml", """
        apiVersion: rampart.io/v1alpha1
        kind: Upstream
        metadata: {name: named}
        spec:
          nodes: [{host: localhost, port: \(up.port)}, {host: does-not-exist.invalid, port: \(up.port)}]
        ---
        apiVersion: rampart.io/v1alpha1
        kind: Upstream
        metadata: {name: gone}
        spec:
          nodes: [{host: does-not-exist.invalid, port: 80}]
        ---
        \(Manifests.route("named", paths: ["/named/*"], upstream: "named"))
        ---
        \(Manifests.route("gone", paths: ["/gone/*"], upstream: "gone"))

        """)
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/named/x")?.status == 200 }, r.log)
        for i in 0..<6 {
            XCTAssertEqual(Curl.get(r.url + "/named/\(i)")?.status, 200, "every request to the node that resolves")
        }
        let gone = try XCTUnwrap(Curl.get(r.url + "/gone/x"))
        XCTAssertEqual(gone.status, 503)
        XCTAssertFalse(gone.body.contains("invalid"), "the client is not told the internal name: \(gone.body)")
        let metrics = try XCTUnwrap(Curl.get(r.adminURL + "/metrics")?.body)
        for line in ["rampart_upstream_node_healthy{upstream=\"default/named\",node=\"127.0.0.1:\(up.port)\"} 1",
                     "rampart_upstream_node_healthy{upstream=\"default/named\",node=\"does-not-exist.invalid:\(up.port)\"} 0",
                     "rampart_upstream_node_healthy{upstream=\"default/gone\",node=\"does-not-exist.invalid:80\"} 0"] {
            XCTAssertTrue(metrics.contains(line), "\(line)\n\(metrics)")
        }
        XCTAssertTrue(Poll.until { r.log.contains("does-not-exist.invalid:80") }, r.log)
        let status = r.api("/api/v1/status")?.body ?? ""
        XCTAssertTrue(status.contains("\"node\":\"does-not-exist.invalid:80\",\"healthy\":false,\"reason\":\"does not resolve"), status)
        let lines = r.log.split(separator: "\n").filter { $0.contains("does-not-exist.invalid") }
        XCTAssertEqual(lines.count, 2, "one line per node, not one per lookup: \(lines)")
        XCTAssertTrue(lines.allSatisfy { $0.contains("does not resolve") }, "\(lines)")
        XCTAssertEqual(up.log.filter { $0.hasPrefix("REQ") }.count, 7, "\(up.log)")
    }
}
