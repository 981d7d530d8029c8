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

    // MARK: rotation reaches the gateway

    /// Sends `request` in a loop on a background thread until `stop()`; counts the requests and those that failed.
    final class TrafficLoop: @unchecked Sendable {
        private let lock = NSLock()
        private var stopping = false
        private var counts = (sent: 0, failed: 0)
        private let finished = DispatchSemaphore(value: 0)

        init(_ request: @escaping @Sendable () -> Bool) {
            let t = Thread { [self] in
                while !lock.withLock({ stopping }) {
                    let ok = request()
                    lock.withLock { counts.sent += 1; if !ok { counts.failed += 1 } }
                }
                finished.signal()
            }
            t.start()
        }

        var sent: Int { lock.withLock { counts.sent } }

        func stop() -> (sent: Int, failed: Int) {
            lock.withLock { stopping = true }
            finished.wait()
            return lock.withLock { counts }
        }
    }

    func get(_ r: RampartInstance, _ path: String, key: String) -> Int {
        httpRequest(port: r.port, "GET \(path) HTTP/1.1\r\nHost: rot.test\r\napikey: \(key)\r\nConnection: close\r\n\r\n")?.status ?? 0
    }

    /// The audit entries of one resource whose diff is a change of a resolved SecretRef field.
    func rotationEntries(_ r: RampartInstance, kind: String, name: String) -> [String] {
        let log = (try? String(contentsOfFile: r.stateDir + "/audit.log", encoding: .utf8)) ?? ""
        return log.split(separator: "\n").map(String.init).filter {
            $0.contains("\"kind\":\"\(kind)\"") && $0.contains("\"name\":\"\(name)\"")
                && $0.contains("\\n-") && $0.contains("resolved: hmac-sha256:") && $0.contains("\"action\":\"changed\"")
        }
    }

    /// A Route whose first key-auth key comes from `secretRef` and whose second, inline, never changes: the
    /// traffic loop uses the second, so it must see no failure while the first rotates and the Route is reapplied.
    func keyRoute(upstream: Int, secretRef: String) -> String {
        Manifests.upstream("web", port: upstream) + "---\n" + Manifests.route("keyed", paths: ["/k"], upstream: "web", extra: """
          plugins:
            key-auth: {keys: [{secretRef: {name: \(secretRef), key: key}}, {value: steady-key-for-the-loop}]}

        """)
    }

    /// Rotates with `rotate`, then polls until `newKey` is admitted and `oldKey` refused, while a loop sends
    /// requests with the steady key; checks zero failures, one audit entry with digests and no plaintext anywhere.
    func assertRotation(_ r: RampartInstance, oldKey: String, newKey: String, rotate: () throws -> Void,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertTrue(Poll.until(timeout: 30) { get(r, "/k", key: oldKey) == 200 }, r.log, file: file, line: line)
        XCTAssertEqual(get(r, "/k", key: newKey), 401, file: file, line: line)
        XCTAssertEqual(rotationEntries(r, kind: "Route", name: "keyed"), [], file: file, line: line)
        let loop = TrafficLoop { [port = r.port] in
            httpRequest(port: port, "GET /k HTTP/1.1\r\nHost: rot.test\r\napikey: steady-key-for-the-loop\r\nConnection: close\r\n\r\n")?.status == 200
        }
        XCTAssertTrue(Poll.until(timeout: 30) { loop.sent > 5 }, file: file, line: line)
        try rotate()
        let served = Poll.until(timeout: 30) { get(r, "/k", key: newKey) == 200 && get(r, "/k", key: oldKey) == 401 }
        XCTAssertTrue(Poll.until(timeout: 30) { loop.sent > 5 + 20 }, file: file, line: line)
        let traffic = loop.stop()
        XCTAssertTrue(served, "the rotated key is served, the old one refused: " + r.log, file: file, line: line)
        XCTAssertEqual(traffic.failed, 0, "requests with a valid key failed during the rotation (\(traffic.sent) sent)", file: file, line: line)
        XCTAssertTrue(r.log.contains("secret changed; reconciling"), r.log, file: file, line: line)
        let entries = rotationEntries(r, kind: "Route", name: "keyed")
        XCTAssertEqual(entries.count, 1, "one audit entry for the rotation: \(entries)", file: file, line: line)
        XCTAssertEqual(try Command.rampart(["audit", "verify", "--state-dir", r.stateDir]).code, 0, file: file, line: line)
        let leaks = SecretScan.find([oldKey, newKey, "steady-key-for-the-loop"], inDirectories: [r.stateDir], texts: ["log": r.log])
        XCTAssertEqual(leaks, [], file: file, line: line)
    }

    func testFileRotationIsServedWithoutFailedRequestsAndAuditedByDigest() throws {
        let up = try TestUpstream(name: "rot-file")
        defer { up.stop() }
        let dir = try TempDir.make("rot-file")
        let oldKey = "file-old-\(UUID().uuidString)", newKey = "file-new-\(UUID().uuidString)"
        try "{\"key\": \"\(oldKey)\"}".write(toFile: dir + "/api", atomically: true, encoding: .utf8)
        let r = try RampartInstance(extraArgs: ["--dev"])
        try r.write("app.yaml", keyRoute(upstream: up.port, secretRef: "api") + """
        ---
        apiVersion: rampart.io/v1alpha1
        kind: SecretRef
        metadata: {name: api}
        spec: {provider: file, refreshInterval: 1s, file: {path: \(dir)/api}}

        """)
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        try assertRotation(r, oldKey: oldKey, newKey: newKey) {
            try "{\"key\": \"\(newKey)\"}".write(toFile: dir + "/api", atomically: true, encoding: .utf8)
        }
        // A restart knows what the last generation resolved (state.json) and the inline key's digest marker
        // matches the manifest's value again: the audit log records no change for it.
        r.stop()
        let auditLines = { (try? String(contentsOfFile: r.stateDir + "/audit.log", encoding: .utf8))?.split(separator: "\n").count ?? -1 }
        let before = auditLines()
        let again = try RampartInstance(manifests: r.manifests, stateDir: r.stateDir, extraArgs: ["--dev"])
        try again.start()
        XCTAssertTrue(again.waitReady(), again.log)
        XCTAssertTrue(Poll.until { get(again, "/k", key: newKey) == 200 && get(again, "/k", key: "steady-key-for-the-loop") == 200 }, again.log)
        XCTAssertTrue(Poll.until { again.log.contains("applied generation") }, again.log)
        again.stop()
        XCTAssertEqual(auditLines(), before, (try? String(contentsOfFile: r.stateDir + "/audit.log", encoding: .utf8)) ?? "")
        XCTAssertEqual(SecretScan.find([oldKey, newKey, "steady-key-for-the-loop"], inDirectories: [r.stateDir], texts: ["log": again.log]), [])
    }

    func testVaultKV2RotationIsServedWithoutFailedRequests() throws {
        let up = try TestUpstream(name: "rot-vault")
        defer { up.stop() }
        let vault = try VaultStandIn(rootToken: "root-\(UUID().uuidString)")
        defer { vault.stop() }
        let oldKey = "vault-old-\(UUID().uuidString)", newKey = "vault-new-\(UUID().uuidString)"
        XCTAssertEqual(vault.writeKV2("api", "{\"key\": \"\(oldKey)\"}"), 200)
        let r = try RampartInstance(extraArgs: ["--dev"])
        try r.write("app.yaml", keyRoute(upstream: up.port, secretRef: "api") + """
        ---
        apiVersion: rampart.io/v1alpha1
        kind: SecretRef
        metadata: {name: api}
        spec:
          provider: vault
          refreshInterval: 1s
          vault: {address: "\(vault.address)", path: secret/data/api, kvVersion: 2, auth: {token: {value: \(vault.rootToken)}}}

        """)
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        try assertRotation(r, oldKey: oldKey, newKey: newKey) {
            XCTAssertEqual(vault.writeKV2("api", "{\"key\": \"\(newKey)\"}"), 200)
        }
        let entry = rotationEntries(r, kind: "Route", name: "keyed").first ?? ""
        XCTAssertTrue(entry.contains("version: '1'") || entry.contains("version: \\\"1\\\"") || entry.contains("version: 1"), entry)
        XCTAssertEqual(SecretScan.find([vault.rootToken], inDirectories: [r.stateDir], texts: ["log": r.log]), [])
    }

    /// The SHA-256 fingerprint of the certificate served for `sni` (openssl s_client piped to openssl x509).
    func servedFingerprint(port: Int, sni: String) -> String {
        let script = "openssl s_client -connect 127.0.0.1:\(port) -servername \(sni) </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
        return ((try? Command.run("/bin/bash", ["-c", script], timeout: 20))?.stdout ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testAWSCertificateRotationIsServedWithoutFailedRequests() throws {
        let moto: MotoServer
        do { moto = try MotoServer() } catch {
            throw XCTSkip("moto_server is not installed or did not start (python3 -m pip install 'moto[server]==5.2.1' boto3): \(error)")
        }
        defer { moto.stop() }
        let pki = try TestPKI()
        let up = try TestUpstream(name: "rot-aws")
        defer { up.stop() }
        func put(_ name: String, create: Bool) throws {
            let cert = pki.pem(name + ".crt"), key = pki.pem(name + ".key")
            let body = "json.dumps({\"cert\": \(pythonString(cert)), \"key\": \(pythonString(key))})"
            try moto.python(create ? "sm.create_secret(Name=\"edge/tls\", SecretString=\(body))"
                                   : "sm.put_secret_value(SecretId=\"edge/tls\", SecretString=\(body))")
        }
        try put("exact", create: true)
        let tlsPort = Ports.free()
        let r = try RampartInstance(extraArgs: ["--dev", "--listen-tls", "127.0.0.1:\(tlsPort)"])
        try r.write("app.yaml", Manifests.upstream("web", port: up.port) + "---\n" + Manifests.route("site", paths: ["/*"], upstream: "web") + """
        ---
        apiVersion: rampart.io/v1alpha1
        kind: SSL
        metadata: {name: edge}
        spec:
          type: server
          snis: [api.example.com]
          certificate: {secretRef: {name: tls, key: cert}}
          privateKey: {secretRef: {name: tls, key: key}}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: SecretRef
        metadata: {name: tls}
        spec:
          provider: aws
          refreshInterval: 1s
          aws:
            region: eu-west-1
            secretId: edge/tls
            endpoint: "\(moto.endpoint)"
            credentials: {accessKeyId: {value: AKIDEXAMPLE}, secretAccessKey: {value: moto-secret-key}}

        """)
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        let exact = try Command.run("/usr/bin/openssl", ["x509", "-in", pki.path("exact.crt"), "-noout", "-fingerprint", "-sha256"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let wild = try Command.run("/usr/bin/openssl", ["x509", "-in", pki.path("wild.crt"), "-noout", "-fingerprint", "-sha256"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(Poll.until(timeout: 30) { servedFingerprint(port: tlsPort, sni: "api.example.com") == exact }, r.log)
        let loop = TrafficLoop {
            TLSClient.curl(port: tlsPort, host: "api.example.com", path: "/loop", cacert: pki.path("ca.crt"))?.status == 200
        }
        XCTAssertTrue(Poll.until(timeout: 30) { loop.sent > 3 })
        try put("wild", create: false)
        let served = Poll.until(timeout: 30) { servedFingerprint(port: tlsPort, sni: "api.example.com") == wild }
        XCTAssertTrue(Poll.until(timeout: 30) { loop.sent > 3 + 10 })
        let traffic = loop.stop()
        XCTAssertTrue(served, "the rotated certificate is served: " + r.log)
        XCTAssertEqual(traffic.failed, 0, "HTTPS requests failed during the certificate rotation (\(traffic.sent) sent)")
        let entries = rotationEntries(r, kind: "SSL", name: "edge")
        XCTAssertEqual(entries.count, 1, "one audit entry for the rotation: \(entries)")
        XCTAssertTrue(entries.first?.contains("version:") ?? false, entries.first ?? "")
        let secrets = ["exact.key", "wild.key"].map { pki.pem($0).split(separator: "\n").dropFirst().first.map(String.init) ?? "unreadable" }
        XCTAssertEqual(SecretScan.find(secrets + ["moto-secret-key"], inDirectories: [r.stateDir], texts: ["log": r.log]), [])
    }

    func pythonString(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    // MARK: inline secrets without a Keyring: digest markers in state.json

    func testInlineKeyWithoutKeyringIsStoredAsDigestDiffedAndPendingUntilProvided() throws {
        let up = try TestUpstream(name: "marker")
        defer { up.stop() }
        let key = "inline-key-\(UUID().uuidString)", edited = "edited-key-\(UUID().uuidString)"
        func manifest(_ k: String) -> String {
            Manifests.upstream("web", port: up.port) + "---\n" + Manifests.route("keyed", paths: ["/k"], upstream: "web", extra: """
              plugins:
                key-auth: {keys: [{value: \(k)}]}

            """)
        }
        let r = try RampartInstance(extraArgs: ["--dev"])
        try r.write("app.yaml", manifest(key))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { get(r, "/k", key: key) == 200 }, r.log)
        XCTAssertTrue(Poll.until { (try? String(contentsOfFile: r.stateDir + "/state.json", encoding: .utf8))?.contains("\"keyed\"") ?? false })
        r.stop()
        let state = try String(contentsOfFile: r.stateDir + "/state.json", encoding: .utf8)
        XCTAssertTrue(state.contains("{\"digest\":\"hmac-sha256:"), "the served Route is in state.json with a digest marker: " + state)

        let same = try Command.rampart(["diff", r.manifests, "--against-state", r.stateDir, "--dev"])
        XCTAssertEqual(same.code, 0, "unchanged: " + same.stdout + same.stderr)
        try r.write("app.yaml", manifest(edited))
        let changed = try Command.rampart(["diff", r.manifests, "--against-state", r.stateDir, "--dev"])
        XCTAssertEqual(changed.code, 1, changed.stdout + changed.stderr)
        XCTAssertTrue(changed.stdout.contains("*** (before)") && changed.stdout.contains("*** (after)"), changed.stdout)
        XCTAssertFalse(changed.stdout.contains("(absent)"), changed.stdout)
        // Someone who edits the marker into a manifest gets no value from it: manifests refuse markers.
        try r.write("forged.yaml", Manifests.route("forged", paths: ["/f"], upstream: "web", extra: """
          plugins:
            key-auth: {keys: [{digest: "hmac-sha256:00"}]}

        """))
        let forged = try Command.rampart(["validate", r.manifests, "--dev"])
        XCTAssertEqual(forged.code, 1, forged.stdout + forged.stderr)
        try FileManager.default.removeItem(atPath: r.manifests + "/forged.yaml")

        // Restart with the manifests not there yet: the Route is restored, answers 503 and says it waits for its value.
        let empty = try TempDir.make("no-manifests")
        let restarted = try RampartInstance(manifests: empty, stateDir: r.stateDir, extraArgs: ["--dev"])
        try restarted.start()
        XCTAssertTrue(restarted.waitReady(), restarted.log)
        XCTAssertTrue(Poll.until { get(restarted, "/k", key: key) == 503 }, restarted.log)
        XCTAssertEqual(get(restarted, "/k", key: "anything"), 503)
        let status = restarted.api("/api/v1/status")?.body ?? ""
        XCTAssertTrue(status.contains("SecretPending"), status)
        try restarted.write("app.yaml", manifest(key))
        XCTAssertTrue(Poll.until { get(restarted, "/k", key: key) == 200 }, restarted.log)
        XCTAssertEqual(get(restarted, "/k", key: edited), 401)
        XCTAssertFalse(restarted.api("/api/v1/status")?.body.contains("SecretPending") ?? true)
        restarted.stop()

        let leaks = SecretScan.find([key, edited], inDirectories: [r.stateDir],
                                    texts: ["log": r.log + restarted.log, "diff": same.stdout + same.stderr + changed.stdout + changed.stderr, "status": status])
        XCTAssertEqual(leaks, [])
    }
}
