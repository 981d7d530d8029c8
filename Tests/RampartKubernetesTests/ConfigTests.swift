import Foundation
import RampartHTTPClient
import TestSupport
import XCTest
@testable import RampartKubernetes

final class ConfigTests: XCTestCase {
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    var pemBase64: String { Data(pem.utf8).base64EncodedString() }
    let token = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"

    func write(_ text: String, _ path: String) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }

    func serviceAccountDir(token: String? = nil, namespace: String? = "rampart-system") throws -> String {
        let dir = try TempDir.make("sa")
        if let token { try write(token + "\n", dir + "/token") }
        try write(pem, dir + "/ca.crt")
        if let namespace { try write(namespace, dir + "/namespace") }
        return dir
    }

    // MARK: in cluster

    func testInClusterReadsTokenCANamespaceAndBracketsIPv6() throws {
        let dir = try serviceAccountDir(token: token)
        let config = try KubeConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
                                              serviceAccountDirectory: dir)
        XCTAssertEqual(config.server, "https://10.96.0.1:443")
        XCTAssertEqual(config.namespace, "rampart-system")
        XCTAssertEqual(try config.token?.current().revealed, token, "trailing newline trimmed")
        guard case .file(let ca)? = config.ca else { return XCTFail("CA should be the ca.crt file") }
        XCTAssertEqual(ca, dir + "/ca.crt")
        let v6 = try KubeConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"],
                                          serviceAccountDirectory: dir)
        XCTAssertEqual(v6.server, "https://[fd00::1]:6443")
        XCTAssertEqual(v6.controllerNamespace(environment: ["POD_NAMESPACE": "other"]), "other")
        XCTAssertEqual(v6.controllerNamespace(environment: [:]), "rampart-system")
    }

    func testInClusterErrorsNameTheFileAndField() throws {
        let noToken = try serviceAccountDir(token: nil)
        XCTAssertThrowsError(try KubeConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1"], serviceAccountDirectory: noToken)) { error in
            XCTAssertTrue("\(error)".contains(noToken + "/token"), "\(error)")
            XCTAssertTrue("\(error)".contains(": token: "), "\(error)")
        }
        let dir = try serviceAccountDir(token: token)
        XCTAssertThrowsError(try KubeConfig.inCluster(environment: [:], serviceAccountDirectory: dir)) { error in
            XCTAssertTrue("\(error)".contains("KUBERNETES_SERVICE_HOST"), "\(error)")
        }
        XCTAssertThrowsError(try KubeConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "http"],
                                                      serviceAccountDirectory: dir)) { error in
            XCTAssertTrue("\(error)".contains("KUBERNETES_SERVICE_PORT: not a port number"), "\(error)")
        }
        // A host that would change the URL's meaning (userinfo, path) is refused.
        XCTAssertThrowsError(try KubeConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "evil@10.0.0.1/x"], serviceAccountDirectory: dir))
        let badNamespace = try serviceAccountDir(token: token, namespace: "../etc")
        XCTAssertThrowsError(try KubeConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1"], serviceAccountDirectory: badNamespace)) { error in
            XCTAssertTrue("\(error)".contains("namespace: not a namespace name"), "\(error)")
        }
        try FileManager.default.removeItem(atPath: dir + "/ca.crt")
        XCTAssertThrowsError(try KubeConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1"], serviceAccountDirectory: dir)) { error in
            XCTAssertTrue("\(error)".contains("ca.crt: cannot read"), "\(error)")
        }
    }

    func testRotatedTokenFileIsReadAgain() throws {
        let dir = try serviceAccountDir(token: "first-token")
        let config = try KubeConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1"], serviceAccountDirectory: dir)
        XCTAssertEqual(try config.token?.current().revealed, "first-token")
        // kubelet swaps a projected volume's files by renaming a new directory in: a new inode.
        try write("second-token-longer", dir + "/token.new")
        XCTAssertEqual(rename(dir + "/token.new", dir + "/token"), 0)
        XCTAssertEqual(try config.token?.current().revealed, "second-token-longer")
        // A rotation caught mid-way (the file briefly missing) keeps the last good token.
        try FileManager.default.removeItem(atPath: dir + "/token")
        XCTAssertEqual(try config.token?.current().revealed, "second-token-longer")
    }

    func testTokenWithALineBreakInsideIsRefused() throws {
        // A token is sent in a header line: an embedded CR/LF would add headers of the file writer's choosing.
        let dir = try serviceAccountDir(token: "abc\r\nX-Injected: 1")
        XCTAssertThrowsError(try KubeConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1"], serviceAccountDirectory: dir)) { error in
            XCTAssertFalse("\(error)".contains("X-Injected"), "the token's content is not echoed: \(error)")
        }
    }

    // MARK: kubeconfig

    func kubeconfig(user: String, cluster: String? = nil, context: String = "dev", extra: String = "") -> String {
        """
        apiVersion: v1
        kind: Config
        current-context: \(context)
        clusters:
        - name: other
          cluster:
            server: https://other.example:6443
        - name: dev-cluster
          cluster:
        \(cluster ?? "    server: https://127.0.0.1:6443\n    certificate-authority-data: \(pemBase64)")
        contexts:
        - name: dev
          context:
            cluster: dev-cluster
            user: dev-user
            namespace: team-a
        users:
        - name: dev-user
          user:
        \(user)
        \(extra)
        """
    }

    func parse(_ text: String, context: String? = nil, directory: String = "/cfg") throws -> KubeConfig {
        try KubeConfig.parse(kubeconfig: Array(text.utf8), source: "kubeconfig /x", directory: directory, context: context)
    }

    func testKubeconfigWithTokenAndCAData() throws {
        let config = try parse(kubeconfig(user: "    token: \(token)"))
        XCTAssertEqual(config.server, "https://127.0.0.1:6443")
        XCTAssertEqual(config.namespace, "team-a")
        XCTAssertEqual(try config.token?.current().revealed, token)
        guard case .pem(let ca)? = config.ca else { return XCTFail("CA data should be kept as PEM bytes") }
        XCTAssertEqual(String(decoding: ca, as: UTF8.self), pem)
        XCTAssertTrue(config.warnings.isEmpty)
        XCTAssertEqual(config.origin, "kubeconfig /x context dev")
    }

    func testKubeconfigClientCertificateDataAndRelativeFiles() throws {
        let dir = try TempDir.make("kc")
        try write(pem, dir + "/client.crt")
        try write(pem, dir + "/ca.pem")
        let keyData = Data("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".utf8).base64EncodedString()
        let text = kubeconfig(user: "    client-certificate: client.crt\n    client-key-data: \(keyData)",
                              cluster: "    server: https://127.0.0.1:6443\n    certificate-authority: ca.pem")
        try write(text, dir + "/config")
        let config = try KubeConfig.load(kubeconfigPath: dir + "/config")
        guard case .file(let cert)? = config.clientCertificate, case .pem(let key)? = config.clientKey, case .file(let ca)? = config.ca else {
            return XCTFail("file paths stay paths, -data becomes bytes")
        }
        XCTAssertEqual(cert, dir + "/client.crt", "relative to the kubeconfig's directory")
        XCTAssertEqual(ca, dir + "/ca.pem")
        XCTAssertTrue(String(decoding: key, as: UTF8.self).contains("PRIVATE KEY"))
        XCTAssertNil(config.token)
        // The key's bytes are not printed by describing the config or the material.
        XCTAssertFalse("\(config)".contains("AAAA"))
        XCTAssertFalse(String(reflecting: config).contains("AAAA"))
        var dumped = ""
        dump(config, to: &dumped)
        XCTAssertFalse(dumped.contains("AAAA"), dumped)
    }

    func testTokenIsNeverPrinted() throws {
        let config = try parse(kubeconfig(user: "    token: \(token)"))
        var dumped = ""
        dump(config, to: &dumped)
        for text in ["\(config)", String(reflecting: config), dumped, "\(String(describing: config.token))", "\(try config.token!.current())"] {
            XCTAssertFalse(text.contains("c2VjcmV0LXRva2Vu"), text)
        }
    }

    func testRequestWithTheTokenPrintsWithoutIt() throws {
        let client = KubernetesClient(config: try parse(kubeconfig(user: "    token: \(token)")))
        let request = try client.httpRequest("GET", "/api/v1/secrets")
        XCTAssertTrue(request.headers.contains { $0.0 == "Authorization" && $0.1 == "Bearer " + token })
        var dumped = ""
        dump(request, to: &dumped)
        for text in ["\(request)", String(reflecting: request), dumped] {
            XCTAssertFalse(text.contains("c2VjcmV0LXRva2Vu"), text)
        }
        XCTAssertEqual("\(request)", "GET https://127.0.0.1:6443/api/v1/secrets")
    }

    func testExplicitContextAndKUBECONFIGFirstFile() throws {
        let dir = try TempDir.make("kc")
        let text = kubeconfig(user: "    token: abc", extra: """
        - name: ops
          user:
            token: ops-token
        """) + "\n"
        let withOps = text.replacingOccurrences(of: "contexts:\n", with: "contexts:\n- name: ops\n  context:\n    cluster: other\n    user: ops\n")
        try write(withOps, dir + "/config")
        let ops = try KubeConfig.resolve(context: "ops", environment: ["KUBECONFIG": dir + "/config:/does/not/exist"])
        XCTAssertEqual(ops.server, "https://other.example:6443")
        XCTAssertEqual(try ops.token?.current().revealed, "ops-token")
        XCTAssertNil(ops.namespace)
        // --kubeconfig wins over KUBECONFIG and over in-cluster.
        let flag = try KubeConfig.resolve(kubeconfig: dir + "/config", environment: ["KUBECONFIG": "/nope", "KUBERNETES_SERVICE_HOST": "10.0.0.1"])
        XCTAssertEqual(flag.server, "https://127.0.0.1:6443")
        XCTAssertThrowsError(try KubeConfig.resolve(environment: [:])) { error in
            XCTAssertTrue("\(error)".contains("--kubeconfig"), "\(error)")
        }
    }

    func testInsecureSkipTLSVerifyWarns() throws {
        let config = try parse(kubeconfig(user: "    token: abc", cluster: "    server: https://127.0.0.1:6443\n    insecure-skip-tls-verify: true"))
        XCTAssertTrue(config.insecureSkipTLSVerify)
        XCTAssertEqual(config.warnings.count, 1)
        XCTAssertTrue(config.warnings[0].contains("clusters[1].cluster.insecure-skip-tls-verify"), config.warnings[0])
    }

    /// Each broken kubeconfig and the exact `file: field: reason` it gives.
    func testBrokenKubeconfigsNameFileAndField() throws {
        let cases: [(String, String?, String)] = [
            (kubeconfig(user: "    client-certificate-data: \(pemBase64)\n    client-key-data: not*base64!"), nil,
             "kubeconfig /x: users[0].user.client-key-data: not base64"),
            (kubeconfig(user: "    client-certificate-data: \(pemBase64)\n    client-key-data: \(Data("hello".utf8).base64EncodedString())"), nil,
             "kubeconfig /x: users[0].user.client-key-data: not PEM (no -----BEGIN line after base64 decoding)"),
            (kubeconfig(user: "    client-certificate-data: \(pemBase64)"), nil,
             "kubeconfig /x: users[0].user.client-key: missing: a client certificate needs its key and the key its certificate"),
            (kubeconfig(user: "    client-certificate: /does/not/exist.crt\n    client-key: /does/not/exist.key"), nil,
             "kubeconfig /x: users[0].user.client-certificate: cannot read /does/not/exist.crt: No such file or directory"),
            (kubeconfig(user: "    exec:\n      command: aws"), nil,
             "kubeconfig /x: users[0].user.exec: not supported; use a token, tokenFile or client certificate"),
            (kubeconfig(user: "    token: abc", cluster: "    server: https://127.0.0.1:6443\n    insecure-skip-tls-verify: true\n    certificate-authority-data: \(pemBase64)"), nil,
             "kubeconfig /x: clusters[1].cluster.insecure-skip-tls-verify: cannot be combined with certificate-authority: verify with the CA or not at all"),
            (kubeconfig(user: "    token: abc", cluster: "    insecure-skip-tls-verify: true"), nil,
             "kubeconfig /x: clusters[1].cluster.server: missing"),
            (kubeconfig(user: "    token: abc", cluster: "    server: ftp://x"), nil,
             "kubeconfig /x: clusters[1].cluster.server: not an http(s) URL"),
            (kubeconfig(user: "    token: abc", cluster: "    server: https://x\n    insecure-skip-tls-verify: sometimes"), nil,
             "kubeconfig /x: clusters[1].cluster.insecure-skip-tls-verify: expected true or false, found a string"),
            (kubeconfig(user: "    token: abc"), "missing",
             "kubeconfig /x: contexts: no context named \"missing\""),
            (kubeconfig(user: "    token: abc", context: ""), nil,
             "kubeconfig /x: current-context: not set; name a context with --context"),
            (kubeconfig(user: "    token: abc").replacingOccurrences(of: "- name: dev-user", with: "- name: someone-else"), nil,
             "kubeconfig /x: users: no user named \"dev-user\""),
            (kubeconfig(user: "    token: [1, 2]"), nil,
             "kubeconfig /x: users[0].user.token: expected a string, found a list"),
            ("clusters: [unclosed", nil, "kubeconfig /x: not YAML: "),
            ("- a\n- b\n", nil, "kubeconfig /x: not a kubeconfig (expected one YAML mapping)"),
            ("current-context: dev\n", nil, "kubeconfig /x: contexts: missing (looking for context \"dev\")"),
        ]
        for (text, context, expected) in cases {
            XCTAssertThrowsError(try parse(text, context: context), expected) { error in
                XCTAssertTrue("\(error)".hasPrefix(expected), "got \(error)\nwanted \(expected)")
            }
        }
    }

    func testMissingAndOversizeFiles() throws {
        XCTAssertThrowsError(try KubeConfig.load(kubeconfigPath: "/does/not/exist")) { error in
            XCTAssertEqual("\(error)", "kubeconfig /does/not/exist: cannot read: No such file or directory")
        }
        let big = TestSupport.tempPath("big-kubeconfig")
        try write(String(repeating: "#", count: KubeConfig.maxKubeconfigBytes + 1), big)
        XCTAssertThrowsError(try KubeConfig.load(kubeconfigPath: big)) { error in
            XCTAssertTrue("\(error)".contains("over \(KubeConfig.maxKubeconfigBytes) bytes"), "\(error)")
        }
    }
}
