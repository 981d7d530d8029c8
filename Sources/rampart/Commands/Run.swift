enum RunCommand {
    static func run(_ args: [String]) -> Int32 {
        if args.contains("--help") { print("Usage: rampart run [PATH...]\n\nNot built yet: the gateway data plane lands next."); return Exit.ok }
        eprint("rampart run: not built yet")
        return Exit.usage
    }
}
