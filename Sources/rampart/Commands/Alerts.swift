import Foundation
import RampartController
import RampartModel
import RampartSources

/// `rampart alerts test RULE [PATH...]`: a test notification for an AlertRule to its contact points (as `amtool` does).
enum AlertsCommand {
    static let help = """
    Usage: rampart alerts test RULE [PATH...] [flags]

    Sends a test notification for the AlertRule RULE (NAME or NAMESPACE/NAME) found in
    PATH (files or directories, default ./manifests) to each of its ContactPoints, now,
    and prints each one's outcome. Sensitive values (headers, hmacSecret) are resolved
    as `rampart run` resolves them: SecretRefs are read from their stores, $enc: values
    with the manifests' Keyring. The notification says it is a test ("test": true, a
    subject test=true), so receivers can tell it from a real alert.

    Flags:
      --master-key-file FILE   the key of a Keyring whose own material is encrypted
      --dev                    inline plaintext secrets without warnings
      --help                   this text

    Exit codes: 0 every contact point accepted it, 1 one did not, 2 usage or manifest error.
    """

    static func run(_ args: [String]) -> Int32 {
        let a: Arguments
        do { a = try Arguments(args, spec: .init(flags: ["master-key-file": .value, "dev": .bool, "help": .bool])) } catch {
            eprint("rampart alerts: \(error)\n\n\(help)")
            return Exit.usage
        }
        if a.flag("help") { print(help); return Exit.ok }
        guard a.positionals.first == "test", a.positionals.count >= 2 else {
            eprint("rampart alerts: expected `test RULE [PATH...]`\n\n\(help)")
            return Exit.usage
        }
        let rule = a.positionals[1]
        let paths = a.positionals.count > 2 ? Array(a.positionals.dropFirst(2)) : ["./manifests"]
        do {
            let loaded = ManifestLoader(decoder: ManifestDecoder(dev: a.flag("dev"))).load(files: try ManifestFiles.collect(paths))
            let errors = loaded.diagnostics.filter { $0.severity == .error }
            if !errors.isEmpty {
                for d in errors { eprint(d.description) }
                return Exit.usage
            }
            var resources: [ResourceKey: Resource] = [:]
            for r in loaded.resources where resources[r.key] == nil { resources[r.key] = r }
            let state = DesiredState(generation: 0, origin: "alerts test", resources: resources)
            let secrets = SecretsBridge { _ in }
            let values = SensitiveValues(master: try SensitiveValues.loadMaster(path: a.string("master-key-file")), lookup: secrets.lookup)
            for (key, problem) in secrets.sync(state, values: values).sorted(by: { $0.key < $1.key }) { eprint("\(key): \(problem)") }
            switch AlertsRuntime.sendTest(rule: rule, state: state, values: values) {
            case .failure(let e):
                eprint("rampart alerts test: \(e)")
                return Exit.usage
            case .success(let results):
                if results.isEmpty { print("AlertRule \(rule) names no contact point") }
                for r in results { print("\(r.id): \(r.error.map { "failed: \($0)" } ?? "delivered")") }
                return results.allSatisfy { $0.error == nil } ? Exit.ok : Exit.problem
            }
        } catch {
            eprint("rampart alerts test: \(error)")
            return Exit.usage
        }
    }
}
