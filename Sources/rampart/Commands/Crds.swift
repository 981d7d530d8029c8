import RampartModel

/// `rampart crds`: the CustomResourceDefinitions, generated from the decoder's field tables.
enum CrdsCommand {
    static let help = """
    Usage: rampart crds

    Prints apiextensions.k8s.io/v1 CustomResourceDefinitions for all seven kinds
    (the source of manifests/crds/). Apply with: rampart crds | kubectl apply -f -
    """

    static func run(_ args: [String]) -> Int32 {
        if args.contains("--help") { print(help); return Exit.ok }
        if let bad = args.first {
            eprint("rampart crds: unexpected argument \(bad)\n\n\(help)")
            return Exit.usage
        }
        print(CRDGenerator.yaml(), terminator: "")
        return Exit.ok
    }
}
