import Foundation
import TestSupport
import XCTest

/// Keyring, `rampart encrypt`/`reencrypt` and SecretRef resolution through the real binary.
final class SecretsRunTests: XCTestCase {
    let k1 = Data((0..<32).map { UInt8($0 * 3 % 256) }).base64EncodedString()
    let k2 = Data((0..<32).map { UInt8(($0 * 7 + 1) % 256) }).base64EncodedString()

    func keyringDocs(_ ids: [String], dir: String) -> String {
        var out = "apiVersion: rampart.io/v1alpha1\nkind: Keyring\nmetadata: {name: default}\nspec:\n  keys:\n"
        for id in ids { out += "    - {id: \(id), material: {secretRef: {name: key-\(id)}}}\n" }
        for id in ids {
            out += "---\napiVersion: rampart.io/v1alpha1\nkind: SecretRef\nmetadata: {name: key-\(id)}\nspec: {provider: file, file: {path: \(dir)/\(id).key}}\n"
        }
        return out
    }

    func testEncryptServeRotateAndReencryptWithoutLeaks() throws {
        let secretsDir = try TempDir.make("keys")
        try k1.write(toFile: secretsDir + "/k1.key", atomically: true, encoding: .utf8)
        try k2.write(toFile: secretsDir + "/k2.key", atomically: true, encoding: .utf8)
        let r = try RampartInstance()
        try r.write("keyring.yaml", keyringDocs(["k1"], dir: secretsDir))
        let plaintext = "hook-secret-\(UUID().uuidString)"
        let enc = try Command.rampart(["encrypt", r.manifests, "--resource", "ContactPoint/default/ops", "--field", "spec.hmacSecret"],
                                      stdin: plaintext + "\n")
        XCTAssertEqual(enc.code, 0, enc.stderr)
        XCTAssertTrue(enc.stdout.hasPrefix("$enc:v2:k1:"), enc.stdout)
        let inline = "inline-\(UUID().uuidString)"
        try r.write("cp.yaml", """
        apiVersion: rampart.io/v1alpha1
        kind: ContactPoint
        metadata: {name: ops}
        spec: {type: webhook, url: https://hooks.example/x, hmacSecret: {encrypted: "\(enc.stdout.trimmingCharacters(in: .whitespacesAndNewlines))"}}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: ContactPoint
        metadata: {name: dev}
        spec: {type: webhook, url: https://hooks.example/y, hmacSecret: {value: \(inline)}}

        """)
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { (try? String(contentsOfFile: r.stateDir + "/state.json", encoding: .utf8))?.contains("ContactPoint") ?? false })
        let status = r.api("/api/v1/status")?.body ?? ""
        XCTAssertTrue(status.contains("\"ref\":\"default/key-k1\",\"provider\":\"file\",\"ready\":true"), status)
        let config = r.api("/api/v1/config")?.body ?? ""
        XCTAssertEqual(r.api("/api/v1/secrets/refresh", method: "POST")?.status, 200)
        r.stop()
        let state = try String(contentsOfFile: r.stateDir + "/state.json", encoding: .utf8)
        XCTAssertEqual(state.components(separatedBy: "$enc:v2:k1:").count - 1, 2, "the encrypted value and the inline one, now encrypted")

        // Rotate: k2 first, k1 kept; reencrypt moves state.json to k2 and lists the manifest value still on k1.
        try r.write("keyring.yaml", keyringDocs(["k2", "k1"], dir: secretsDir))
        let re = try Command.rampart(["reencrypt", r.manifests, "--state-dir", r.stateDir])
        XCTAssertEqual(re.code, 1, "a manifest value still uses k1: " + re.stdout + re.stderr)
        XCTAssertTrue(re.stdout.contains("before: k1=2"), re.stdout)
        XCTAssertTrue(re.stdout.contains("after:  k2=2"), re.stdout)
        XCTAssertTrue(re.stderr.contains("cp.yaml:4:") && re.stderr.contains("encrypted with key \"k1\""), re.stderr)
        XCTAssertEqual(try Command.rampart(["audit", "verify", "--state-dir", r.stateDir]).code, 0)

        let leaks = SecretScan.find([plaintext, inline, k1, k2], inDirectories: [r.stateDir],
                                    texts: ["log": r.log, "status": status, "config": config, "reencrypt": re.stdout + re.stderr, "encrypt": enc.stdout + enc.stderr])
        XCTAssertEqual(leaks, [])
    }

    func testEnvAndFileSecretRefsReportStatusAndRefresh() throws {
        let dir = try TempDir.make("sref")
        try "v1".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        let r = try RampartInstance()
        try r.write("refs.yaml", """
        apiVersion: rampart.io/v1alpha1
        kind: SecretRef
        metadata: {name: from-file}
        spec: {provider: file, refreshInterval: 1h, file: {path: \(dir)/token}}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: SecretRef
        metadata: {name: missing-env}
        spec: {provider: env, env: {name: RAMPART_TEST_UNSET_\(UUID().uuidString.prefix(8))}}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: Keyring
        metadata: {name: default}
        spec:
          keys: [{id: k1, material: {secretRef: {name: from-file}}}]

        """)
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { r.api("/api/v1/status")?.body.contains("\"ref\":\"default/from-file\",\"provider\":\"file\",\"ready\":true") ?? false },
                      r.api("/api/v1/status")?.body ?? "")
        try "v2".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        XCTAssertEqual(r.api("/api/v1/secrets/refresh", method: "POST")?.status, 200)
        XCTAssertTrue(Poll.until { r.log.contains("secret changed; reconciling secretRef=default/from-file") }, r.log)
        let status = r.api("/api/v1/status")?.body ?? ""
        XCTAssertTrue(status.contains("\"ref\":\"default/missing-env\",\"provider\":\"env\",\"ready\":false"), status)
        let metrics = Curl.get(r.adminURL + "/metrics")?.body ?? ""
        XCTAssertTrue(metrics.contains("rampart_secret_resolutions_total{provider=\"file\",result=\"success\"}"), metrics)
        XCTAssertEqual(SecretScan.find(["v1", "v2"].map { "\"\($0)\"" }, inDirectories: [], texts: ["status": status]), [])
    }
}
