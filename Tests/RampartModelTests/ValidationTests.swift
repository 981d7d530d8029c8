import Foundation
import XCTest
@testable import RampartModel
import RampartSources
import RampartYAML

final class ValidationTests: XCTestCase {
    static var fixtures: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
    }

    static var repo: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    func decode(_ yaml: String, dev: Bool = false) -> ManifestDecoder.Result {
        ManifestDecoder(dev: dev).decode(file: "t.yaml", bytes: Array(yaml.utf8))
    }

    func errors(_ yaml: String) -> [String] {
        decode(yaml).diagnostics.filter { $0.severity == .error }.map(\.description)
    }

    /// A Route rejected only for what it does keeps its match keys (to be held closed); one whose match is broken does not.
    func testRejectedRoutesWithAnIntactMatchKeepTheirMatchKeysOnly() throws {
        let r = decode("""
        apiVersion: rampart.io/v1alpha1
        kind: Route
        metadata: {name: admin, labels: {rampart.io/gateway-group: edge}}
        spec:
          hosts: [api.example.com]
          paths: ["/admin/*"]
          methods: [GET]
          headers: [{name: x-canary, value: "1"}]
          priority: 3
          upstreamRef: {name: web}
          plugins: {key-auth: {keys: [{secretRef: {name: k}}], heder: x-key}}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: Route
        metadata: {name: badpath}
        spec: {paths: ["admin/*"], upstreamRef: {name: web}, plugins: {key-auht: {}}}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: Route
        metadata: {name: Bad_Name}
        spec: {paths: ["/x/*"], upstreamRef: {name: web}, plugins: {key-auht: {}}}
        """)
        XCTAssertEqual(r.rejected.count, 3)
        XCTAssertEqual(r.closedRoutes.map(\.key.name), ["admin"])
        let held = try XCTUnwrap(r.closedRoutes.first)
        XCTAssertEqual(held.metadata.gatewayGroup, "edge")
        let spec = try XCTUnwrap(held.route)
        XCTAssertEqual(spec.hosts, ["api.example.com"])
        XCTAssertEqual(spec.paths, ["/admin/*"])
        XCTAssertEqual(spec.methods, ["GET"])
        XCTAssertEqual(spec.headers.items.map(\.name), ["x-canary"])
        XCTAssertEqual(spec.priority, 3)
        XCTAssertNil(spec.upstreamRef)
        XCTAssertNil(spec.plugins.keyAuth, "nothing of what it does")

        let table: [([String], Bool)] = [
            (["spec.plugins.key-auth.heder"], true), (["spec.upstreamRef"], true), (["spec.plugin"], true), ([], true),
            (["spec.paths[0]"], false), (["spec.paths"], false), (["spec.hosts[1]"], false), (["spec.methods[0]"], false),
            (["spec.headers[0].name"], false), (["spec.priority"], false), (["spec"], false), (["metadata.name"], false),
            (["apiVersion"], false), ([""], false), (["spec.plugins.cors", "spec.paths[0]"], false),
        ]
        for (paths, intact) in table { XCTAssertEqual(RouteSpec.matchIsIntact(errorPaths: paths), intact, "\(paths)") }
    }

    func testTenMistakesOneLineEachInFileOrder() throws {
        let files = try ManifestFiles.collect([Self.fixtures + "/ten-mistakes"])
        let r = ManifestLoader().load(files: files)
        let lines = r.diagnostics.filter { $0.severity == .error }.map { $0.description.replacingOccurrences(of: Self.fixtures + "/ten-mistakes/", with: "") }
        let expected = [
            "01-syntax.yaml:4:5: error: did not find expected ',' or '}'",
            "02-types.yaml:6:30: error: Upstream default/orders: spec.nodes[0].port: 70000 is out of range (1-65535)",
            "02-types.yaml:7:12: error: Upstream default/orders: spec.retries: expected an integer, got a string",
            "02-types.yaml:15:3: error: Route default/orders: spec.timeouts: unknown field \"timeouts\"; did you mean \"timeout\"?",
            "03-refs.yaml:6:16: error: Route default/payments: spec.upstreamRef: Upstream default/payments does not exist",
            "03-refs.yaml:8:1: error: Upstream default/orders: metadata.name: duplicate Upstream default/orders; first defined at ",
            "04-alias-bomb.yaml:5:8: error: aliases expand to more than 10000 nodes (an alias bomb?)",
            "05-duplicate-key.yaml:7:3: error: duplicate key \"retries\" in mapping",
            "06-values.yaml:6:22: error: Upstream default/catalog: spec.timeout.connect: \"5 seconds\" is not a duration",
            "06-values.yaml:15:30: error: Route default/catalog: spec.plugins.ip-restriction.allow[0]: \"10.0.0.0/40\" is not an IPv4 or IPv6 CIDR",
        ]
        XCTAssertEqual(lines.count, expected.count, lines.joined(separator: "\n"))
        for (line, prefix) in zip(lines, expected) {
            XCTAssertTrue(line.hasPrefix(prefix), "\(line)\n  does not start with\n\(prefix)")
        }
    }

    func testExamplesAreValid() throws {
        let files = try ManifestFiles.collect([Self.repo + "/examples"])
        XCTAssertGreaterThan(files.count, 5)
        let r = ManifestLoader().load(files: files)
        XCTAssertEqual(r.diagnostics.map(\.description), [])
        XCTAssertEqual(Set(r.resources.map(\.kind)), Set(Kind.allCases), "an example for every kind")
    }

    func testFieldErrorsTable() {
        let up = "apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: u}\nspec:\n"
        let cases: [(String, String)] = [
            ("  nodes: []\n", "spec.nodes: needs at least one node"),
            ("  nodes: [{host: a.b, port: 0}]\n", "spec.nodes[0].port: 0 is out of range (1-65535)"),
            ("  nodes: [{host: a.b, port: 1}]\n  loadBalancer: {type: chash}\n", "spec.loadBalancer.hashOn: chash needs hashOn"),
            ("  nodes: [{host: a.b, port: 1}]\n  scheme: ftp\n", "spec.scheme: \"ftp\" is not one of http, https"),
            ("  nodes: [{host: a.b, port: 1}]\n  healthCheck: {passive: {on: [502, boom]}}\n", "spec.healthCheck.passive.on[1]: \"boom\" is not a status code"),
            ("  nodes: [{host: a.b, port: 1, wieght: 2}]\n", "spec.nodes[0].wieght: unknown field \"wieght\"; did you mean \"weight\"?"),
            ("  nodes: {host: a.b}\n", "spec.nodes: expected a list, got a mapping"),
        ]
        for (body, want) in cases {
            let errs = errors(up + body)
            XCTAssertTrue(errs.contains { $0.contains(want) }, "\(body) → \(errs)")
        }
    }

    func testMetadataAndKindErrors() {
        XCTAssertTrue(errors("apiVersion: rampart.io/v1alpha1\nkind: Rout\nmetadata: {name: x}\nspec: {}\n").contains { $0.contains("did you mean \"Route\"") })
        XCTAssertTrue(errors("apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: Bad_Name}\nspec: {paths: [/], upstreamRef: {name: u}}\n")
            .contains { $0.contains("metadata.name: \"Bad_Name\" is not a DNS-1123 subdomain") })
        XCTAssertTrue(errors("apiVersion: rampart.io/v1alpha1\nkind: Route\nspec: {paths: [/], upstreamRef: {name: u}}\n")
            .contains { $0.contains("metadata: required field is missing") })
        XCTAssertTrue(errors("apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: r}\nspec: {paths: [/]}\n")
            .contains { $0.contains("spec.upstreamRef: required") })
    }

    func testOtherAPIGroupsAreIgnoredWithAWarning() {
        let r = decode("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {}\n")
        XCTAssertEqual(r.diagnostics.map(\.severity), [.warning])
        XCTAssertTrue(r.resources.isEmpty)
    }

    func testDefaultsApplied() throws {
        let r = decode("apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: u, namespace: shop}\nspec: {nodes: [{host: 10.0.0.1, port: 80}]}\n")
        let u = try XCTUnwrap(r.resources.first?.upstream)
        XCTAssertEqual(r.resources.first?.key, ResourceKey(.upstream, "shop", "u"))
        XCTAssertEqual(u.balancer, .roundrobin)
        XCTAssertEqual(u.retries, 1)
        XCTAssertEqual(u.nodes.first?.weight, 1)
        XCTAssertEqual(u.timeout, Timeouts(connectMs: 5000, sendMs: 60_000, readMs: 60_000))
        XCTAssertEqual(u.keepaliveMaxIdle, 64)
    }

    func testSensitivePrintsMask() {
        let s = Sensitive(.inline("hunter2"))
        XCTAssertEqual("\(s)", "***")
        XCTAssertEqual(String(reflecting: s), "***")
        XCTAssertFalse(String(describing: Plugins.BasicAuthUser(username: "a", password: s)).contains("hunter2"))
        XCTAssertFalse(String(reflecting: [s]).contains("hunter2"))
        let json = try? JSONEncoder().encode([s])
        XCTAssertEqual(json.map { String(decoding: $0, as: UTF8.self) }, "[\"***\"]")
    }

    func testSensitiveErrorsNeverEchoTheValue() {
        let doc = "apiVersion: rampart.io/v1alpha1\nkind: ContactPoint\nmetadata: {name: c}\nspec: {type: webhook, url: https://hooks.example/x, hmacSecret: s3cr3t-value}\n"
        let errs = errors(doc)
        XCTAssertTrue(errs.contains { $0.contains("spec.hmacSecret: is a sensitive value") }, "\(errs)")
        XCTAssertFalse(errs.joined().contains("s3cr3t-value"))
    }

    func testInlineSecretWarnsOutsideDev() {
        let doc = "apiVersion: rampart.io/v1alpha1\nkind: ContactPoint\nmetadata: {name: c}\nspec: {type: webhook, url: https://hooks.example/x, hmacSecret: {value: s3cr3t}}\n"
        XCTAssertEqual(decode(doc).diagnostics.map(\.severity), [.warning])
        XCTAssertEqual(decode(doc, dev: true).diagnostics.count, 0)
        XCTAssertFalse(decode(doc).diagnostics.map(\.description).joined().contains("s3cr3t"))
    }

    func testCrossChecks() {
        let docs = """
        apiVersion: rampart.io/v1alpha1
        kind: Route
        metadata: {name: a}
        spec: {paths: [/x], upstreamRef: {name: u}}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: Route
        metadata: {name: b}
        spec: {paths: [/x], upstreamRef: {name: u}}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: Upstream
        metadata: {name: u}
        spec: {nodes: [{host: 10.0.0.1, port: 80}], scheme: https, tls: {caRef: {name: ca}}}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: Keyring
        metadata: {name: k1}
        spec: {keys: [{id: a, material: {secretRef: {name: km}}}]}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: Keyring
        metadata: {name: k2}
        spec: {keys: [{id: a, material: {encrypted: "$enc:v2:a:AAAA"}}]}
        ---
        apiVersion: rampart.io/v1alpha1
        kind: AlertRule
        metadata: {name: r}
        spec: {condition: {type: errorRate, threshold: 2}, contactPoints: [{name: ops}]}
        """
        let r = decode(docs)
        let cross = CrossCheck.run(r.resources, rejected: r.rejectedOrigins)
        let all = (r.diagnostics + cross.diagnostics).filter { $0.severity == .error }.map(\.description).joined(separator: "\n")
        XCTAssertTrue(all.contains("Route default/b: spec: matches exactly the same requests as Route default/a"), all)
        XCTAssertTrue(all.contains("spec.tls.caRef: SSL default/ca does not exist"), all)
        XCTAssertTrue(all.contains("spec.keys[0].material.secretRef: SecretRef default/km does not exist"), all)
        XCTAssertTrue(all.contains("already has Keyring default/k1"), all)
        XCTAssertTrue(all.contains("spec.condition.threshold: 2 is not a ratio (0..1)"), all)
    }

    /// A legacy `$enc:v1:` value decrypts in any resource's same field, so a manifest author could paste
    /// another resource's secret into their own: manifests refuse it, naming where and how to re-make it.
    func testLegacyEncryptedValuesAreRefusedNamingTheFieldAndTheFix() throws {
        let doc = """
        apiVersion: rampart.io/v1alpha1
        kind: SecretRef
        metadata: {name: evil, namespace: team}
        spec:
          provider: vault
          vault:
            address: https://vault.example
            path: secret/x
            auth: {token: {encrypted: "$enc:v1:k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}
        """
        let r = decode(doc, dev: true)
        XCTAssertEqual(r.resources.count, 0)
        XCTAssertEqual(r.rejected, [ResourceKey(.secretRef, "team", "evil")])
        let all = r.diagnostics.filter { $0.severity == .error }.map(\.description).joined(separator: "\n")
        XCTAssertTrue(all.contains("t.yaml:9:"), all)
        XCTAssertTrue(all.contains("SecretRef team/evil: spec.vault.auth.token: a legacy $enc:v1: value"), all)
        XCTAssertTrue(all.contains("rampart encrypt PATH --resource SecretRef/team/evil --field spec.vault.auth.token"), all)
        // The current form passes; Rampart's own state.json (and only it) reads legacy values, to re-bind them.
        XCTAssertEqual(decode(doc.replacingOccurrences(of: "$enc:v1:", with: "$enc:v2:"), dev: true).resources.count, 1)
        XCTAssertEqual(ManifestDecoder(dev: true, acceptsLegacyEncrypted: true).decode(file: "state.json", bytes: Array(doc.utf8)).resources.count, 1)
        // Unknown versions are malformed, not legacy.
        XCTAssertTrue(errors(doc.replacingOccurrences(of: "$enc:v1:", with: "$enc:v3:")).joined().contains("expected \"$enc:v2:KEYID:BASE64\""))
    }

    func testValueParsers() {
        XCTAssertEqual(Values.durationMs("250ms"), 250)
        XCTAssertEqual(Values.durationMs("1h30m"), 5_400_000)
        XCTAssertEqual(Values.durationMs("7d"), 604_800_000)
        XCTAssertNil(Values.durationMs("5"))
        XCTAssertNil(Values.durationMs("99999999999999999d"))
        XCTAssertEqual(Values.sizeBytes("8Ki"), 8192)
        XCTAssertNil(Values.sizeBytes("-1"))
        XCTAssertTrue(CIDR("10.0.0.0/8")?.contains([10, 1, 2, 3]) ?? false)
        XCTAssertFalse(CIDR("10.0.0.0/8")?.contains([11, 1, 2, 3]) ?? true)
        XCTAssertTrue(CIDR("2001:db8::/32")?.contains(CIDR.parseAddress("2001:db8::1") ?? []) ?? false)
        XCTAssertNil(CIDR("10.0.0.0/33"))
        XCTAssertNil(CIDR("01.2.3.4"))
        XCTAssertTrue(Values.isHostPattern("*.example.com"))
        XCTAssertFalse(Values.isHostPattern("a.*.example.com"))
        XCTAssertTrue(Values.isRoutePath("/orders/*"))
        XCTAssertFalse(Values.isRoutePath("/orders*"))
    }
}
