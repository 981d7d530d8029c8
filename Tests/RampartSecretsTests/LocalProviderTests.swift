import Foundation
import RampartModel
import RampartSecrets
import RampartYAML
import TestSupport
import XCTest

/// env, file and kubernetes providers, SecretValue, and building providers from a SecretRef spec.
final class LocalProviderTests: XCTestCase {
    func testEnvProvider() throws {
        setenv("RAMPART_TEST_SECRET_ENV", "env-secret-value-1", 1)
        defer { unsetenv("RAMPART_TEST_SECRET_ENV") }
        let p = EnvProvider(ref: "shop/env", name: "RAMPART_TEST_SECRET_ENV")
        XCTAssertEqual(try p.fetch().value.value(key: nil), "env-secret-value-1")
        setenv("RAMPART_TEST_SECRET_ENV", #"{"password":"env-json-pw"}"#, 1)
        XCTAssertEqual(try p.fetch().value.value(key: "password"), "env-json-pw")
        let missing = secretError { try EnvProvider(ref: "shop/env", name: "RAMPART_TEST_NOT_SET_XYZ").fetch() }
        XCTAssertEqual(missing?.kind, .notFound)
        XCTAssertTrue(missing?.description.contains("RAMPART_TEST_NOT_SET_XYZ") ?? false)
    }

    func testFileProviderRereadsAndFollowsSymlinkSwap() throws {
        // A Kubernetes Secret volume: file -> ..data/file, ..data -> ..2026_1 (swapped atomically by rename).
        let dir = try TempDir.make("secret-vol")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/..2026_1", withIntermediateDirectories: true)
        try "file-secret-one".write(toFile: dir + "/..2026_1/password", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: dir + "/..data", withDestinationPath: "..2026_1")
        try fm.createSymbolicLink(atPath: dir + "/password", withDestinationPath: "..data/password")
        let p = FileProvider(ref: "shop/file", path: dir + "/password")
        XCTAssertEqual(try p.fetch().value.value(key: nil), "file-secret-one")

        try fm.createDirectory(atPath: dir + "/..2026_2", withIntermediateDirectories: true)
        try "file-secret-two".write(toFile: dir + "/..2026_2/password", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: dir + "/..data_tmp", withDestinationPath: "..2026_2")
        XCTAssertEqual(rename(dir + "/..data_tmp", dir + "/..data"), 0)
        try fm.removeItem(atPath: dir + "/..2026_1")
        XCTAssertEqual(try p.fetch().value.value(key: nil), "file-secret-two")

        let missing = secretError { try FileProvider(ref: "shop/file", path: dir + "/nope").fetch() }
        XCTAssertEqual(missing?.kind, .notFound)
        assertNoSecrets([missing?.description ?? ""] + renderings(try p.fetch()), ["file-secret-one", "file-secret-two"])
    }

    func testKubernetesProviderWithoutAnAPISaysSo() {
        let e = secretError { try KubernetesSecretProvider(ref: "shop/k", namespace: "shop", secretName: "k").fetch() }
        XCTAssertEqual(e?.kind, .unsupported)
        XCTAssertTrue(e?.description.contains("no Kubernetes API configured") ?? false)
    }

    func testSecretValueKeysAndMasking() throws {
        let v = SecretValue.parsing(#"{"user":"app","password":"sv-pw-9","port":6379,"tls":true}"#, ref: "shop/redis")
        XCTAssertTrue(v.isObject)
        XCTAssertEqual(try v.value(key: "password"), "sv-pw-9")
        XCTAssertEqual(try v.value(key: "port"), "6379")
        XCTAssertEqual(try v.value(key: "tls"), "true")
        let e = secretError { try v.value(key: "nope") }
        XCTAssertEqual(e?.kind, .missingKey)
        XCTAssertTrue(e?.description.contains("shop/redis") ?? false)
        XCTAssertTrue(e?.description.contains("\"nope\"") ?? false)
        let s = SecretValue.string("plain-sv-secret", ref: "shop/plain")
        XCTAssertEqual(try s.value(key: nil), "plain-sv-secret")
        let e2 = secretError { try s.value(key: "k") }
        assertNoSecrets(renderings(v) + renderings(s) + [e?.description ?? "", e2?.description ?? ""] + renderings(e as Any),
                        ["sv-pw-9", "plain-sv-secret", "6379"])
        XCTAssertEqual(String(describing: v), "***")
    }

    func testProvidersFromSpec() throws {
        let yaml = """
        provider: vault
        refreshInterval: 1m
        vault:
          address: http://127.0.0.1:1
          path: secret/data/x
          namespace: team-a
          auth: {appRole: {roleId: {value: r}, secretId: {secretRef: {name: sid}}}}
        """
        guard let node = try Parser().parse(yaml).first else { return XCTFail("no node") }
        let p = try SecretProviders.make(ref: "shop/v", namespace: "shop", provider: "vault", config: node["vault"], resolve: inlineResolver)
        XCTAssertEqual(p.kind, "vault")
        guard let vp = p as? VaultProvider, case .appRole(_, let sid, let mount) = vp.config.auth else { return XCTFail("appRole") }
        XCTAssertEqual(sid.secretRef, Reference(name: "sid", namespace: "shop"))
        XCTAssertEqual(mount, "approle")
        XCTAssertEqual(vp.config.namespace, "team-a")
        let bad = secretError { try SecretProviders.make(ref: "shop/x", namespace: "shop", provider: "env", config: nil, resolve: inlineResolver) }
        XCTAssertEqual(bad?.kind, .config)
        let k = try SecretProviders.make(ref: "shop/k", namespace: "shop", provider: "kubernetes",
                                         config: try Parser().parse(bytes: Array("{secretName: api}".utf8))[0], resolve: inlineResolver)
        XCTAssertEqual(k.kind, "kubernetes")
    }
}
