import Foundation
import RampartHTTPClient
import RampartYAML

/// A broken or missing client configuration, naming where (the file, or "in-cluster") and the field.
public struct KubeConfigError: Error, Sendable, CustomStringConvertible {
    /// `kubeconfig /path`, `in-cluster config /var/run/...`, `environment`.
    public var source: String
    /// The field path inside it (`users[0].user.client-key-data`), or "" for the whole file.
    public var field: String
    public var reason: String

    public init(source: String, field: String, reason: String) {
        self.source = source
        self.field = field
        self.reason = reason
    }

    public var description: String { field.isEmpty ? "\(source): \(reason)" : "\(source): \(field): \(reason)" }
}

/// How to reach and authenticate to one Kubernetes API server: from inside a pod (service account)
/// or from a kubeconfig file. Built once at start; the token file inside is re-read as it rotates.
public struct KubeConfig: Sendable {
    /// `https://host:port`, without a trailing slash.
    public var server: String
    /// The CA bundle that verifies the server (nil: the system store).
    public var ca: TLSMaterial?
    public var insecureSkipTLSVerify: Bool
    public var token: BearerToken?
    public var clientCertificate: TLSMaterial?
    public var clientKey: TLSMaterial?
    /// The service-account namespace (in cluster) or the context's namespace (kubeconfig).
    public var namespace: String?
    /// Where this came from, for the start-up log line (`in-cluster`, `kubeconfig /x context dev`).
    public var origin: String
    /// Things to warn about once at start (`insecure-skip-tls-verify`).
    public var warnings: [String]

    public init(server: String, ca: TLSMaterial? = nil, insecureSkipTLSVerify: Bool = false, token: BearerToken? = nil,
                clientCertificate: TLSMaterial? = nil, clientKey: TLSMaterial? = nil, namespace: String? = nil,
                origin: String = "explicit", warnings: [String] = []) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.ca = ca
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
        self.token = token
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
        self.namespace = namespace
        self.origin = origin
        self.warnings = warnings
    }

    public static let defaultServiceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"
    /// Largest kubeconfig read; real ones are a few KiB (embedded certificates included).
    public static let maxKubeconfigBytes = 4 << 20

    /// The configuration `rampart run --source kubernetes` uses, in controller-runtime's order:
    /// `--kubeconfig`, then `KUBECONFIG` (its first file only: merging several files is not
    /// supported), then in cluster when `KUBERNETES_SERVICE_HOST` is set, then `$HOME/.kube/config`.
    public static func resolve(kubeconfig: String? = nil, context: String? = nil,
                               environment: [String: String] = ProcessInfo.processInfo.environment,
                               serviceAccountDirectory: String = defaultServiceAccountDirectory) throws -> KubeConfig {
        if let path = kubeconfig, !path.isEmpty { return try load(kubeconfigPath: path, context: context) }
        if let list = environment["KUBECONFIG"], let first = list.split(separator: ":").first.map(String.init), !first.isEmpty {
            return try load(kubeconfigPath: first, context: context)
        }
        if let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty {
            return try inCluster(environment: environment, serviceAccountDirectory: serviceAccountDirectory)
        }
        if let home = environment["HOME"], !home.isEmpty, FileManager.default.fileExists(atPath: home + "/.kube/config") {
            return try load(kubeconfigPath: home + "/.kube/config", context: context)
        }
        throw KubeConfigError(source: "environment", field: "",
                              reason: "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run in a pod (KUBERNETES_SERVICE_HOST is not set)")
    }

    /// The pod's service account: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`,
    /// the `token` (re-read as it rotates), `ca.crt` and `namespace` files of `serviceAccountDirectory`.
    public static func inCluster(environment: [String: String] = ProcessInfo.processInfo.environment,
                                 serviceAccountDirectory: String = defaultServiceAccountDirectory) throws -> KubeConfig {
        let source = "in-cluster config \(serviceAccountDirectory)"
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else {
            throw KubeConfigError(source: source, field: "KUBERNETES_SERVICE_HOST", reason: "not set (not running in a pod?)")
        }
        let port = environment["KUBERNETES_SERVICE_PORT"] ?? "443"
        guard let portNumber = Int(port), (1...65535).contains(portNumber) else {
            throw KubeConfigError(source: source, field: "KUBERNETES_SERVICE_PORT", reason: "not a port number")
        }
        guard host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == ":" }) else {
            throw KubeConfigError(source: source, field: "KUBERNETES_SERVICE_HOST", reason: "not a host name or address")
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let tokenPath = serviceAccountDirectory + "/token"
        let token = BearerToken(.file(path: tokenPath, field: "token"))
        // Read once now so that a missing token fails at start, naming the file.
        _ = try token.current()
        let caPath = serviceAccountDirectory + "/ca.crt"
        try checkReadable(caPath, source: source, field: "ca.crt")
        var namespace: String?
        if let data = FileManager.default.contents(atPath: serviceAccountDirectory + "/namespace") {
            let text = String(decoding: data.prefix(256), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard isDNSLabel(text) else { throw KubeConfigError(source: source, field: "namespace", reason: "not a namespace name") }
            namespace = text
        }
        return KubeConfig(server: "https://\(hostPart):\(portNumber)", ca: .file(caPath), token: token, namespace: namespace,
                          origin: "in-cluster (\(serviceAccountDirectory))")
    }

    /// Reads a kubeconfig file; `context` nil means its `current-context`.
    public static func load(kubeconfigPath path: String, context: String? = nil) throws -> KubeConfig {
        let source = "kubeconfig \(path)"
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw KubeConfigError(source: source, field: "", reason: "cannot read: \(String(cString: strerror(errno)))")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maxKubeconfigBytes + 1)) ?? Data()
        guard data.count <= maxKubeconfigBytes else {
            throw KubeConfigError(source: source, field: "", reason: "over \(maxKubeconfigBytes) bytes")
        }
        let directory = (path as NSString).deletingLastPathComponent
        return try parse(kubeconfig: Array(data), source: source, directory: directory.isEmpty ? "." : directory, context: context)
    }

    /// Parses kubeconfig text. `source` names it in errors; relative file paths in it are taken
    /// from `directory`, as kubectl does.
    public static func parse(kubeconfig bytes: [UInt8], source: String, directory: String, context requested: String? = nil) throws -> KubeConfig {
        let documents: [Node]
        do {
            documents = try Parser(limits: Limits(maxBytes: maxKubeconfigBytes, maxDepth: 32, maxNodes: 100_000, maxAliasNodes: 1000)).parse(bytes: bytes)
        } catch {
            throw KubeConfigError(source: source, field: "", reason: "not YAML: \(error)")
        }
        guard documents.count == 1, let root = documents.first, root.mapping != nil else {
            throw KubeConfigError(source: source, field: "", reason: "not a kubeconfig (expected one YAML mapping)")
        }
        let file = KubeconfigFile(root: root, source: source, directory: directory)
        let contextName: String
        if let requested, !requested.isEmpty {
            contextName = requested
        } else {
            guard let current = try file.string(root, "current-context", at: "current-context"), !current.isEmpty else {
                throw KubeConfigError(source: source, field: "current-context", reason: "not set; name a context with --context")
            }
            contextName = current
        }
        let (contextNode, contextPath) = try file.named("contexts", contextName, inner: "context")
        guard let clusterName = try file.string(contextNode, "cluster", at: contextPath + ".cluster"), !clusterName.isEmpty else {
            throw KubeConfigError(source: source, field: contextPath + ".cluster", reason: "missing")
        }
        let namespace = try file.string(contextNode, "namespace", at: contextPath + ".namespace")
        let (cluster, clusterPath) = try file.named("clusters", clusterName, inner: "cluster")
        guard let server = try file.string(cluster, "server", at: clusterPath + ".server"), !server.isEmpty else {
            throw KubeConfigError(source: source, field: clusterPath + ".server", reason: "missing")
        }
        guard let url = URL(string: server), let scheme = url.scheme, scheme == "https" || scheme == "http", url.host != nil else {
            throw KubeConfigError(source: source, field: clusterPath + ".server", reason: "not an http(s) URL")
        }
        let insecure = try file.bool(cluster, "insecure-skip-tls-verify", at: clusterPath + ".insecure-skip-tls-verify") ?? false
        let ca = try file.material(cluster, "certificate-authority", at: clusterPath)
        if insecure && ca != nil {
            throw KubeConfigError(source: source, field: clusterPath + ".insecure-skip-tls-verify",
                                  reason: "cannot be combined with certificate-authority: verify with the CA or not at all")
        }
        var warnings: [String] = []
        if insecure {
            warnings.append("\(source): \(clusterPath).insecure-skip-tls-verify is true: the API server's certificate is not verified")
        }

        var token: BearerToken?
        var certificate: TLSMaterial?
        var key: TLSMaterial?
        if let userName = try file.string(contextNode, "user", at: contextPath + ".user"), !userName.isEmpty {
            let (user, userPath) = try file.named("users", userName, inner: "user")
            for unsupported in ["exec", "auth-provider", "username", "password", "as", "impersonate"] where user[unsupported] != nil {
                throw KubeConfigError(source: source, field: "\(userPath).\(unsupported)",
                                      reason: "not supported; use a token, tokenFile or client certificate")
            }
            if let inline = try file.string(user, "token", at: userPath + ".token"), !inline.isEmpty {
                guard inline.unicodeScalars.allSatisfy({ $0.value >= 0x21 && $0.value < 0x7F }) else {
                    throw KubeConfigError(source: source, field: userPath + ".token", reason: "holds characters a bearer token cannot have")
                }
                token = BearerToken(.fixed(SensitiveText(inline)))
            } else if let tokenFile = try file.string(user, "tokenFile", at: userPath + ".tokenFile"), !tokenFile.isEmpty {
                let resolved = file.resolve(tokenFile)
                token = BearerToken(.file(path: resolved, field: userPath + ".tokenFile"))
                do { _ = try token?.current() } catch let error as KubeConfigError {
                    throw KubeConfigError(source: source, field: userPath + ".tokenFile", reason: error.reason)
                }
            }
            certificate = try file.material(user, "client-certificate", at: userPath)
            key = try file.material(user, "client-key", at: userPath)
            if (certificate == nil) != (key == nil) {
                let missing = certificate == nil ? "client-certificate" : "client-key"
                throw KubeConfigError(source: source, field: "\(userPath).\(missing)", reason: "missing: a client certificate needs its key and the key its certificate")
            }
        }
        if let namespace, !isDNSLabel(namespace) {
            throw KubeConfigError(source: source, field: contextPath + ".namespace", reason: "not a namespace name")
        }
        return KubeConfig(server: server, ca: ca, insecureSkipTLSVerify: insecure, token: token, clientCertificate: certificate,
                          clientKey: key, namespace: namespace, origin: "\(source) context \(contextName)", warnings: warnings)
    }

    /// The namespace the controller's own objects (the leader Lease) live in: `POD_NAMESPACE`
    /// (downward API), else the service-account or context namespace, else `default`.
    public func controllerNamespace(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let ns = environment["POD_NAMESPACE"], isDNSLabel(ns) { return ns }
        return namespace ?? "default"
    }

    static func checkReadable(_ path: String, source: String, field: String) throws {
        guard access(path, R_OK) == 0 else {
            throw KubeConfigError(source: source, field: field, reason: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// An RFC 1123 label (namespaces): lowercase alphanumerics and '-', 1 to 63 characters.
public func isDNSLabel(_ s: String) -> Bool {
    guard (1...63).contains(s.utf8.count), let first = s.utf8.first, let last = s.utf8.last else { return false }
    func alnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
    return alnum(first) && alnum(last) && s.utf8.allSatisfy { alnum($0) || $0 == 0x2D }
}

/// Typed reads from a parsed kubeconfig with the field path in every error.
private struct KubeconfigFile {
    let root: Node
    let source: String
    let directory: String

    func fail(_ field: String, _ reason: String) -> KubeConfigError { KubeConfigError(source: source, field: field, reason: reason) }

    func string(_ node: Node, _ key: String, at field: String) throws -> String? {
        guard let value = node[key] else { return nil }
        if case .null = value.resolved, value.scalar != nil { return nil }
        guard let scalar = value.scalar else { throw fail(field, "expected a string, found \(value.kindDescription)") }
        return scalar.text
    }

    func bool(_ node: Node, _ key: String, at field: String) throws -> Bool? {
        guard let value = node[key] else { return nil }
        switch value.resolved {
        case .bool(let b) where value.scalar != nil: return b
        case .null where value.scalar != nil: return nil
        default: throw fail(field, "expected true or false, found \(value.kindDescription)")
        }
    }

    /// The entry `name` of the list `listKey` (`clusters`, `users`, `contexts`), its `inner` mapping and its field path.
    func named(_ listKey: String, _ name: String, inner: String) throws -> (Node, String) {
        guard let listNode = root[listKey] else { throw fail(listKey, "missing (looking for \(inner) \"\(name)\")") }
        guard let list = listNode.sequence else { throw fail(listKey, "expected a list, found \(listNode.kindDescription)") }
        for (index, entry) in list.enumerated() {
            let path = "\(listKey)[\(index)]"
            guard entry.mapping != nil else { throw fail(path, "expected a mapping, found \(entry.kindDescription)") }
            guard try string(entry, "name", at: path + ".name") == name else { continue }
            guard let body = entry[inner], body.mapping != nil else { throw fail("\(path).\(inner)", "missing or not a mapping") }
            return (body, "\(path).\(inner)")
        }
        throw fail(listKey, "no \(inner) named \"\(name)\"")
    }

    /// `KEY` (a file path) or `KEY-data` (base64 PEM) under `node`; both at once is an error.
    func material(_ node: Node, _ key: String, at path: String) throws -> TLSMaterial? {
        let filePath = try string(node, key, at: "\(path).\(key)")
        let data = try string(node, key + "-data", at: "\(path).\(key)-data")
        switch (filePath.flatMap { $0.isEmpty ? nil : $0 }, data.flatMap { $0.isEmpty ? nil : $0 }) {
        case (nil, nil):
            return nil
        case (.some, .some):
            throw fail("\(path).\(key)", "give either \(key) or \(key)-data, not both")
        case (let file?, nil):
            let resolved = resolve(file)
            try KubeConfig.checkReadable(resolved, source: source, field: "\(path).\(key)")
            return .file(resolved)
        case (nil, let text?):
            let field = "\(path).\(key)-data"
            let compact = text.filter { !$0.isWhitespace }
            guard let decoded = Data(base64Encoded: compact) else { throw fail(field, "not base64") }
            let bytes = Array(decoded)
            guard bytes.count < 1 << 20, containsPEMHeader(bytes) else { throw fail(field, "not PEM (no -----BEGIN line after base64 decoding)") }
            return .pem(bytes)
        }
    }

    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : directory + "/" + path
    }

    func containsPEMHeader(_ bytes: [UInt8]) -> Bool {
        let marker = Array("-----BEGIN ".utf8)
        guard bytes.count >= marker.count else { return false }
        for start in 0...(bytes.count - marker.count) where bytes[start] == marker[0] {
            if bytes[start..<(start + marker.count)].elementsEqual(marker) { return true }
        }
        return false
    }
}
