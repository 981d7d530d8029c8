import Foundation
import RampartModel
import RampartSecrets
import TestSupport
import XCTest

/// VaultProvider against the Vault-API test stand-in (Tests/Support/VaultStandIn.swift, peers/vault.md).
final class VaultTests: XCTestCase {
    func config(_ vault: VaultStandIn, path: String, kv: Int = 2, version: Int? = nil, namespace: String? = nil,
                auth: VaultConfig.Auth) -> VaultConfig {
        VaultConfig(address: vault.address, path: path, kvVersion: kv, version: version, namespace: namespace, auth: auth)
    }

    func testTokenAuthKV2VersionsAndNamespace() throws {
        let vault = try VaultStandIn(rootToken: "root-tok-secret")
        defer { vault.stop() }
        XCTAssertEqual(vault.writeKV2("app", #"{"password":"vault-v1-pw","user":"app"}"#, namespace: "team-a"), 200)
        XCTAssertEqual(vault.writeKV2("app", #"{"password":"vault-v2-pw","user":"app"}"#, namespace: "team-a"), 200)
        let token = VaultConfig.Auth.token(Sensitive(.inline("root-tok-secret")))

        let latest = try VaultProvider(ref: "shop/app", config: config(vault, path: "secret/data/app", namespace: "team-a", auth: token),
                                       resolve: inlineResolver).fetch()
        XCTAssertEqual(try latest.value.value(key: "password"), "vault-v2-pw")
        XCTAssertEqual(latest.version, "2")
        let v1 = try VaultProvider(ref: "shop/app", config: config(vault, path: "/secret/data/app", version: 1, namespace: "team-a/", auth: token),
                                   resolve: inlineResolver).fetch()
        XCTAssertEqual(try v1.value.value(key: "password"), "vault-v1-pw")
        XCTAssertEqual(v1.version, "1")

        // Without the namespace the path does not exist: 404 -> notFound.
        let noNS = secretError { try VaultProvider(ref: "shop/app", config: self.config(vault, path: "secret/data/app", auth: token), resolve: inlineResolver).fetch() }
        XCTAssertEqual(noNS?.kind, .notFound)
        // A missing version is 404 too; a soft-deleted latest version is 404 with metadata.
        XCTAssertEqual(secretError { try VaultProvider(ref: "shop/app", config: self.config(vault, path: "secret/data/app", version: 9, namespace: "team-a", auth: token), resolve: inlineResolver).fetch() }?.kind, .notFound)
        XCTAssertEqual(vault.api("DELETE", "/v1/secret/data/app", namespace: "team-a"), 204)
        let deleted = secretError { try VaultProvider(ref: "shop/app", config: self.config(vault, path: "secret/data/app", namespace: "team-a", auth: token), resolve: inlineResolver).fetch() }
        XCTAssertEqual(deleted?.kind, .notFound)

        // A bad token: 403, the errors envelope in the message, never the token.
        let bad = secretError { try VaultProvider(ref: "shop/app", config: self.config(vault, path: "secret/data/app", namespace: "team-a", auth: .token(Sensitive(.inline("wrong-token-xyz")))), resolve: inlineResolver).fetch() }
        XCTAssertEqual(bad?.kind, .auth)
        XCTAssertTrue(bad?.description.contains("permission denied") ?? false, bad?.description ?? "")
        assertNoSecrets([noNS, deleted, bad].map { $0?.description ?? "" } + renderings(latest) + renderings(v1),
                        ["vault-v1-pw", "vault-v2-pw", "root-tok-secret", "wrong-token-xyz"])
    }

    func testKV1() throws {
        let vault = try VaultStandIn()
        defer { vault.stop() }
        XCTAssertEqual(vault.writeKV1("redis", #"{"password":"kv1-secret-pw","ttl":"1h"}"#), 204)
        let p = try VaultProvider(ref: "shop/redis", config: config(vault, path: "kv/redis", kv: 1, auth: .token(Sensitive(.inline(vault.rootToken)))),
                                  resolve: inlineResolver)
        let f = try p.fetch()
        XCTAssertEqual(try f.value.value(key: "password"), "kv1-secret-pw")
        XCTAssertNil(f.version)
    }

    func testAppRoleLoginCachedAndReloginOn403() throws {
        let vault = try VaultStandIn(roleId: "role-id-1", secretId: "approle-secret-id-xyz", tokenTTL: 3600)
        defer { vault.stop() }
        vault.writeKV2("db", #"{"password":"approle-read-pw"}"#)
        let auth = VaultConfig.Auth.appRole(roleId: Sensitive(.inline("role-id-1")), secretId: Sensitive(.inline("approle-secret-id-xyz")), mountPath: "approle")
        let p = try VaultProvider(ref: "shop/db", config: config(vault, path: "secret/data/db", auth: auth), resolve: inlineResolver)
        XCTAssertEqual(try p.fetch().value.value(key: "password"), "approle-read-pw")
        XCTAssertEqual(try p.fetch().value.value(key: "password"), "approle-read-pw")
        XCTAssertEqual(p.loginCount, 1, "the client token is cached")
        XCTAssertEqual(vault.stat("login_approle"), 1)

        vault.expireTokens()  // the server revokes it: the next read answers 403 and the provider logs in again
        XCTAssertEqual(try p.fetch().value.value(key: "password"), "approle-read-pw")
        XCTAssertEqual(p.loginCount, 2)
        XCTAssertEqual(vault.stat("denied"), 1)

        let wrong = VaultConfig.Auth.appRole(roleId: Sensitive(.inline("role-id-1")), secretId: Sensitive(.inline("wrong-secret-id-123")), mountPath: "approle")
        let e = secretError { try VaultProvider(ref: "shop/db", config: self.config(vault, path: "secret/data/db", auth: wrong), resolve: inlineResolver).fetch() }
        XCTAssertEqual(e?.kind, .auth)
        XCTAssertTrue(e?.description.contains("invalid role or secret ID") ?? false, e?.description ?? "")
        let clientTokens = vault.issuedTokens()
        XCTAssertEqual(clientTokens.count, 2)
        assertNoSecrets([e?.description ?? ""] + renderings(p), ["approle-secret-id-xyz", "wrong-secret-id-123", "approle-read-pw"] + clientTokens)
    }

    func testKubernetesLoginAndReloginWhenTheLeaseRunsOut() throws {
        let vault = try VaultStandIn(kubernetesJWT: "sa-jwt-secret-token", tokenTTL: 30)
        defer { vault.stop() }
        vault.writeKV2("k8s", #"{"password":"k8s-read-pw"}"#)
        let jwtPath = TestSupport.tempPath("sa-token")
        try "sa-jwt-secret-token\n".write(toFile: jwtPath, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: jwtPath) }
        let clock = TestClock(Date())
        let auth = VaultConfig.Auth.kubernetes(role: "rampart", mountPath: "kubernetes", tokenPath: jwtPath)
        let p = try VaultProvider(ref: "shop/k8s", config: config(vault, path: "secret/data/k8s", auth: auth), resolve: inlineResolver, now: clock.fn)
        XCTAssertEqual(try p.fetch().value.value(key: "password"), "k8s-read-pw")
        clock.advance(10)
        _ = try p.fetch()
        XCTAssertEqual(p.loginCount, 1, "token still within 2/3 of its 30 s lease")
        clock.advance(11)  // 21 s > 20 s: log in again before the lease ends
        _ = try p.fetch()
        XCTAssertEqual(p.loginCount, 2)
        XCTAssertEqual(vault.stat("login_kubernetes"), 2)
        XCTAssertEqual(vault.stat("denied"), 0, "renewed proactively, no 403")

        try "other-jwt".write(toFile: jwtPath, atomically: true, encoding: .utf8)
        let e = secretError { try VaultProvider(ref: "shop/k8s", config: self.config(vault, path: "secret/data/k8s", auth: auth), resolve: inlineResolver).fetch() }
        XCTAssertEqual(e?.kind, .auth)
        XCTAssertTrue(e?.description.contains("permission denied") ?? false)
        let role = VaultConfig.Auth.kubernetes(role: "nobody", mountPath: "kubernetes", tokenPath: jwtPath)
        let e2 = secretError { try VaultProvider(ref: "shop/k8s", config: self.config(vault, path: "secret/data/k8s", auth: role), resolve: inlineResolver).fetch() }
        XCTAssertTrue(e2?.description.contains("invalid role name") ?? false, e2?.description ?? "")
        assertNoSecrets([e?.description ?? "", e2?.description ?? ""], ["sa-jwt-secret-token", "other-jwt", "k8s-read-pw"])
    }

    func testErrorsEnvelopeAnd503KeepsLastGoodValueWithBackoff() throws {
        let vault = try VaultStandIn()
        defer { vault.stop() }
        vault.writeKV2("pay", #"{"apiKey":"pay-key-one"}"#)
        let p = try VaultProvider(ref: "shop/pay", config: config(vault, path: "secret/data/pay", auth: .token(Sensitive(.inline(vault.rootToken)))),
                                  resolve: inlineResolver)
        vault.fail(status: 500, count: 1, errors: ["internal error: storage backend boom"])
        let e = secretError { try p.fetch() }
        XCTAssertEqual(e?.kind, .provider)
        XCTAssertTrue(e?.description.contains("storage backend boom") ?? false, e?.description ?? "")
        XCTAssertTrue(e?.description.contains("SecretRef shop/pay") ?? false)

        let clock = TestClock()
        let changes = Changes()
        let r = SecretResolver(backoff: .init(baseMs: 1_000, maxMs: 30_000, jitter: 0.2), now: clock.fn, random: { 0.5 }, onChange: { changes.add($0) })
        r.register("shop/pay", provider: p, refreshIntervalMs: 300_000)
        XCTAssertEqual(try r.value(for: "shop/pay", key: "apiKey"), "pay-key-one")
        XCTAssertEqual(r.status("shop/pay")?.version, "1")

        vault.fail(status: 503, errors: ["Vault is sealed"])
        clock.advance(300)
        let reads = vault.stat("requests")
        XCTAssertEqual(r.tick(), ["shop/pay"])
        XCTAssertEqual(try r.value(for: "shop/pay", key: "apiKey"), "pay-key-one")
        let st = try XCTUnwrap(r.status("shop/pay"))
        XCTAssertFalse(st.ready)
        XCTAssertTrue(st.error?.contains("HTTP 503: Vault is sealed") ?? false, st.error ?? "")
        XCTAssertEqual(st.nextRefresh, clock.now.addingTimeInterval(0.9), "1 s minus half of the 20 % jitter")
        XCTAssertEqual(r.tick(), [], "backing off")
        clock.advance(0.9)
        r.tick()
        XCTAssertEqual(r.status("shop/pay")?.nextRefresh, clock.now.addingTimeInterval(1.8))
        XCTAssertEqual(vault.stat("requests") - reads, 2, "one request per attempt")

        vault.fail(status: 0)
        vault.writeKV2("pay", #"{"apiKey":"pay-key-two"}"#)
        clock.advance(1.8)
        r.tick()
        XCTAssertTrue(r.status("shop/pay")?.ready ?? false)
        XCTAssertEqual(r.status("shop/pay")?.version, "2")
        XCTAssertEqual(changes.all, ["shop/pay"])
        XCTAssertEqual(try r.value(for: "shop/pay", key: "apiKey"), "pay-key-two")
        assertNoSecrets([e?.description ?? "", st.description, st.error ?? ""] + renderings(r.statuses()), ["pay-key-one", "pay-key-two", vault.rootToken])
    }
}
