import RampartModel

/// `rampart explain KIND[.field.path]`: the schema of a kind or a field, read from the field tables.
enum ExplainCommand {
    static let help = """
    Usage: rampart explain KIND[.FIELD.PATH] | --markdown

    Prints what the schema says of a kind or of one of its fields: type, format,
    whether it is required, its default, bounds, accepted values, whether it is
    sensitive, its description, and for an object or a list of objects the
    fields one level down (as kubectl explain does).

    KIND is a kind name, plural or short name in any case (Route, route, routes,
    rt); field names are exact. A list's items are reached through the list
    (upstream.spec.nodes.port), a sensitive value's forms through the field
    (ssl.spec.certificate.secretRef). The full reference is docs/reference.md.

    Examples:
      rampart explain route
      rampart explain route.spec.timeout.read
      rampart explain upstream.spec.healthCheck.active

    Flags:
      --markdown   print the generated block of docs/reference.md (make reference)
      --help       this text

    Exit codes: 0 printed, 2 unknown kind or field, or a usage error.
    """

    static func run(_ args: [String]) -> Int32 {
        let a: Arguments
        do { a = try Arguments(args, spec: .init(flags: ["markdown": .bool, "help": .bool])) } catch {
            eprint("rampart explain: \(error)\n\n\(help)")
            return Exit.usage
        }
        if a.flag("help") { print(help); return Exit.ok }
        if a.flag("markdown") {
            guard a.positionals.isEmpty else {
                eprint("rampart explain: --markdown takes no KIND\n\n\(help)")
                return Exit.usage
            }
            print(SchemaReference.markdown(), terminator: "")
            return Exit.ok
        }
        guard a.positionals.count == 1, let query = a.positionals.first else {
            eprint("rampart explain: give one KIND or KIND.FIELD.PATH\n\n\(help)")
            return Exit.usage
        }
        switch SchemaReference.lookup(query) {
        case .success(let target):
            print(SchemaReference.explain(target), terminator: "")
            return Exit.ok
        case .failure(let error):
            eprint("rampart explain: \(error)")
            return Exit.usage
        }
    }
}
