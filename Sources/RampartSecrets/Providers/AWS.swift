import Foundation
import RampartCrypto
import RampartHTTPClient
import RampartModel
import RampartYAML

/// The `spec.aws` block of a SecretRef (API.md 1.5).
public struct AWSConfig: Sendable {
    /// Where signing credentials come from.
    public enum Credentials: Sendable {
        /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (or `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`), read per fetch.
        case environment
        case explicit(accessKeyId: Sensitive, secretAccessKey: Sensitive, sessionToken: Sensitive?)
        /// STS `AssumeRoleWithWebIdentity` with the token in `tokenFile`, refreshed before expiry.
        case webIdentity(roleArn: String, tokenFile: String)
    }

    public var region: String
    public var secretId: String
    public var versionStage: String?
    public var versionId: String?
    /// Base URL override (tests, VPC endpoints); default `https://secretsmanager.REGION.amazonaws.com`.
    public var endpoint: String?
    /// STS base URL override; default: `endpoint` when given, else `https://sts.REGION.amazonaws.com`.
    public var stsEndpoint: String?
    public var credentials: Credentials
    public var timeoutMs: Int

    public init(region: String, secretId: String, versionStage: String? = "AWSCURRENT", versionId: String? = nil, endpoint: String? = nil,
                stsEndpoint: String? = nil, credentials: Credentials = .environment, timeoutMs: Int = 10_000) {
        self.region = region
        self.secretId = secretId
        self.versionStage = versionStage
        self.versionId = versionId
        self.endpoint = endpoint
        self.stsEndpoint = stsEndpoint
        self.credentials = credentials
        self.timeoutMs = timeoutMs
    }

    public init(node n: Node, ref: String, namespace: String) throws {
        guard let region = n.string("region"), !region.isEmpty else { throw SecretError(.config, ref: ref, "spec.aws.region is missing") }
        guard let id = n.string("secretId"), !id.isEmpty else { throw SecretError(.config, ref: ref, "spec.aws.secretId is missing") }
        var creds = Credentials.environment
        if let c = n["credentials"] {
            if let w = c["webIdentity"] {
                guard let arn = w.string("roleArn"), let file = w.string("tokenFile") else {
                    throw SecretError(.config, ref: ref, "spec.aws.credentials.webIdentity needs roleArn and tokenFile")
                }
                creds = .webIdentity(roleArn: arn, tokenFile: file)
            } else if let k = c.sensitive("accessKeyId", namespace: namespace) {
                guard let s = c.sensitive("secretAccessKey", namespace: namespace) else {
                    throw SecretError(.config, ref: ref, "spec.aws.credentials.secretAccessKey is missing")
                }
                creds = .explicit(accessKeyId: k, secretAccessKey: s, sessionToken: c.sensitive("sessionToken", namespace: namespace))
            }
        }
        self.init(region: region, secretId: id, versionStage: n.string("versionStage") ?? "AWSCURRENT", versionId: n.string("versionId"),
                  endpoint: n.string("endpoint"), credentials: creds)
    }
}

/// Reads a secret with AWS Secrets Manager `GetSecretValue`, signed with SigV4.
public final class AWSSecretsManagerProvider: SecretProvider, CustomStringConvertible, CustomReflectable, @unchecked Sendable {
    public let ref: String
    public let config: AWSConfig
    public var kind: String { "aws" }
    private let resolve: SensitiveResolver
    private let now: @Sendable () -> Date
    private let environment: @Sendable () -> [String: String]
    private let lock = NSLock()
    private var stsCredentials: AWSCredentials?

    /// Temporary credentials are replaced this long before they expire.
    public static let refreshBeforeExpiry: TimeInterval = 300

    public init(ref: String, config: AWSConfig, resolve: @escaping SensitiveResolver,
                environment: @escaping @Sendable () -> [String: String] = { ProcessInfo.processInfo.environment },
                now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.ref = ref
        self.config = config
        self.resolve = resolve
        self.environment = environment
        self.now = now
        _ = try endpointParts(config.endpoint ?? "https://secretsmanager.\(config.region).amazonaws.com")
    }

    /// Names the ref, region and secret id; never credentials.
    public var description: String { "AWSSecretsManagerProvider(\(ref): \(config.region) \(config.secretId))" }
    public var customMirror: Mirror { Mirror(self, children: ["ref": ref, "region": config.region, "secretId": config.secretId], displayStyle: .class) }

    public func fetch() throws -> FetchedSecret {
        let creds = try credentials()
        var body: [String: Any] = ["SecretId": config.secretId]
        if let v = config.versionId, !v.isEmpty { body["VersionId"] = v } else if let s = config.versionStage, !s.isEmpty { body["VersionStage"] = s }
        let resp = try call(service: "secretsmanager", base: config.endpoint ?? "https://secretsmanager.\(config.region).amazonaws.com",
                            headers: [("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "secretsmanager.GetSecretValue")],
                            body: JSONText.encode(body), credentials: creds)
        return try Self.decodeGetSecretValue(status: resp.status, body: resp.body, secretId: config.secretId, ref: ref)
    }

    /// The secret in a `GetSecretValue` response, or the error it reports (fuzzed: Fuzz/FuzzSecretResponses).
    package static func decodeGetSecretValue(status: Int, body: [UInt8], secretId: String, ref: String) throws -> FetchedSecret {
        let obj = JSONText.object(body)
        if let err = awsError(obj) {
            let kind: SecretError.Kind = err.type == "ResourceNotFoundException" ? .notFound : .provider
            throw SecretError(kind, ref: ref, "aws: GetSecretValue \(secretId): \(err.type): \(err.message) (HTTP \(status))")
        }
        guard status == 200, let obj else {
            throw SecretError(.provider, ref: ref, "aws: GetSecretValue \(secretId): HTTP \(status)\(xmlError(body).map { ": " + $0 } ?? "")")
        }
        let version = obj["VersionId"] as? String
        if let s = obj["SecretString"] as? String {
            return FetchedSecret(value: .parsing(s, ref: ref), version: version)
        }
        if let b = obj["SecretBinary"] as? String {
            guard let bytes = Base64.decode(b) else { throw SecretError(.provider, ref: ref, "aws: SecretBinary is not valid base64") }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw SecretError(.provider, ref: ref, "aws: SecretBinary is not UTF-8 text (\(bytes.count) bytes)")
            }
            return FetchedSecret(value: .parsing(text, ref: ref), version: version)
        }
        throw SecretError(.provider, ref: ref, "aws: GetSecretValue \(secretId): response has neither SecretString nor SecretBinary")
    }

    /// `__type` (after any `#`) and `message`/`Message` of an AWS JSON error body.
    static func awsError(_ obj: [String: Any]?) -> (type: String, message: String)? {
        guard let obj, let t = obj["__type"] as? String else { return nil }
        let type = t.split(separator: "#").last.map(String.init) ?? t
        return (type, (obj["message"] as? String) ?? (obj["Message"] as? String) ?? "")
    }

    /// An ISO 8601 time with or without fractional seconds (`2026-11-29T07:31:32.095703Z`), to the second.
    /// Only `YYYY-MM-DDTHH:MM:SS[.1-9 digits](Z|±HH:MM)` reaches ICU, without its fraction: ICU's
    /// fractional-second parser divides by zero on a long fraction (an STS reply could kill the process).
    static func parseISO8601(_ s: String) -> Date? {
        let b = Array(s.utf8)
        func digits(_ from: Int, _ count: Int) -> Bool {
            from + count <= b.count && b[from..<(from + count)].allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
        }
        func at(_ i: Int, _ c: Character) -> Bool { i < b.count && b[i] == c.asciiValue }
        guard digits(0, 4), at(4, "-"), digits(5, 2), at(7, "-"), digits(8, 2), at(10, "T"), digits(11, 2), at(13, ":"),
              digits(14, 2), at(16, ":"), digits(17, 2) else { return nil }
        var zone = 19
        if at(19, ".") {
            zone = 20
            while zone < b.count && b[zone] >= 0x30 && b[zone] <= 0x39 { zone += 1 }
            guard (1...9).contains(zone - 20) else { return nil }
        }
        let zoneOK = (zone + 1 == b.count && at(zone, "Z"))
            || (zone + 6 == b.count && (at(zone, "+") || at(zone, "-")) && digits(zone + 1, 2) && at(zone + 3, ":") && digits(zone + 4, 2))
        guard zoneOK else { return nil }
        return ISO8601DateFormatter().date(from: String(decoding: b[0..<19] + b[zone...], as: UTF8.self))
    }

    /// `Code: Message` of an AWS XML error body (`<Error><Code>…</Code><Message>…</Message>`), if any.
    static func xmlError(_ body: [UInt8]) -> String? {
        let text = String(decoding: body.prefix(64 << 10), as: UTF8.self)
        guard let code = xmlTag("Code", in: text) else { return nil }
        return xmlTag("Message", in: text).map { "\(code): \($0)" } ?? code
    }

    static func xmlTag(_ name: String, in text: String) -> String? {
        guard let a = text.range(of: "<\(name)>"), let b = text.range(of: "</\(name)>", range: a.upperBound..<text.endIndex) else { return nil }
        return String(text[a.upperBound..<b.lowerBound])
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    private func endpointParts(_ base: String) throws -> (url: String, host: String, path: String) {
        guard let c = URLComponents(string: base), let scheme = c.scheme, let host = c.host, !host.isEmpty else {
            throw SecretError(.config, ref: ref, "aws: endpoint \(base) is not a URL")
        }
        var hostHeader = host
        if let p = c.port, !((scheme == "https" && p == 443) || (scheme == "http" && p == 80)) { hostHeader += ":\(p)" }
        let path = c.percentEncodedPath.isEmpty ? "/" : c.percentEncodedPath
        return ("\(scheme)://\(hostHeader)\(path)", hostHeader, path)
    }

    private func call(service: String, base: String, headers: [(String, String)], body: [UInt8], credentials: AWSCredentials?) throws -> HTTPResponse {
        let ep = try endpointParts(base)
        var h = [("Host", ep.host)] + headers
        if let credentials {
            h = SigV4.sign(method: "POST", target: ep.path, headers: h, body: body, credentials: credentials,
                           region: config.region, service: service, date: now()).headers
        }
        do {
            return try HTTPClient.send(HTTPRequest(method: "POST", url: ep.url, headers: h, body: body, timeoutMs: config.timeoutMs), maxBodyBytes: 8 << 20)
        } catch {
            throw SecretError(.transport, ref: ref, "aws: \(service): \(error)")
        }
    }

    private func credentials() throws -> AWSCredentials {
        switch config.credentials {
        case .explicit(let k, let s, let t):
            do {
                return AWSCredentials(accessKeyId: try resolve(k), secretAccessKey: try resolve(s), sessionToken: try t.map(resolve))
            } catch { throw SecretError(.auth, ref: ref, "aws: credentials: \(error)") }
        case .environment:
            let env = environment()
            if let k = env["AWS_ACCESS_KEY_ID"], !k.isEmpty, let s = env["AWS_SECRET_ACCESS_KEY"], !s.isEmpty {
                let t = env["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
                return AWSCredentials(accessKeyId: k, secretAccessKey: s, sessionToken: t)
            }
            if let arn = env["AWS_ROLE_ARN"], let file = env["AWS_WEB_IDENTITY_TOKEN_FILE"] {
                return try webIdentity(roleArn: arn, tokenFile: file)
            }
            throw SecretError(.auth, ref: ref, "aws: no credentials in the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)")
        case .webIdentity(let arn, let file):
            return try webIdentity(roleArn: arn, tokenFile: file)
        }
    }

    /// STS credentials for the role, cached until `refreshBeforeExpiry` before they expire.
    private func webIdentity(roleArn: String, tokenFile: String) throws -> AWSCredentials {
        if let c = lock.withLock({ stsCredentials }), let exp = c.expiration, now() < exp.addingTimeInterval(-Self.refreshBeforeExpiry) {
            return c
        }
        let token: String
        do {
            token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch { throw SecretError(.auth, ref: ref, "aws: webIdentity: cannot read the token file \(tokenFile)") }
        func form(_ s: String) -> String { SigV4.uriEncode(Array(s.utf8)) }
        let params = [("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleArn),
                      ("RoleSessionName", "rampart-\(Int(now().timeIntervalSince1970))"), ("WebIdentityToken", token)]
        let body = Array(params.map { "\($0.0)=\(form($0.1))" }.joined(separator: "&").utf8)
        let base = config.stsEndpoint ?? config.endpoint ?? "https://sts.\(config.region).amazonaws.com"
        let resp = try call(service: "sts", base: base, headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
                            body: body, credentials: nil)
        let c = try Self.decodeAssumeRole(status: resp.status, body: resp.body, ref: ref, now: now())
        lock.withLock { stsCredentials = c }
        return c
    }

    /// The credentials in an STS `AssumeRoleWithWebIdentity` XML response (an hour when it names no expiry).
    package static func decodeAssumeRole(status: Int, body: [UInt8], ref: String, now: Date) throws -> AWSCredentials {
        let text = String(decoding: body.prefix(64 << 10), as: UTF8.self)
        guard status == 200, let k = xmlTag("AccessKeyId", in: text), let s = xmlTag("SecretAccessKey", in: text) else {
            throw SecretError(.auth, ref: ref, "aws: sts AssumeRoleWithWebIdentity: HTTP \(status)\(xmlError(body).map { ": " + $0 } ?? "")")
        }
        let exp = xmlTag("Expiration", in: text).flatMap(parseISO8601)
        return AWSCredentials(accessKeyId: k, secretAccessKey: s, sessionToken: xmlTag("SessionToken", in: text),
                              expiration: exp ?? now.addingTimeInterval(3600))
    }
}
