import Foundation
import RampartYAML
import TestSupport
import XCTest

/// charts/rampart/. Helm is not installable here (Debian has no package), so the chart is not
/// rendered: these tests check what can be checked without a template engine, and
/// `testHelmLintAndTemplate` runs the real tool wherever helm is installed.
final class ChartTests: XCTestCase {
    static let chart = PackagePaths.root.appendingPathComponent("charts/rampart")

    static func text(_ relative: String) throws -> String {
        try String(contentsOf: chart.appendingPathComponent(relative), encoding: .utf8)
    }

    static func templates() throws -> [(name: String, text: String)] {
        let dir = chart.appendingPathComponent("templates").path
        return try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".tpl") || $0.hasSuffix(".txt") }
            .map { ($0, try String(contentsOfFile: dir + "/" + $0, encoding: .utf8)) }
    }

    static func values() throws -> Node {
        try XCTUnwrap(Parser().parse(text("values.yaml")).first)
    }

    func testChartAndValuesParseAndTheDefaultsRunTheKubernetesSource() throws {
        let chart = try XCTUnwrap(Parser().parse(Self.text("Chart.yaml")).first)
        XCTAssertEqual(chart.text("apiVersion"), "v2")
        XCTAssertEqual(chart.text("name"), "rampart")
        XCTAssertNotNil(chart.text("version"))
        let version = try Command.rampart(["version"])
        XCTAssertTrue(version.stdout.hasPrefix("rampart \(chart.text("appVersion") ?? "?") "), "appVersion is the binary's version: \(version.stdout)")

        let values = try Self.values()
        XCTAssertEqual(values.text("mode"), "deployment")
        XCTAssertEqual(values.text("replicaCount"), "2")
        XCTAssertEqual(values.text("source.type"), "kubernetes")
        XCTAssertEqual(values.text("leaderElect"), "true")
        XCTAssertEqual(values.text("serviceMonitor.enabled"), "false", "the ServiceMonitor CRD is not in every cluster")
        XCTAssertEqual(values.text("adminTls.mode"), "auto")
    }

    /// A `.Values.x.y` a template reads but values.yaml does not define renders as nothing (or fails
    /// with `required`): a typo would silently drop a setting.
    func testEveryValueTheTemplatesReadIsDefined() throws {
        let values = try Self.values()
        let pattern = try NSRegularExpression(pattern: #"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)"#)
        var checked = 0
        for template in try Self.templates() {
            let range = NSRange(template.text.startIndex..., in: template.text)
            for match in pattern.matches(in: template.text, range: range) {
                guard let pathRange = Range(match.range(at: 1), in: template.text) else { continue }
                let path = String(template.text[pathRange].dropFirst())
                XCTAssertNotNil(values.at(path), "\(template.name): .Values.\(path) is not in values.yaml")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 50, "the pattern found the template's value references")
    }

    /// Go-template blocks are balanced: every if/with/range/define has its end, in each file.
    func testTemplateBlocksAreBalanced() throws {
        let action = try NSRegularExpression(pattern: #"\{\{-?\s*(/\*|if|with|range|define|end|else)?"#)
        for template in try Self.templates() {
            var depth = 0
            let text = template.text
            XCTAssertEqual(text.components(separatedBy: "{{").count, text.components(separatedBy: "}}").count, "\(template.name): {{ and }}")
            for match in action.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                guard let keywordRange = Range(match.range(at: 1), in: text) else { continue }
                switch text[keywordRange] {
                case "if", "with", "range", "define": depth += 1
                case "end": depth -= 1
                default: break
                }
                XCTAssertGreaterThanOrEqual(depth, 0, "\(template.name): an end without its block")
            }
            XCTAssertEqual(depth, 0, "\(template.name): a block without its end")
        }
    }

    /// The rules blocks of a template (or manifest), with template directive lines dropped, as a
    /// Role of that kind for the RBAC checker to read.
    static func rulesBlocks(_ text: String) throws -> [String: [RBACPolicy.Rule]] {
        var found: [String: [RBACPolicy.Rule]] = [:]
        for document in text.components(separatedBy: "\n---") {
            let lines = document.components(separatedBy: "\n")
            guard let kind = lines.first(where: { $0.hasPrefix("kind: ") })?.dropFirst("kind: ".count),
                  kind == "ClusterRole" || kind == "Role",
                  let start = lines.firstIndex(of: "rules:") else { continue }
            var block: [String] = []
            for line in lines[(start + 1)...] {
                if !line.isEmpty && !line.hasPrefix(" ") { break }  // the next top-level key
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix("{{") && trimmed.hasSuffix("}}") { continue }
                block.append(line)
            }
            let yaml = "apiVersion: rbac.authorization.k8s.io/v1\nkind: \(kind)\nmetadata: {name: r, namespace: n}\nrules:\n"
                + block.joined(separator: "\n")
            found[String(kind)] = try XCTUnwrap(RBACPolicy(yaml: yaml).roles.first).rules
        }
        return found
    }

    func testTheChartsRBACRulesAreTheManifests() throws {
        let manifests = try Self.rulesBlocks(String(contentsOf: PackagePaths.root.appendingPathComponent("manifests/rbac.yaml"), encoding: .utf8))
        let chart = try Self.rulesBlocks(Self.text("templates/rbac.yaml"))
        XCTAssertEqual(Set(manifests.keys), ["ClusterRole", "Role"])
        XCTAssertEqual(chart.keys.sorted(), manifests.keys.sorted())
        for kind in manifests.keys {
            XCTAssertEqual(chart[kind], manifests[kind], kind)
        }
        // The textual extraction reads the same rules as the checker reading the manifest as YAML.
        let deployed = try RBACPolicy(contentsOf: PackagePaths.root.appendingPathComponent("manifests/rbac.yaml").path)
        XCTAssertEqual(deployed.roles.first { $0.kind == "ClusterRole" }?.rules, manifests["ClusterRole"])
    }

    /// The chart's pod and container settings are the plain manifests' (one hardening, two renderings).
    func testTheChartsSecurityContextsAndResourcesAreTheManifests() throws {
        let values = try Self.values()
        let deployment = try ManifestFile("manifests/deployment.yaml").only(kind: "Deployment")
        let pod = try XCTUnwrap(deployment.at("spec.template.spec"))
        let container = try XCTUnwrap(pod.at("containers")?.sequence?.first)
        XCTAssertEqual(Self.canonical(values.at("podSecurityContext")), Self.canonical(pod.at("securityContext")))
        XCTAssertEqual(Self.canonical(values.at("containerSecurityContext")), Self.canonical(container.at("securityContext")))
        XCTAssertEqual(Self.canonical(values.at("resources")), Self.canonical(container.at("resources")))
        XCTAssertEqual(values.text("terminationGracePeriodSeconds"), pod.text("terminationGracePeriodSeconds"))
    }

    /// A node as text with mapping keys sorted, for comparing two trees.
    static func canonical(_ node: Node?) -> String {
        guard let node else { return "<absent>" }
        if let pairs = node.mapping {
            return "{" + pairs.map { "\($0.key.scalar?.text ?? "?"): \(canonical($0.value))" }.sorted().joined(separator: ", ") + "}"
        }
        if let items = node.sequence { return "[" + items.map { canonical($0) }.joined(separator: ", ") + "]" }
        return node.scalar?.text ?? ""
    }

    func testTheTemplatesKeepTheManifestsProbesAndDownwardAPI() throws {
        let deployment = try Self.text("templates/deployment.yaml")
        for needle in ["path: /healthz", "path: /readyz", "port: admin", "fieldPath: metadata.name", "fieldPath: metadata.namespace",
                       "name: POD_NAME", "name: POD_NAMESPACE", "automountServiceAccountToken: false"] {
            XCTAssertTrue(deployment.contains(needle), needle)
        }
        let helpers = try Self.text("templates/_helpers.tpl")
        for needle in ["- --leader-elect", "- --source", "- --namespace", "- --gateway-group", "- --admin-token-file"] {
            XCTAssertTrue(helpers.contains(needle), needle)
        }
        let monitor = try Self.text("templates/servicemonitor.yaml")
        XCTAssertTrue(monitor.contains("apiVersion: monitoring.coreos.com/v1"))
        XCTAssertTrue(monitor.contains("kind: ServiceMonitor"))
        XCTAssertTrue(monitor.contains("path: /metrics"))
        XCTAssertTrue(try Self.text("templates/service.yaml").contains("app.kubernetes.io/component: admin"), "what the ServiceMonitor selects")
    }

    /// The real tool, where it exists: lint, and render both modes into objects kubectl reads.
    func testHelmLintAndTemplate() throws {
        guard let helm = ["/usr/local/bin/helm", "/usr/bin/helm"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("helm is not installed (Debian 12 has no helm package)")
        }
        let lint = try Command.run(helm, ["lint", Self.chart.path])
        XCTAssertEqual(lint.code, 0, lint.stdout + lint.stderr)
        for settings in [["--set", "serviceMonitor.enabled=true"],
                         ["--set", "mode=sidecar", "--set", "source.type=dir", "--set", "sidecar.app.image=example/app:1"]] {
            let rendered = try Command.run(helm, ["template", "gw", Self.chart.path, "--namespace", "rampart-system"] + settings)
            XCTAssertEqual(rendered.code, 0, rendered.stderr)
            XCTAssertFalse(try Parser().parse(rendered.stdout).isEmpty)
        }
        let refused = try Command.run(helm, ["template", "gw", Self.chart.path, "--set", "mode=sidecar"])
        XCTAssertNotEqual(refused.code, 0, "sidecar mode with the kubernetes source is refused")
    }
}
