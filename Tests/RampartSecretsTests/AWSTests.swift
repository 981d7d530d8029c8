import Foundation
import RampartModel
import RampartSecrets
import TestSupport
import XCTest

/// AWSSecretsManagerProvider against moto_server.
final class AWSTests: XCTestCase {
    nonisolated(unsafe) static var moto: MotoServer?

    override class func setUp() {
        super.setUp()
        moto = try? MotoServer()
    }

    override class func tearDown() {
        moto?.stop()
        moto = nil
        super.tearDown()
    }

    func server() throws -> MotoServer {
        guard let m = Self.moto else {
            throw XCTSkip("moto_server is not installed or did not start (python3 -m pip install 'moto[server]==5.2.1' boto3)")
        }
        return m
    }

    let explicitCreds = AWSConfig.Credentials.explicit(accessKeyId: Sensitive(.inline("AKIDEXAMPLE")),
                                                       secretAccessKey: Sensitive(.inline("aws-secret-key-xyz")), sessionToken: nil)

    func provider(_ m: MotoServer, _ id: String, stage: String? = "AWSCURRENT", versionId: String? = nil,
                  credentials: AWSConfig.Credentials? = nil, env: [String: String] = [:]) throws -> AWSSecretsManagerProvider {
        try AWSSecretsManagerProvider(ref: "shop/\(id)", config: AWSConfig(region: "eu-west-1", secretId: id, versionStage: stage, versionId: versionId,
                                                                          endpoint: m.endpoint, credentials: credentials ?? explicitCreds),
                                      resolve: inlineResolver, environment: { env })
    }

    func testStringJSONBinaryAndMissing() throws {
        let m = try server()
        try m.python("""
        sm.create_secret(Name="t1/plain", SecretString="aws-plain-secret-1")
        sm.create_secret(Name="t1/json", SecretString=json.dumps({"user": "app", "password": "aws-json-pw"}))
        sm.create_secret(Name="t1/bin", SecretBinary=b"aws-binary-secret")
        sm.create_secret(Name="t1/nonutf8", SecretBinary=b"\\xff\\xfe")
        """)
        let plain = try provider(m, "t1/plain").fetch()
        XCTAssertEqual(try plain.value.value(key: nil), "aws-plain-secret-1")
        XCTAssertNotNil(plain.version)
        XCTAssertEqual(try provider(m, "t1/json").fetch().value.value(key: "password"), "aws-json-pw")
        XCTAssertEqual(try provider(m, "t1/bin").fetch().value.value(key: nil), "aws-binary-secret")
        XCTAssertEqual(secretError { try self.provider(m, "t1/nonutf8").fetch() }?.kind, .provider)

        let missing = secretError { try self.provider(m, "t1/nope").fetch() }
        XCTAssertEqual(missing?.kind, .notFound)
        XCTAssertTrue(missing?.description.contains("ResourceNotFoundException") ?? false, missing?.description ?? "")
        XCTAssertTrue(missing?.description.contains("can't find the specified secret") ?? false, missing?.description ?? "")

        // Environment credentials (read per fetch, through the injected environment).
        let envP = try provider(m, "t1/plain", credentials: .environment,
                                env: ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret-key-abc", "AWS_SESSION_TOKEN": "env-session-tok"])
        XCTAssertEqual(try envP.fetch().value.value(key: nil), "aws-plain-secret-1")
        let noEnv = secretError { try self.provider(m, "t1/plain", credentials: .environment, env: [:]).fetch() }
        XCTAssertEqual(noEnv?.kind, .auth)
        assertNoSecrets([missing?.description ?? "", noEnv?.description ?? ""] + renderings(plain) + renderings(envP),
                        ["aws-plain-secret-1", "aws-json-pw", "aws-secret-key-xyz", "env-secret-key-abc", "env-session-tok"])
    }

    func testRotationGivesNewVersionId() throws {
        let m = try server()
        try m.python(#"sm.create_secret(Name="t2/db", SecretString=json.dumps({"password": "rot-one"}))"#)
        let p = try provider(m, "t2/db")
        let first = try p.fetch()
        XCTAssertEqual(try first.value.value(key: "password"), "rot-one")

        let changes = Changes()
        let r = SecretResolver(onChange: { changes.add($0) })
        r.register("shop/t2/db", provider: p, refreshIntervalMs: 60_000)
        XCTAssertEqual(try r.value(for: "shop/t2/db", key: "password"), "rot-one")

        try m.python(#"sm.put_secret_value(SecretId="t2/db", SecretString=json.dumps({"password": "rot-two"}))"#)
        r.refreshAll()
        XCTAssertEqual(try r.value(for: "shop/t2/db", key: "password"), "rot-two")
        XCTAssertEqual(changes.all, ["shop/t2/db"])
        let second = try XCTUnwrap(r.status("shop/t2/db")?.version)
        XCTAssertNotEqual(second, first.version)
        XCTAssertEqual(try provider(m, "t2/db", stage: "AWSPREVIOUS").fetch().value.value(key: "password"), "rot-one")
        let pinned = try provider(m, "t2/db", versionId: first.version).fetch()
        XCTAssertEqual(try pinned.value.value(key: "password"), "rot-one")
        XCTAssertEqual(pinned.version, first.version)
    }

    func testWebIdentityCredentialsFromSTS() throws {
        let m = try server()
        try m.python(#"sm.create_secret(Name="t3/wi", SecretString="web-identity-read")"#)
        let tokenFile = TestSupport.tempPath("wi-token")
        try "wi-jwt-secret-token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: tokenFile) }
        let p = try provider(m, "t3/wi", credentials: .webIdentity(roleArn: "arn:aws:iam::123456789012:role/rampart", tokenFile: tokenFile))
        XCTAssertEqual(try p.fetch().value.value(key: nil), "web-identity-read")
        XCTAssertEqual(try p.fetch().value.value(key: nil), "web-identity-read")
        assertNoSecrets(renderings(p), ["wi-jwt-secret-token", "web-identity-read"])
    }

    /// moto's verification mode recomputes the SigV4 signature with botocore: ours must match, a wrong key must not.
    func testSignatureVerifiedByMotoAuthMode() throws {
        _ = try server()
        let m = try MotoServer(env: ["INITIAL_NO_AUTH_ACTION_COUNT": "4"])
        defer { m.stop() }
        let keys = try m.python("""
        iam.create_user(UserName="rampart")
        k = iam.create_access_key(UserName="rampart")["AccessKey"]
        iam.put_user_policy(UserName="rampart", PolicyName="read", PolicyDocument=json.dumps({"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}))
        sm.create_secret(Name="t4/signed", SecretString="signed-read-secret")
        print(k["AccessKeyId"] + " " + k["SecretAccessKey"])
        """).split(separator: " ").map(String.init)
        XCTAssertEqual(keys.count, 2)
        guard keys.count == 2 else { return }
        let good = AWSConfig.Credentials.explicit(accessKeyId: Sensitive(.inline(keys[0])), secretAccessKey: Sensitive(.inline(keys[1])), sessionToken: nil)
        XCTAssertEqual(try provider(m, "t4/signed", credentials: good).fetch().value.value(key: nil), "signed-read-secret")
        let bad = AWSConfig.Credentials.explicit(accessKeyId: Sensitive(.inline(keys[0])), secretAccessKey: Sensitive(.inline("not-the-key-123")), sessionToken: nil)
        let e = secretError { try self.provider(m, "t4/signed", credentials: bad).fetch() }
        XCTAssertTrue(e?.description.contains("SignatureDoesNotMatch") ?? false, e?.description ?? "")
        assertNoSecrets([e?.description ?? ""], [keys[1], "not-the-key-123", "signed-read-secret"])
    }
}
