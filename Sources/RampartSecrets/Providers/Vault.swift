import Foundation
import RampartCrypto
import RampartHTTPClient
import RampartModel
import RampartYAML

/// The `spec.vault` block of a SecretRef (API.md 1.5).
public struct VaultConfig: Sendable {
    /// How the provider gets a Vault client token.
    public enum Auth: Sendable {
        case token(Sensitive)
        case kubernetes(role: String, mountPath: String, tokenPath: String)
        case appRole(roleId: Sensitive, secretId: Sensitive, mountPath: String)
    }

    public var address: String
    /// The API path after `/v1/` (KV v2: `secret/data/redis`; KV v1: `secret/redis`).
    public var path: String
    public var kvVersion: Int
    /// A fixed KV v2 version to read (`?version=`); nil = latest.
    public var version: Int?
    public var namespace: String?
    public var auth: Auth
    public var ca: Sensitive?
    public var insecureSkipVerify: Bool
    public var timeoutMs: Int

    public init(address: String, path: String, kvVersion: Int = 2, version: Int? = nil, namespace: String? = nil, auth: Auth,
                ca: Sensitive? = nil, insecureSkipVerify: Bool = false, timeoutMs: Int = 10_000) {
        self.address = address
        self.path = path
        self.kvVersion = kvVersion
        self.version = version
        self.namespace = namespace
        self.auth = auth
        self.ca = ca
        self.insecureSkipVerify = insecureSkipVerify
        self.timeoutMs = timeoutMs
    }

    /// Reads the block; `namespace` is the SecretRef's own, for nested `secretRef`s without one.
    public init(node n: Node, ref: String, namespace: String) throws {
        guard let address = n.string("address"), !address.isEmpty else { throw SecretError(.config, ref: ref, "spec.vault.address is missing") }
        guard let path = n.string("path"), !path.isEmpty else { throw SecretError(.config, ref: ref, "spec.vault.path is missing") }
        guard let a = n["auth"] else { throw SecretError(.config, ref: ref, "spec.vault.auth is missing") }
        let auth: Auth
        if let t = a.sensitive("token", namespace: namespace) {
            auth = .token(t)
        } else if let k = a["kubernetes"] {
            guard let role = k.string("role") else { throw SecretError(.config, ref: ref, "spec.vault.auth.kubernetes.role is missing") }
            auth = .kubernetes(role: role, mountPath: k.string("mountPath") ?? "kubernetes",
                               tokenPath: k.string("tokenPath") ?? "/var/run/secrets/kubernetes.io/serviceaccount/token")
        } else if let r = a["appRole"] {
            guard let roleId = r.sensitive("roleId", namespace: namespace), let secretId = r.sensitive("secretId", namespace: namespace) else {
                throw SecretError(.config, ref: ref, "spec.vault.auth.appRole needs roleId and secretId")
            }
            auth = .appRole(roleId: roleId, secretId: secretId, mountPath: r.string("mountPath") ?? "approle")
        } else {
            throw SecretError(.config, ref: ref, "spec.vault.auth: give one of token, kubernetes, appRole")
        }
        self.init(address: address, path: path, kvVersion: n.integer("kvVersion") ?? 2, version: n.integer("version"),
                  namespace: n.string("namespace"), auth: auth, ca: n["tls"]?.sensitive("ca", namespace: namespace),
                  insecureSkipVerify: n["tls"]?.boolean("insecureSkipVerify") ?? false)
    }
}

/// Reads a KV v1/v2 secret from HashiCorp Vault's HTTP API, logging in (Kubernetes, AppRole) and caching the client token.
public final class VaultProvider: SecretProvider, CustomStringConvertible, CustomReflectable, @unchecked Sendable {
    public let ref: String
    public let config: VaultConfig
    public var kind: String { "vault" }
    private let resolve: SensitiveResolver
    private let now: @Sendable () -> Date
    private let lock = NSLock()
    /// The login token and when to log in again (nil: token auth, or not logged in yet).
    private var cached: (token: String, renewAt: Date?)?
    /// A file holding `tls.ca` (0600), removed on deinit.
    private var caFile: String?
    private var caDigest: [UInt8]?

    /// Fraction of a login token's `lease_duration` after which it is replaced by a new login.
    public static let renewFraction = 2.0 / 3.0

    public init(ref: String, config: VaultConfig, resolve: @escaping SensitiveResolver, now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.ref = ref
        self.config = config
        self.resolve = resolve
        self.now = now
        guard config.kvVersion == 1 || config.kvVersion == 2 else { throw SecretError(.config, ref: ref, "spec.vault.kvVersion must be 1 or 2") }
    }

    /// Names the ref, address and path; never a token.
    public var description: String { "VaultProvider(\(ref): \(config.address) \(config.path))" }
    public var customMirror: Mirror { Mirror(self, children: ["ref": ref, "address": config.address, "path": config.path], displayStyle: .class) }

    deinit {
        if let caFile { try? FileManager.default.removeItem(atPath: caFile) }
    }

    /// Number of logins performed (tests, metrics).
    public var loginCount: Int { lock.withLock { _loginCount } }
    private var _loginCount = 0

    public func fetch() throws -> FetchedSecret {
        var token = try clientToken()
        var resp = try get(token: token)
        if resp.status == 403, isLoginAuth {
            // The cached token expired or was revoked: log in once more and retry.
            lock.withLock { cached = nil }
            token = try clientToken()
            resp = try get(token: token)
        }
        return try parseRead(resp)
    }

    private var isLoginAuth: Bool {
        if case .token = config.auth { return false }
        return true
    }

    private var base: String {
        var a = config.address
        while a.hasSuffix("/") { a.removeLast() }
        return a + "/v1/"
    }

    private func trimmedPath(_ p: String) -> String {
        var p = Substring(p)
        while p.hasPrefix("/") { p = p.dropFirst() }
        return String(p)
    }

    private func headers(token: String?) -> [(String, String)] {
        var h: [(String, String)] = [("X-Vault-Request", "true"), ("Accept", "application/json")]
        if let token { h.append(("X-Vault-Token", token)) }
        if let ns = config.namespace, !ns.isEmpty { h.append(("X-Vault-Namespace", ns)) }
        return h
    }

    private func tlsCAFile() throws -> String? {
        guard let ca = config.ca else { return nil }
        let pem: String
        do { pem = try resolve(ca) } catch { throw SecretError(.config, ref: ref, "vault: tls.ca: \(error)") }
        let digest = SHA256.hash(pem)
        return try lock.withLock {
            if let f = caFile, caDigest == digest { return f }
            let path = NSTemporaryDirectory() + "rampart-vault-ca-\(UUID().uuidString).pem"
            guard FileManager.default.createFile(atPath: path, contents: Data(pem.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw SecretError(.config, ref: ref, "vault: cannot write the tls.ca bundle to \(path)")
            }
            if let old = caFile { try? FileManager.default.removeItem(atPath: old) }
            caFile = path
            caDigest = digest
            return path
        }
    }

    private func send(_ method: String, _ url: String, token: String?, body: [UInt8] = []) throws -> HTTPResponse {
        var h = headers(token: token)
        if !body.isEmpty { h.append(("Content-Type", "application/json")) }
        let req = HTTPRequest(method: method, url: url, headers: h, body: body, timeoutMs: config.timeoutMs,
                              caFile: try tlsCAFile(), insecureSkipVerify: config.insecureSkipVerify)
        do {
            return try HTTPClient.send(req, maxBodyBytes: 8 << 20)
        } catch {
            throw SecretError(.transport, ref: ref, "vault: \(error)")
        }
    }

    private func get(token: String) throws -> HTTPResponse {
        var url = base + trimmedPath(config.path)
        if config.kvVersion == 2, let v = config.version, v > 0 { url += (url.contains("?") ? "&" : "?") + "version=\(v)" }
        return try send("GET", url, token: token)
    }

    /// The `errors` of a Vault error body, joined; never the body itself (it could echo a secret).
    private static func errorText(status: Int, body: [UInt8]) -> String {
        guard let obj = JSONText.object(body), let errs = obj["errors"] as? [Any] else { return "HTTP \(status)" }
        let msgs = errs.compactMap { $0 as? String }.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        return msgs.isEmpty ? "HTTP \(status)" : "HTTP \(status): " + msgs.joined(separator: "; ")
    }

    private func parseRead(_ resp: HTTPResponse) throws -> FetchedSecret {
        try Self.decodeRead(status: resp.status, body: resp.body, kvVersion: config.kvVersion, path: config.path, ref: ref)
    }

    /// The secret in a KV v1/v2 read response, or the error it reports (fuzzed: Fuzz/FuzzSecretResponses).
    package static func decodeRead(status: Int, body: [UInt8], kvVersion: Int, path: String, ref: String) throws -> FetchedSecret {
        switch status {
        case 200: break
        case 204: throw SecretError(.notFound, ref: ref, "vault: \(path): empty response (204)")
        case 404: throw SecretError(.notFound, ref: ref, "vault: \(path) not found (\(errorText(status: status, body: body)))")
        case 401, 403: throw SecretError(.auth, ref: ref, "vault: \(path): permission denied (\(errorText(status: status, body: body)))")
        default: throw SecretError(.provider, ref: ref, "vault: \(path): \(errorText(status: status, body: body))")
        }
        guard let obj = JSONText.object(body), let data = obj["data"] as? [String: Any] else {
            throw SecretError(.provider, ref: ref, "vault: \(path): response has no data object (\(body.count) bytes)")
        }
        if kvVersion == 1 {
            return FetchedSecret(value: .object(JSONText.stringFields(data), ref: ref))
        }
        let meta = data["metadata"] as? [String: Any]
        let version = JSONText.int(meta?["version"]).map(String.init)
        guard let inner = data["data"] as? [String: Any] else {
            throw SecretError(.notFound, ref: ref, "vault: \(path): version \(version ?? "?") is deleted or destroyed")
        }
        return FetchedSecret(value: .object(JSONText.stringFields(inner), ref: ref), version: version)
    }

    /// The token to send: the configured one, or a cached/new login token.
    private func clientToken() throws -> String {
        switch config.auth {
        case .token(let s):
            do { return try resolve(s) } catch { throw SecretError(.auth, ref: ref, "vault: auth.token: \(error)") }
        case .kubernetes(let role, let mount, let tokenPath):
            if let t = validCached() { return t }
            let jwt: String
            do {
                jwt = try String(contentsOfFile: tokenPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw SecretError(.auth, ref: ref, "vault: kubernetes auth: cannot read the service account token \(tokenPath)")
            }
            return try login(mount: mount, body: ["role": role, "jwt": jwt], what: "kubernetes")
        case .appRole(let roleId, let secretId, let mount):
            if let t = validCached() { return t }
            let r: String, s: String
            do {
                r = try resolve(roleId)
                s = try resolve(secretId)
            } catch { throw SecretError(.auth, ref: ref, "vault: appRole auth: \(error)") }
            return try login(mount: mount, body: ["role_id": r, "secret_id": s], what: "approle")
        }
    }

    private func validCached() -> String? {
        lock.withLock {
            guard let c = cached else { return nil }
            if let at = c.renewAt, now() >= at { cached = nil; return nil }
            return c.token
        }
    }

    private func login(mount: String, body: [String: Any], what: String) throws -> String {
        let url = base + "auth/" + trimmedPath(mount) + "/login"
        let resp = try send("POST", url, token: nil, body: JSONText.encode(body))
        lock.withLock { _loginCount += 1 }
        guard resp.status == 200 else {
            throw SecretError(.auth, ref: ref, "vault: \(what) login: \(Self.errorText(status: resp.status, body: resp.body))")
        }
        guard let login = Self.decodeLogin(body: resp.body) else {
            throw SecretError(.auth, ref: ref, "vault: \(what) login: response has no auth.client_token")
        }
        let token = login.token, lease = login.leaseSeconds
        let renewAt = lease > 0 ? now().addingTimeInterval(Double(lease) * Self.renewFraction) : nil
        lock.withLock { cached = (token, renewAt) }
        return token
    }

    /// `auth.client_token` and `auth.lease_duration` (seconds, 0 when absent) of a login response.
    package static func decodeLogin(body: [UInt8]) -> (token: String, leaseSeconds: Int)? {
        guard let obj = JSONText.object(body), let auth = obj["auth"] as? [String: Any],
              let token = auth["client_token"] as? String, !token.isEmpty else { return nil }
        return (token, JSONText.int(auth["lease_duration"]) ?? 0)
    }
}
