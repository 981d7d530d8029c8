import Foundation
import RampartController

/// `rampart audit verify`: checks the audit log's hash chain.
enum AuditCommand {
    static let help = """
    Usage: rampart audit verify [--state-dir DIR]

    Checks every entry of STATE_DIR/audit.log: its hash, the link to the entry
    before it, and consecutive sequence numbers. Any edited, deleted, inserted or
    reordered line is found; the first bad entry is named.

    Exit codes: 0 the chain holds, 1 it is broken, 2 usage or read error.
    """

    static func run(_ args: [String]) -> Int32 {
        guard args.first == "verify" else {
            eprint(args.contains("--help") ? help : "rampart audit: expected `verify`\n\n\(help)")
            return args.contains("--help") ? Exit.ok : Exit.usage
        }
        let a: Arguments
        do { a = try Arguments(Array(args.dropFirst()), spec: .init(flags: ["state-dir": .value, "help": .bool])) } catch {
            eprint("rampart audit verify: \(error)\n\n\(help)")
            return Exit.usage
        }
        if a.flag("help") { print(help); return Exit.ok }
        let path = (a.string("state-dir") ?? "./.rampart") + "/" + AuditLog.fileName
        guard let data = FileManager.default.contents(atPath: path) else {
            eprint("rampart audit verify: cannot read \(path)")
            return Exit.usage
        }
        let v = AuditLog.verify([UInt8](data))
        if let bad = v.firstBad {
            print("\(path): broken at seq \(bad.seq): \(bad.reason) (\(v.entries) entries before it verified)")
            return Exit.problem
        }
        print("\(path): \(v.entries) entries, hash chain intact")
        return Exit.ok
    }
}
