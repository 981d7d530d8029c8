import RampartModel
import RampartSources

/// `rampart validate PATH...`: parse, validate and cross-check, offline.
enum ValidateCommand {
    static let help = """
    Usage: rampart validate PATH... [--dev] [--quiet]

    Parses, validates and cross-checks manifests without touching the network or
    resolving secrets. PATH is a file, a directory (searched recursively for
    *.yaml, *.yml, *.json) or - for standard input.

    Every problem is printed as FILE:LINE:COLUMN: error: KIND NAMESPACE/NAME: FIELD: MESSAGE,
    in file order.

    Flags:
      --dev      inline plaintext secrets ({value: ...}) are not warned about
      --quiet    print errors only (no warnings, no summary)
      --help     this text

    Exit codes: 0 valid, 1 problems found, 2 usage or read error.
    """

    static func run(_ args: [String]) -> Int32 {
        let a: Arguments
        do { a = try Arguments(args, spec: .init(flags: ["dev": .bool, "quiet": .bool, "help": .bool])) } catch {
            eprint("rampart validate: \(error)\n\n\(help)")
            return Exit.usage
        }
        if a.flag("help") { print(help); return Exit.ok }
        guard !a.positionals.isEmpty else {
            eprint("rampart validate: give at least one PATH\n\n\(help)")
            return Exit.usage
        }
        let files: [String]
        do { files = try ManifestFiles.collect(a.positionals.filter { $0 != "-" }) + (a.positionals.contains("-") ? ["-"] : []) } catch {
            eprint("rampart validate: \(error)")
            return Exit.usage
        }
        let r = ManifestLoader(decoder: ManifestDecoder(dev: a.flag("dev"))).load(files: files)
        let quiet = a.flag("quiet")
        for d in r.diagnostics where d.severity == .error || !quiet { print(d.description) }
        let errors = r.errorCount
        if !quiet {
            let warnings = r.diagnostics.count - errors
            eprint("\(files.count) file\(files.count == 1 ? "" : "s"), \(r.resources.count) resource\(r.resources.count == 1 ? "" : "s"): \(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")")
        }
        return errors > 0 ? Exit.problem : Exit.ok
    }
}
