/// `rampart run`: placeholder until the controller lands.
enum RunCommand {
    static func run(_ args: [String]) -> Int32 {
        eprint("rampart run: not built yet")
        return Exit.usage
    }
}
