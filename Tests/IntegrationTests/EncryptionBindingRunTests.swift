import Foundation
import TestSupport
import XCTest

/// `$enc:` values bound to their resource, through the real binary: made by `rampart encrypt --resource`,
/// served where they belong, and refused where a manifest author pasted them to have them sent elsewhere.
final class EncryptionBindingRunTests: XCTestCase {
    let k1 = Data((0..<32).map { UInt8(($0 * 11 + 5) % 256) }).base64EncodedString()

    /// A stand-in for a host the attacker controls: records every request's bytes to a file, answers 403.
    static let recorderSource = #"""
    import socket, sys, threading
    log = sys.argv[1]
    lock = threading.Lock()
    def handle(c):
        data = b""
        try:
            c.settimeout(5)
            while b"\r\n\r\n" not in data:
                d = c.recv(65536)
                if not d: break
                data += d
            with lock:
                with open(log, "ab") as f: f.write(data + b"\n--\n")
            body = b'{"errors":["permission denied"]}'
            c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        except Exception: pass
        finally: c.close()
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0)); s.listen(64)
    print(s.getsockname()[1], flush=True)
    while True:
        c, _ = s.accept(); threading.Thread(target=handle, args=(c,), daemon=True).start()
    """#

    func secretRef(_ namespace: String, _ name: String, address: String, token: String) -> String {
        """
        apiVersion: rampart.io/v1alpha1
        kind: SecretRef
        metadata: {name: \(name), namespace: \(namespace)}
        spec:
          provider: vault
          refreshInterval: 1h
          vault:
            address: \(address)
            path: secret/data/app
            auth: {token: {encrypted: "\(token)"}}

        """
    }

    func testCopiedCiphertextIsRefusedAndNeverReachesTheAttackersHost() throws {
        let keys = try TempDir.make("bind-keys")
        try k1.write(toFile: keys + "/k1.key", atomically: true, encoding: .utf8)
        let victimToken = "hvs.victim-\(UUID().uuidString)"
        let apiKey = "api-\(UUID().uuidString)"
        let vault = try VaultStandIn(rootToken: victimToken)
        defer { vault.stop() }
        XCTAssertEqual(vault.writeKV2("app", "{\"apikey\": \"\(apiKey)\"}"), 200)
        let recordLog = try TempDir.make("bind-rec") + "/requests.log"
        _ = FileManager.default.createFile(atPath: recordLog, contents: nil)
        let recorderScript = (recordLog as NSString).deletingLastPathComponent + "/recorder.py"
        try Self.recorderSource.write(toFile: recorderScript, atomically: true, encoding: .utf8)
        let recorder = try ChildProcess("/usr/bin/env", ["python3", recorderScript, recordLog])
        defer { recorder.stop() }
        let recorderPort = try XCTUnwrap(recorder.readFirstLine().flatMap { Int($0) })
        let up = try TestUpstream(name: "web")
        defer { up.stop() }

        let r = try RampartInstance()
        try r.write("keyring.yaml", """
        apiVersion: rampart.io/v1alpha1
        kind: Keyring
        metadata: {name: default}
        spec: {keys: [{id: k1, material: {secretRef: {name: key-k1}}}]}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: SecretRef
        metadata: {name: key-k1}
        spec: {provider: file, file: {path: \(keys)/k1.key}}

        """)
        // The operator makes the victim's token for its own resource and field.
        let made = try Command.rampart(["encrypt", r.manifests, "--resource", "SecretRef/default/vault", "--field", "spec.vault.auth.token"],
                                       stdin: victimToken + "\n")
        XCTAssertEqual(made.code, 0, made.stderr)
        let enc = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(enc.hasPrefix("$enc:v2:k1:"), enc)
        try r.write("victim.yaml", secretRef("default", "vault", address: vault.address, token: enc) + "---\n"
                        + Manifests.upstream("web", port: up.port) + "---\n"
                        + Manifests.route("api", paths: ["/api"], upstream: "web", extra: """
                          plugins:
                            key-auth: {keys: [{secretRef: {name: vault, key: apikey}}]}

                        """))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        // Round trip: the token decrypts in its own resource, Vault answers, the key it holds is enforced.
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/api", headers: ["apikey: \(apiKey)"])?.status == 200 }, r.log)
        XCTAssertEqual(Curl.get(r.url + "/api", headers: ["apikey: wrong"])?.status, 401)

        // The attack: the same ciphertext pasted into SecretRefs of the author's, pointed at their own host.
        let evilAddress = "http://127.0.0.1:\(recorderPort)"
        try r.write("attacker.yaml", secretRef("team", "vault", address: evilAddress, token: enc) + "---\n"
                        + secretRef("default", "evil", address: evilAddress, token: enc))
        func status() -> String { r.api("/api/v1/status")?.body ?? "" }
        for ref in ["team/vault", "default/evil"] {
            XCTAssertTrue(Poll.until { status().contains("\"ref\":\"\(ref)\",\"provider\":\"vault\",\"ready\":false") }, status())
        }
        let statusText = status()
        XCTAssertTrue(statusText.contains("SecretRef team/vault spec.vault.auth.token: cannot decrypt"), statusText)
        XCTAssertTrue(statusText.contains("SecretRef default/evil spec.vault.auth.token: cannot decrypt"), statusText)

        // The old config keeps serving: the victim's SecretRef and the route that uses it.
        XCTAssertTrue(statusText.contains("\"ref\":\"default/vault\",\"provider\":\"vault\",\"ready\":true"), statusText)
        XCTAssertEqual(Curl.get(r.url + "/api", headers: ["apikey: \(apiKey)"])?.status, 200)
        // A refresh retries the attacker's SecretRefs: they fail again, the same way.
        XCTAssertEqual(r.api("/api/v1/secrets/refresh", method: "POST")?.status, 200)
        XCTAssertTrue(Poll.until { status().contains("\"ref\":\"team/vault\",\"provider\":\"vault\",\"ready\":false") && status().contains("\"consecutiveFailures\":2") },
                      status())

        // The attacker's host never saw the token: the value did not decrypt, so no request carried it.
        let recorded = (try? String(contentsOfFile: recordLog, encoding: .isoLatin1)) ?? ""
        XCTAssertFalse(recorded.contains(victimToken), recorded)
        XCTAssertFalse(recorded.contains("X-Vault-Token"), "no request with a token at all: \(recorded)")

        let config = r.api("/api/v1/config")?.body ?? ""
        r.stop()
        XCTAssertEqual(SecretScan.find([victimToken, apiKey, k1], inDirectories: [r.stateDir],
                                       texts: ["log": r.log, "status": statusText, "config": config, "encrypt": made.stdout + made.stderr]), [])
    }

    /// A legacy `$enc:v1:` value (field-bound only) in a manifest is a validation error naming file:line:col,
    /// resource and field and how to re-make it; the resource's last good version keeps serving.
    func testLegacyManifestValueIsRefusedAndTheLastGoodVersionServes() throws {
        let up = try TestUpstream(name: "web")
        defer { up.stop() }
        let r = try RampartInstance(extraArgs: ["--dev"])
        let key = "key-\(UUID().uuidString)"
        func route(_ keyValue: String) -> String {
            Manifests.upstream("web", port: up.port) + "---\n" + Manifests.route("api", paths: ["/api"], upstream: "web", extra: """
              plugins:
                key-auth: {keys: [\(keyValue)]}

            """)
        }
        try r.write("all.yaml", route("{value: \(key)}"))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/api", headers: ["apikey: \(key)"])?.status == 200 }, r.log)
        let legacy = route("{encrypted: \"$enc:v1:k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}")
        try r.write("all.yaml", legacy)
        let line = try XCTUnwrap(legacy.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("$enc:v1:") }) + 1
        let want = "all.yaml:\(line):"
        XCTAssertTrue(Poll.until { r.log.contains("Route default/api: spec.plugins.key-auth.keys[0]: a legacy $enc:v1: value") }, r.log)
        XCTAssertTrue(r.log.contains(want), r.log)
        XCTAssertTrue(r.log.contains("--resource Route/default/api --field spec.plugins.key-auth.keys[0]"), r.log)
        XCTAssertEqual(Curl.get(r.url + "/api", headers: ["apikey: \(key)"])?.status, 200, "the last good version keeps serving")

        let validate = try Command.rampart(["validate", r.manifests])
        XCTAssertNotEqual(validate.code, 0)
        XCTAssertTrue(validate.stdout.contains(want) || validate.stderr.contains(want), validate.stdout + validate.stderr)
        r.stop()
    }

    func testEncryptNeedsTheResource() throws {
        let r = try RampartInstance()
        let help = try Command.rampart(["encrypt", "--help"])
        XCTAssertTrue(help.stdout.contains("--resource KIND/NAMESPACE/NAME"), help.stdout)
        let missing = try Command.rampart(["encrypt", r.manifests, "--field", "spec.hmacSecret"], stdin: "x\n")
        XCTAssertEqual(missing.code, 2)
        XCTAssertTrue(missing.stderr.contains("--resource"), missing.stderr)
        let badKind = try Command.rampart(["encrypt", r.manifests, "--resource", "Secretref/default/x", "--field", "spec.hmacSecret"], stdin: "x\n")
        XCTAssertEqual(badKind.code, 2)
        XCTAssertTrue(badKind.stderr.contains("did you mean \"SecretRef\""), badKind.stderr)
        let badShape = try Command.rampart(["encrypt", r.manifests, "--resource", "SecretRef/a/b/c", "--field", "spec.hmacSecret"], stdin: "x\n")
        XCTAssertEqual(badShape.code, 2)
        XCTAssertTrue(badShape.stderr.contains("KIND/NAMESPACE/NAME"), badShape.stderr)
    }

    /// A `state.json` as the previous release wrote it: values bound to the field only (`$enc:v1:`,
    /// additional data = key id, NUL, field path), made once with these keys by a script outside the project.
    enum LegacyFixture {
        static let master = "CRAXHiUsMzpBSE9WXWRrcnmAh46VnKOqsbi/xs3U2+I="
        static let k1 = "ZGdqbXBzdnl8f4KFiIuOkZSXmp2go6aprK+ytbi7vsE="
        /// k1's material under the master key, field `spec.keys[].material`.
        static let material = "$enc:v1:master:0wUUUeL6fnBSKc70OdrxJe9vadkd8ElN85eRVd3gfGfhE4+q2gWw+pnVI/vWRNy5qoIeCKTk8ugtAplZvpHSJ/jYVhXCR7d7"
        /// `legacy-api-key-7f3a9c` under k1, field `spec.plugins.key-auth.keys[]`.
        static let apiKey = "$enc:v1:k1:IwMCuASm6jq69dLY+aEKnciT1l9xrRUqwqrZComEufUwkpq0h4qSSyGaHS0S9HSp3A=="
        static let apiKeyPlaintext = "legacy-api-key-7f3a9c"

        static func stateJSON(upstreamPort: Int) -> String {
            """
            {"generation":4,"hash":"legacy","origin":"dir","resources":[
            {"apiVersion":"rampart.io/v1alpha1","kind":"Keyring","metadata":{"name":"default","namespace":"default"},"spec":{"keys":[{"id":"k1","material":{"encrypted":"\(material)"}}]}},
            {"apiVersion":"rampart.io/v1alpha1","kind":"Upstream","metadata":{"name":"web","namespace":"default"},"spec":{"nodes":[{"host":"127.0.0.1","port":\(upstreamPort)}]}},
            {"apiVersion":"rampart.io/v1alpha1","kind":"Route","metadata":{"name":"api","namespace":"default"},"spec":{"paths":["/api"],"upstreamRef":{"name":"web"},"plugins":{"key-auth":{"keys":[{"encrypted":"\(apiKey)"}]}}}}
            ]}

            """
        }
    }

    func testLegacyStateFileIsReboundAtStartAndServes() throws {
        let up = try TestUpstream(name: "web")
        defer { up.stop() }
        let r = try RampartInstance(extraArgs: ["--master-key-file", try TempDir.make("bind-master") + "/master.key"])
        let masterFile = try XCTUnwrap(r.extraArgs.last)
        try LegacyFixture.master.write(toFile: masterFile, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: r.stateDir, withIntermediateDirectories: true)
        try LegacyFixture.stateJSON(upstreamPort: up.port).write(toFile: r.stateDir + "/state.json", atomically: true, encoding: .utf8)
        // No manifests: the restored state keeps serving ("the source holds no resources").
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/api", headers: ["apikey: \(LegacyFixture.apiKeyPlaintext)"])?.status == 200 }, r.log)
        XCTAssertEqual(Curl.get(r.url + "/api", headers: ["apikey: wrong"])?.status, 401)
        XCTAssertTrue(Poll.until { r.log.contains("legacy encrypted values re-bound to their resources") }, r.log)
        r.stop()

        let state = try String(contentsOfFile: r.stateDir + "/state.json", encoding: .utf8)
        XCTAssertFalse(state.contains("$enc:v1:"), state)
        XCTAssertTrue(state.contains("$enc:v2:k1:") && state.contains("$enc:v2:master:"), state)
        let audit = try String(contentsOfFile: r.stateDir + "/audit.log", encoding: .utf8)
        XCTAssertTrue(audit.contains("\"action\":\"rebind\",\"kind\":\"Route\""), audit)
        XCTAssertTrue(audit.contains("\"action\":\"rebind\",\"kind\":\"Keyring\""), audit)
        XCTAssertEqual(try Command.rampart(["audit", "verify", "--state-dir", r.stateDir]).code, 0)
        XCTAssertEqual(SecretScan.find([LegacyFixture.apiKeyPlaintext, LegacyFixture.k1, LegacyFixture.master],
                                       inDirectories: [r.stateDir], texts: ["log": r.log]), [])

        // A second start serves the re-bound state as it is.
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(Poll.until { Curl.get(r.url + "/api", headers: ["apikey: \(LegacyFixture.apiKeyPlaintext)"])?.status == 200 }, r.log)
        XCTAssertFalse(r.log.contains("re-bound"), r.log)
        r.stop()
    }

    /// The commands that re-make legacy values work while the manifests still hold some, and list each
    /// with the command to run; `rampart reencrypt` re-binds a legacy `state.json`.
    func testEncryptAndReencryptWorkBesideLegacyValuesAndListThem() throws {
        let r = try RampartInstance()
        let masterFile = try TempDir.make("bind-master") + "/master.key"
        try LegacyFixture.master.write(toFile: masterFile, atomically: true, encoding: .utf8)
        let manifests = """
        apiVersion: rampart.io/v1alpha1
        kind: Keyring
        metadata: {name: default}
        spec: {keys: [{id: k1, material: {value: "\(LegacyFixture.k1)"}}]}
        ---
        \(Manifests.upstream("web", port: 9))---
        apiVersion: rampart.io/v1alpha1
        kind: Route
        metadata: {name: api}
        spec:
          paths: ["/api"]
          upstreamRef: {name: web}
          plugins:
            key-auth: {keys: [{encrypted: "\(LegacyFixture.apiKey)"}]}

        """
        try r.write("all.yaml", manifests)
        let made = try Command.rampart(["encrypt", r.manifests, "--resource", "Route/default/api", "--field", "spec.plugins.key-auth.keys[0]"],
                                       stdin: LegacyFixture.apiKeyPlaintext + "\n")
        XCTAssertEqual(made.code, 0, made.stderr)
        XCTAssertTrue(made.stdout.hasPrefix("$enc:v2:k1:"), made.stdout)

        try FileManager.default.createDirectory(atPath: r.stateDir, withIntermediateDirectories: true)
        try LegacyFixture.stateJSON(upstreamPort: 9).write(toFile: r.stateDir + "/state.json", atomically: true, encoding: .utf8)
        let re = try Command.rampart(["reencrypt", r.manifests, "--state-dir", r.stateDir, "--master-key-file", masterFile])
        XCTAssertEqual(re.code, 1, "a manifest value is still legacy: " + re.stdout + re.stderr)
        let state = try String(contentsOfFile: r.stateDir + "/state.json", encoding: .utf8)
        XCTAssertFalse(state.contains("$enc:v1:"), state)
        XCTAssertTrue(state.contains("$enc:v2:k1:") && state.contains("$enc:v2:master:"), state)
        XCTAssertTrue(re.stderr.contains("all.yaml:19:") && re.stderr.contains("Route default/api: spec.plugins.key-auth.keys[0]: is a legacy $enc:v1: value"),
                      re.stderr)
        XCTAssertTrue(re.stderr.contains("--resource Route/default/api --field spec.plugins.key-auth.keys[0]"), re.stderr)

        // With the value made again, nothing is stale.
        try r.write("all.yaml", manifests.replacingOccurrences(of: LegacyFixture.apiKey, with: made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let again = try Command.rampart(["reencrypt", r.manifests, "--state-dir", r.stateDir, "--master-key-file", masterFile])
        XCTAssertEqual(again.code, 0, again.stdout + again.stderr)
        XCTAssertEqual(SecretScan.find([LegacyFixture.apiKeyPlaintext], inDirectories: [r.stateDir],
                                       texts: ["reencrypt": re.stdout + re.stderr + again.stdout + again.stderr, "encrypt": made.stdout + made.stderr]), [])
    }
}
