import Foundation
import TestSupport
import XCTest

/// key-auth, basic-auth and limit-count through the real `rampart run`, with inline and file secrets.
final class PluginsRunTests: XCTestCase {
    func testProtectedRoutesWithInlineSecretsDoNotLeak() throws {
        let up = try TestUpstream(name: "up")
        defer { up.stop() }
        let r = try RampartInstance(extraArgs: ["--dev"])
        let key = "key-\(UUID().uuidString)"
        let password = "pw-\(UUID().uuidString)"
        try r.write("all.yaml", Manifests.upstream("web", port: up.port) + """
        ---
        \(Manifests.route("keyed", paths: ["/k", "/k/*"], upstream: "web", extra: """
          plugins:
            key-auth: {keys: [{value: \(key)}]}
            limit-count: {count: 2, window: 60s, key: consumer}
        """))
        ---
        \(Manifests.route("basic", paths: ["/b"], upstream: "web", extra: """
          plugins:
            basic-auth: {users: [{username: alice, password: {value: \(password)}}]}
        """))

        """)
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/k")?.status == 401 }, r.log)
        let ok = try XCTUnwrap(Curl.get(r.url + "/k/x", headers: ["apikey: \(key)"]))
        XCTAssertEqual(ok.status, 200)
        XCTAssertTrue(ok.headers.lowercased().contains("ratelimit-remaining: 1"), ok.headers)
        XCTAssertFalse(ok.body.contains(key), "the upstream does not get the key")
        XCTAssertEqual(Curl.get(r.url + "/k/x?apikey=\(key)")?.status, 200)
        let limited = try XCTUnwrap(Curl.get(r.url + "/k/x", headers: ["apikey: \(key)"]))
        XCTAssertEqual(limited.status, 429)
        XCTAssertEqual(Curl.get(r.url + "/k", headers: ["apikey: wrong"])?.status, 401)

        let basic = "Authorization: Basic " + Data("alice:\(password)".utf8).base64EncodedString()
        XCTAssertEqual(Curl.get(r.url + "/b", headers: [basic])?.status, 200)
        let refused = try XCTUnwrap(Curl.get(r.url + "/b", headers: ["Authorization: Basic " + Data("alice:nope".utf8).base64EncodedString()]))
        XCTAssertEqual(refused.status, 401)
        XCTAssertTrue(refused.headers.contains("WWW-Authenticate: Basic realm=\"rampart\""), refused.headers)

        let config = r.api("/api/v1/config")?.body ?? ""
        XCTAssertTrue(config.contains("keyed"), config)
        let status = r.api("/api/v1/status")?.body ?? ""
        // Without a Keyring, resources holding inline secrets are kept out of state.json; whatever is there is scanned.
        XCTAssertTrue(Poll.until { FileManager.default.fileExists(atPath: r.stateDir + "/state.json") })
        r.stop()
        let leaks = SecretScan.find([key, password], inDirectories: [r.stateDir],
                                    texts: ["log": r.log, "config": config, "status": status])
        XCTAssertEqual(leaks, [])
    }

    func testKeyFromFileSecretRefAndUnresolvableRefFailsClosed() throws {
        let up = try TestUpstream(name: "up")
        defer { up.stop() }
        let dir = try TempDir.make("keys")
        let key = "filekey-\(UUID().uuidString)"
        try key.write(toFile: dir + "/api.key", atomically: true, encoding: .utf8)
        let r = try RampartInstance(extraArgs: ["--dev"])
        try r.write("all.yaml", Manifests.upstream("web", port: up.port) + """
        ---
        apiVersion: rampart.io/v1alpha1
        kind: SecretRef
        metadata: {name: api-key}
        spec: {provider: file, file: {path: \(dir)/api.key}}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: SecretRef
        metadata: {name: absent}
        spec: {provider: file, file: {path: \(dir)/absent.key}}
        ---
        \(Manifests.route("filed", paths: ["/f"], upstream: "web", extra: """
          plugins:
            key-auth: {keys: [{secretRef: {name: api-key}}]}
        """))
        ---
        \(Manifests.route("broken", paths: ["/x"], upstream: "web", extra: """
          plugins:
            key-auth: {keys: [{secretRef: {name: absent}}]}
        """))

        """)
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/f", headers: ["apikey: \(key)"])?.status == 200 }, r.log)
        XCTAssertEqual(Curl.get(r.url + "/f")?.status, 401)
        let refused = try XCTUnwrap(Curl.get(r.url + "/x", headers: ["apikey: anything"]))
        XCTAssertEqual(refused.status, 503, "not served, and not served open")
        XCTAssertEqual(refused.body, "{\"error\":\"route not served\",\"reason\":\"SecretUnavailable\"}\n")
        XCTAssertTrue(Poll.until { r.log.contains("broken is not served") }, r.log)
        let config = r.api("/api/v1/config")?.body ?? ""
        r.stop()
        XCTAssertEqual(SecretScan.find([key], inDirectories: [r.stateDir], texts: ["log": r.log, "config": config]), [])
    }
}
