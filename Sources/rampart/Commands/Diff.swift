import Foundation
import RampartController
import RampartHTTPClient
import RampartKubernetes
import RampartModel
import RampartSources
import RampartYAML

/// `rampart diff`: the dry run; what applying PATH would change, sensitive values masked.
enum DiffCommand {
    static let help = """
    Usage: rampart diff PATH... [--against URL | --against-state DIR | --kubeconfig FILE] [flags]

    Shows what applying PATH would change, as a unified diff per resource of the
    canonical form (sorted keys, defaults filled). Sensitive values print as ***;
    a changed one as *** (before) / *** (after). Nothing is applied.

    Without --against, compares with the state saved in --state-dir (state.json).
    A value kept there only as a digest marker (no Keyring to encrypt it) is compared
    by its keyed digest: unchanged or *** (before) / *** (after), never shown.

    Flags:
      --against URL          a running instance's admin API (GET /api/v1/config)
      --token-file FILE      bearer token for --against (default STATE_DIR/admin-token)
      --cacert FILE          CA bundle to verify --against with (default STATE_DIR/admin-tls.crt)
      --insecure             do not verify --against's certificate
      --against-state DIR    a state dir to compare with (same as --state-dir)
      --kubeconfig FILE      the objects in a cluster (as kubectl diff: only those PATH names)
      --context NAME         kubeconfig context (default: current-context)
      --namespace NS         list one namespace only (default: all)
      --state-dir DIR        default ./.rampart
      --output text|json     json: a machine-readable change list
      --color auto|always|never
      --dev                  inline plaintext secrets without warnings
      --help                 this text

    Exit codes: 0 no changes, 1 changes, 2 error (including invalid manifests).
    """

    static func run(_ args: [String]) -> Int32 {
        let a: Arguments
        do {
            a = try Arguments(args, spec: .init(flags: [
                "against": .value, "against-state": .value, "state-dir": .value, "token-file": .value, "cacert": .value,
                "insecure": .bool, "kubeconfig": .value, "context": .value, "namespace": .value, "output": .value, "color": .value, "dev": .bool, "help": .bool,
            ]))
        } catch {
            eprint("rampart diff: \(error)\n\n\(help)")
            return Exit.usage
        }
        if a.flag("help") { print(help); return Exit.ok }
        guard !a.positionals.isEmpty else { eprint("rampart diff: give at least one PATH\n\n\(help)"); return Exit.usage }
        let output = a.string("output") ?? "text"
        guard output == "text" || output == "json" else { eprint("rampart diff: --output is text or json"); return Exit.usage }
        let files: [String]
        do { files = try ManifestFiles.collect(a.positionals) } catch { eprint("rampart diff: \(error)"); return Exit.usage }
        let loaded = ManifestLoader(decoder: ManifestDecoder(dev: a.flag("dev"))).load(files: files)
        for d in loaded.diagnostics { eprint(d.description) }
        if loaded.errorCount > 0 {
            eprint("rampart diff: the manifests are invalid; nothing to compare")
            return Exit.usage
        }
        let stateDir = a.string("against-state") ?? a.string("state-dir") ?? "./.rampart"
        let changes: [ResourceChange]
        if let kubeconfig = a.string("kubeconfig") {
            do {
                let client = KubernetesClient(config: try KubeConfig.resolve(kubeconfig: kubeconfig, context: a.string("context")))
                let wanted = Set(loaded.resources.map(\.key))
                let cluster = try KubernetesSource.listOnce(client: client, namespace: a.string("namespace"), decoder: ManifestDecoder(dev: true))
                    .filter { wanted.contains($0.key) }
                changes = StateDiff.changes(from: cluster, to: loaded.resources, oldLabel: "cluster", newLabel: "proposed")
            } catch {
                eprint("rampart diff: \(error)")
                return Exit.usage
            }
        } else if let url = a.string("against") {
            do {
                let token = try readToken(a.string("token-file") ?? stateDir + "/admin-token")
                let resp = try HTTPClient.send(HTTPRequest(url: url.trimmingSuffix("/") + "/api/v1/config", headers: [("Authorization", "Bearer \(token)")],
                                                           caFile: a.string("cacert") ?? defaultCA(stateDir), insecureSkipVerify: a.flag("insecure")))
                guard resp.status == 200 else { eprint("rampart diff: \(url) answered \(resp.status): \(resp.text.prefix(200))"); return Exit.usage }
                let remote = try remoteResources(resp.body)
                let local = Dictionary(loaded.resources.map { ($0.key, Canonical.yaml($0)) }, uniquingKeysWith: { a, _ in a })
                changes = StateDiff.changes(from: remote.texts, to: local, oldLabel: "serving, generation \(remote.generation)", newLabel: "proposed")
            } catch {
                eprint("rampart diff: \(error)")
                return Exit.usage
            }
        } else {
            let serving = StateFile.load(stateDir: stateDir) ?? DesiredState.empty
            // A value stored only as its digest marker is compared by digest (the state dir's key): equal or not, never shown.
            let digest = SecretDigest.load(stateDir: stateDir)
            let proposed = loaded.resources.map { r in
                guard let digest, let stored = serving.resources[r.key] else { return r }
                return SensitiveValues.digestMarked(r, like: stored, digest: digest)
            }
            changes = StateDiff.changes(from: serving.sorted, to: proposed, oldLabel: "serving, generation \(serving.generation)", newLabel: "proposed")
        }
        if output == "json" {
            let items = changes.map { c in
                "{\"kind\":\"\(c.key.kind.rawValue)\",\"namespace\":\(JSONWriter.quote(c.key.namespace)),\"name\":\(JSONWriter.quote(c.key.name)),\"action\":\"\(c.action.rawValue)\",\"changedSecrets\":[\(c.changedSecrets.map(JSONWriter.quote).joined(separator: ","))],\"diff\":\(JSONWriter.quote(c.diff))}"
            }
            print("{\"changes\":[\(items.joined(separator: ","))]}")
        } else {
            let color: Bool
            switch a.string("color") ?? "auto" {
            case "always": color = true
            case "never": color = false
            default: color = isatty(1) == 1
            }
            for c in changes { print(color ? colorize(c.diff) : c.diff, terminator: "") }
        }
        return changes.isEmpty ? Exit.ok : Exit.problem
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// The instance's own self-signed admin certificate, when the state dir holds it (`--admin-tls auto`).
    static func defaultCA(_ stateDir: String) -> String? {
        let path = stateDir + "/" + AdminTLS.certFile
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    static func readToken(_ path: String) throws -> String {
        guard let t = try? String(contentsOfFile: path, encoding: .utf8) else { throw Failure(description: "cannot read the admin token from \(path) (use --token-file)") }
        return t.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The canonical (masked) texts of a running instance's resources.
    static func remoteResources(_ body: [UInt8]) throws -> (generation: Int, texts: [ResourceKey: String]) {
        guard let root = try? Parser().parse(bytes: body).first, let items = root["resources"]?.sequence else {
            throw Failure(description: "the admin API's config is not the expected JSON")
        }
        var texts: [ResourceKey: String] = [:]
        for n in items {
            guard let kind = n["kind"]?.scalar.flatMap({ Kind(rawValue: $0.text) }), let meta = n["metadata"],
                  let name = meta["name"]?.scalar?.text else { continue }
            texts[ResourceKey(kind, meta["namespace"]?.scalar?.text ?? "default", name)] = Emitter.emit([n])
        }
        var gen = 0
        if case .int(let g)? = root["generation"]?.resolved { gen = Int(g) }
        return (gen, texts)
    }

    static func colorize(_ diff: String) -> String {
        diff.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            if line.hasPrefix("+++") || line.hasPrefix("---") { return "\u{1B}[1m\(line)\u{1B}[0m" }
            if line.hasPrefix("+") { return "\u{1B}[32m\(line)\u{1B}[0m" }
            if line.hasPrefix("-") { return "\u{1B}[31m\(line)\u{1B}[0m" }
            if line.hasPrefix("@@") { return "\u{1B}[36m\(line)\u{1B}[0m" }
            return String(line)
        }.joined(separator: "\n")
    }
}

extension String {
    func trimmingSuffix(_ s: String) -> String { hasSuffix(s) ? String(dropLast(s.count)) : self }
}
