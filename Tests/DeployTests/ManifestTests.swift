import Foundation
import RampartYAML
import TestSupport
import XCTest

/// The objects a manifest file holds, parsed with the project's YAML parser.
struct ManifestFile {
    let path: String
    let objects: [Node]

    init(_ relative: String) throws {
        path = relative
        let text = try String(contentsOf: PackagePaths.root.appendingPathComponent(relative), encoding: .utf8)
        objects = try Parser().parse(text).filter { $0.mapping != nil }
    }

    func objects(kind: String) -> [Node] {
        objects.filter { $0["kind"]?.scalar?.text == kind }
    }

    func only(kind: String, file: StaticString = #filePath, line: UInt = #line) throws -> Node {
        let found = objects(kind: kind)
        guard found.count == 1, let object = found.first else {
            XCTFail("\(path): expected one \(kind), found \(found.count)", file: file, line: line)
            throw XCTSkip("no single \(kind)")
        }
        return object
    }
}

extension Node {
    /// The value at a dotted path of mapping keys ("spec.template.spec").
    func at(_ path: String) -> Node? {
        var node: Node? = self
        for key in path.split(separator: ".") { node = node?[String(key)] }
        return node
    }

    func text(_ path: String) -> String? { at(path)?.scalar?.text }

    /// A list of scalars as strings ([] if absent).
    func strings(_ path: String) -> [String] { (at(path)?.sequence ?? []).compactMap { $0.scalar?.text } }

    /// The mapping of string keys to strings (labels, selectors).
    var stringMap: [String: String] {
        var out: [String: String] = [:]
        for pair in mapping ?? [] { if let key = pair.key.scalar?.text, let value = pair.value.scalar?.text { out[key] = value } }
        return out
    }
}

/// manifests/: every file holds well-formed Kubernetes objects, applies in an order that works, and
/// the Deployment runs the Kubernetes source hardened (the settings the "restricted" Pod Security
/// Standard asks for, probes that need no token).
final class ManifestTests: XCTestCase {
    static let topLevelFiles = ["00-namespace.yaml", "rbac.yaml", "deployment.yaml", "service.yaml", "poddisruptionbudget.yaml"]
    static let namespace = "rampart-system"

    func testManifestsAreTheListedFilesAndTheNamespaceSortsFirst() throws {
        let listed = try FileManager.default.contentsOfDirectory(atPath: PackagePaths.root.appendingPathComponent("manifests").path)
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") || $0.hasSuffix(".json") }.sorted()
        XCTAssertEqual(Set(listed), Set(Self.topLevelFiles), "a new file in manifests/ is applied by `kubectl apply -f manifests/`: add it here")
        // kubectl applies a directory's files in name order; the Namespace must exist first.
        XCTAssertEqual(listed.first, "00-namespace.yaml")
        let namespaceFile = try ManifestFile("manifests/00-namespace.yaml")
        XCTAssertEqual(try namespaceFile.only(kind: "Namespace").text("metadata.name"), Self.namespace)
    }

    func testEveryObjectIsWellFormedAndUnique() throws {
        var seen = Set<String>()
        for relative in Self.topLevelFiles.map({ "manifests/" + $0 }) + ["manifests/examples/sidecar.yaml", "manifests/crds/rampart.io_crds.yaml"] {
            let file = try ManifestFile(relative)
            XCTAssertFalse(file.objects.isEmpty, relative)
            for object in file.objects {
                let kind = object.text("kind") ?? ""
                let name = object.text("metadata.name") ?? ""
                XCTAssertNotNil(object.text("apiVersion"), "\(relative): \(kind) \(name): apiVersion")
                XCTAssertFalse(kind.isEmpty, "\(relative): kind")
                XCTAssertNotNil(name.range(of: #"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"#, options: .regularExpression), "\(relative): \(kind) name \(name)")
                let id = "\(object.text("apiVersion") ?? "")/\(kind)/\(object.text("metadata.namespace") ?? "")/\(name)"
                XCTAssertTrue(seen.insert(id).inserted, "\(relative): \(id) is defined twice")
            }
        }
    }

    func testTheGatewayObjectsLiveInItsNamespace() throws {
        let clusterScoped: Set<String> = ["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"]
        for relative in Self.topLevelFiles.map({ "manifests/" + $0 }) {
            for object in try ManifestFile(relative).objects {
                let kind = object.text("kind") ?? ""
                let namespace = object.text("metadata.namespace")
                if clusterScoped.contains(kind) {
                    XCTAssertNil(namespace, "\(relative): \(kind) is cluster-scoped")
                } else {
                    XCTAssertEqual(namespace, Self.namespace, "\(relative): \(kind) \(object.text("metadata.name") ?? "")")
                }
            }
        }
    }

    func testTheDeploymentRunsTheKubernetesSourceWithLeaderElection() throws {
        let deployment = try ManifestFile("manifests/deployment.yaml").only(kind: "Deployment")
        XCTAssertEqual(deployment.text("spec.replicas"), "2")
        let pod = try XCTUnwrap(deployment.at("spec.template.spec"))
        XCTAssertEqual(pod.text("serviceAccountName"), "rampart")
        let serviceAccount = try ManifestFile("manifests/rbac.yaml").only(kind: "ServiceAccount")
        XCTAssertEqual(serviceAccount.text("metadata.name"), "rampart")
        XCTAssertNotEqual(pod.text("automountServiceAccountToken"), "false", "the Kubernetes source needs the token")

        let container = try XCTUnwrap(pod.at("containers")?.sequence?.first)
        let args = container.strings("args")
        XCTAssertEqual(Array(args.prefix(1)), ["run"])
        XCTAssertTrue(Self.contains(args, ["--source", "kubernetes"]), "\(args)")
        XCTAssertTrue(args.contains("--leader-elect"))
        XCTAssertFalse(args.contains("--namespace"), "the manifests watch every namespace (the ClusterRole)")
        XCTAssertFalse(args.contains("--dev"), "--dev allows plaintext secrets without a warning")
        XCTAssertTrue(Self.contains(args, ["--admin-tls", "auto"]), "the admin API is reachable on the pod IP: HTTPS")

        // Identity and lease namespace through the downward API.
        var env: [String: String] = [:]
        for variable in container.at("env")?.sequence ?? [] {
            if let name = variable.text("name") { env[name] = variable.text("valueFrom.fieldRef.fieldPath") }
        }
        XCTAssertEqual(env["POD_NAME"], "metadata.name")
        XCTAssertEqual(env["POD_NAMESPACE"], "metadata.namespace")

        // The state dir is the writable emptyDir; everything else is read-only.
        let stateDir = try XCTUnwrap(args.firstIndex(of: "--state-dir").map { args[$0 + 1] })
        let mounts = (container.at("volumeMounts")?.sequence ?? []).reduce(into: [String: String]()) { $0[$1.text("mountPath") ?? ""] = $1.text("name") }
        let stateVolume = try XCTUnwrap(mounts[stateDir], "no volume at \(stateDir)")
        let volume = try XCTUnwrap((pod.at("volumes")?.sequence ?? []).first { $0.text("name") == stateVolume })
        XCTAssertNotNil(volume.at("emptyDir"))
        XCTAssertNotNil(volume.text("emptyDir.sizeLimit"), "an unbounded emptyDir can fill the node's disk")
    }

    static func contains(_ args: [String], _ pair: [String]) -> Bool {
        args.indices.dropLast().contains { args[$0] == pair[0] && args[$0 + 1] == pair[1] }
    }

    /// The probes hit the admin API's /healthz and /readyz, which need no token, over HTTPS (the kubelet
    /// does not verify the certificate), on the port the admin API listens on.
    static func checkProbes(_ container: Node, args: [String], file: String) {
        let admin = args.firstIndex(of: "--admin").map { args[$0 + 1] } ?? ""
        let adminPort = admin.split(separator: ":").last.map(String.init) ?? ""
        XCTAssertTrue(admin.hasPrefix("0.0.0.0:"), "\(file): the kubelet probes the pod IP, not loopback")
        let ports = (container.at("ports")?.sequence ?? []).reduce(into: [String: String]()) { $0[$1.text("name") ?? ""] = $1.text("containerPort") }
        XCTAssertEqual(ports["admin"], adminPort, "\(file): port admin is the --admin port")
        for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
            XCTAssertEqual(container.text("\(probe).httpGet.path"), path, "\(file): \(probe)")
            XCTAssertEqual(container.text("\(probe).httpGet.scheme"), "HTTPS", "\(file): \(probe)")
            XCTAssertEqual(container.text("\(probe).httpGet.port"), "admin", "\(file): \(probe)")
            XCTAssertNil(container.at("\(probe).httpGet.httpHeaders"), "\(file): \(probe): no token in a probe")
        }
    }

    /// The restricted Pod Security Standard's container settings, plus a read-only root filesystem and limits.
    static func checkHardening(pod: Node, container: Node, file: String) {
        XCTAssertEqual(pod.text("securityContext.runAsNonRoot"), "true", file)
        XCTAssertEqual(pod.text("securityContext.seccompProfile.type"), "RuntimeDefault", file)
        XCTAssertNotEqual(pod.text("securityContext.runAsUser"), "0", file)
        XCTAssertNil(pod.at("hostNetwork"), file)
        XCTAssertNil(pod.at("hostPID"), file)
        let security = container.at("securityContext")
        XCTAssertEqual(security?.text("allowPrivilegeEscalation"), "false", file)
        XCTAssertEqual(security?.text("readOnlyRootFilesystem"), "true", file)
        XCTAssertEqual(security?.text("runAsNonRoot"), "true", file)
        XCTAssertEqual(security?.strings("capabilities.drop"), ["ALL"], file)
        XCTAssertNil(security?.at("capabilities.add"), file)
        XCTAssertNil(security?.at("privileged"), file)
        for key in ["requests.cpu", "requests.memory", "limits.cpu", "limits.memory"] {
            XCTAssertNotNil(container.text("resources.\(key)"), "\(file): resources.\(key)")
        }
    }

    func testTheDeploymentIsHardenedAndProbedWithoutAToken() throws {
        let deployment = try ManifestFile("manifests/deployment.yaml").only(kind: "Deployment")
        let pod = try XCTUnwrap(deployment.at("spec.template.spec"))
        let container = try XCTUnwrap(pod.at("containers")?.sequence?.first)
        Self.checkHardening(pod: pod, container: container, file: "deployment.yaml")
        Self.checkProbes(container, args: container.strings("args"), file: "deployment.yaml")
    }

    func testServicesAndTheDisruptionBudgetSelectTheGatewayPods() throws {
        let deployment = try ManifestFile("manifests/deployment.yaml").only(kind: "Deployment")
        let podLabels = try XCTUnwrap(deployment.at("spec.template.metadata.labels")).stringMap
        XCTAssertEqual(try XCTUnwrap(deployment.at("spec.selector.matchLabels")).stringMap, podLabels)
        let containerPorts = Set((deployment.at("spec.template.spec.containers")?.sequence?.first?.at("ports")?.sequence ?? []).compactMap { $0.text("name") })
        let services = try ManifestFile("manifests/service.yaml").objects(kind: "Service")
        XCTAssertEqual(services.compactMap { $0.text("metadata.name") }.sorted(), ["rampart", "rampart-admin"])
        for service in services {
            XCTAssertEqual(try XCTUnwrap(service.at("spec.selector")).stringMap, podLabels)
            for port in service.at("spec.ports")?.sequence ?? [] {
                XCTAssertTrue(containerPorts.contains(port.text("targetPort") ?? ""), "targetPort \(port.text("targetPort") ?? "")")
            }
        }
        let admin = try XCTUnwrap(services.first { $0.text("metadata.name") == "rampart-admin" })
        XCTAssertEqual(admin.text("spec.type"), "ClusterIP", "the admin API stays inside the cluster")
        let budget = try ManifestFile("manifests/poddisruptionbudget.yaml").only(kind: "PodDisruptionBudget")
        XCTAssertEqual(try XCTUnwrap(budget.at("spec.selector.matchLabels")).stringMap, podLabels)
        XCTAssertEqual(budget.text("spec.minAvailable"), "1", "with 2 replicas, one may go")
    }

    func testTheSidecarExampleNeedsNoKubernetesAPI() throws {
        let file = try ManifestFile("manifests/examples/sidecar.yaml")
        let deployment = try file.only(kind: "Deployment")
        let pod = try XCTUnwrap(deployment.at("spec.template.spec"))
        XCTAssertEqual(pod.text("automountServiceAccountToken"), "false", "directory mode: no token in the pod")
        let sidecar = try XCTUnwrap((pod.at("containers")?.sequence ?? []).first { $0.text("name") == "rampart" })
        let args = sidecar.strings("args")
        XCTAssertFalse(args.contains("--source"), "directory mode is the default source")
        XCTAssertTrue(Self.contains(args, ["--listen", "127.0.0.1:8080"]), "only the pod reaches its sidecar")
        Self.checkHardening(pod: pod, container: sidecar, file: "examples/sidecar.yaml")
        Self.checkProbes(sidecar, args: args, file: "examples/sidecar.yaml")
        // The directory it serves is the mounted ConfigMap, and the ConfigMap is in the file.
        let mounts = (sidecar.at("volumeMounts")?.sequence ?? []).reduce(into: [String: String]()) { $0[$1.text("mountPath") ?? ""] = $1.text("name") }
        let volumeName = try XCTUnwrap(mounts[args.count > 1 ? args[1] : ""], "args[1] is the mounted manifests directory")
        let volume = try XCTUnwrap((pod.at("volumes")?.sequence ?? []).first { $0.text("name") == volumeName })
        XCTAssertEqual(volume.text("configMap.name"), try file.only(kind: "ConfigMap").text("metadata.name"))
    }

    /// kubectl's own parser (kustomize, offline): `kubectl apply --dry-run=client` needs an API
    /// server for discovery, so this is the part of kubectl that runs here.
    func testKubectlReadsEveryManifest() throws {
        guard let kubectl = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("kubectl is not installed")
        }
        let dir = try TempDir.make("kustomize")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = Self.topLevelFiles.map { "manifests/" + $0 } + ["manifests/crds/rampart.io_crds.yaml", "manifests/examples/sidecar.yaml"]
        var kustomization = "resources:\n"
        for (index, relative) in files.enumerated() {
            let copy = "\(index)-\(URL(fileURLWithPath: relative).lastPathComponent)"
            try FileManager.default.copyItem(atPath: PackagePaths.root.appendingPathComponent(relative).path, toPath: dir + "/" + copy)
            kustomization += "  - \(copy)\n"
        }
        try kustomization.write(toFile: dir + "/kustomization.yaml", atomically: true, encoding: .utf8)
        let result = try Command.run(kubectl, ["kustomize", dir])
        XCTAssertEqual(result.code, 0, result.stderr)
        let built = try Parser().parse(result.stdout).filter { $0.mapping != nil }
        let expected = try files.reduce(0) { $0 + (try ManifestFile($1).objects.count) }
        XCTAssertEqual(built.count, expected, "kubectl read a different number of objects than the YAML parser")
    }
}
