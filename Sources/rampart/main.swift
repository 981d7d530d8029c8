import Foundation

/// Entry point: dispatches to a command.
let usage = """
Usage: rampart COMMAND [ARGS...]

Rampart: a declarative, security-hardened API gateway.

Commands:
  run [PATH...]          the controller and the embedded gateway
  validate PATH...       parse, validate and cross-check manifests (offline)
  diff PATH...           dry run: what applying PATH would change
  crds                   print the CustomResourceDefinitions
  explain KIND[.FIELD]   the schema of a kind or field: type, default, bounds, description
  encrypt PATH...        make an $enc: value (stdin) bound to one resource and field
  reencrypt PATH...      move stored ciphertext to the primary key
  hash-password          a PBKDF2 hash for the admin token file
  audit verify           check the audit log's hash chain
  alerts test RULE       send a test notification to an AlertRule's contact points
  version                version and linked libraries

Run `rampart COMMAND --help` for a command's flags.
Exit codes: 0 ok, 1 found a problem, 2 usage or runtime error.
"""

var args = Array(CommandLine.arguments.dropFirst())
guard let command = args.first else {
    eprint(usage)
    exit(Exit.usage)
}
args.removeFirst()
let code: Int32
switch command {
case "validate": code = ValidateCommand.run(args)
case "crds": code = CrdsCommand.run(args)
case "explain": code = ExplainCommand.run(args)
case "version", "--version": code = VersionCommand.run(args)
case "run": code = RunCommand.run(args)
case "diff": code = DiffCommand.run(args)
case "audit": code = AuditCommand.run(args)
case "alerts": code = AlertsCommand.run(args)
case "hash-password": code = HashPasswordCommand.run(args)
case "encrypt": code = EncryptCommand.run(args)
case "reencrypt": code = EncryptCommand.reencrypt(args)
case "help", "--help", "-h": print(usage); code = Exit.ok
default:
    var msg = "rampart: unknown command \"\(command)\""
    if let s = Arguments.suggest(command, ["run", "validate", "diff", "crds", "explain", "encrypt", "reencrypt", "hash-password", "audit", "alerts", "version"]) {
        msg += "; did you mean \"\(s)\"?"
    }
    eprint(msg + "\n\n" + usage)
    code = Exit.usage
}
exit(code)
