import Foundation
import RampartCrypto
import RampartModel

/// `rampart hash-password`: a PBKDF2 hash for `--admin-token-file`.
enum HashPasswordCommand {
    static let help = """
    Usage: rampart hash-password [--iterations N]

    Reads a token or password from standard input (first line) and prints its
    $pbkdf2-sha256$i=N$SALT$HASH hash (PBKDF2-HMAC-SHA256, 600000 iterations,
    random 16-byte salt) for --admin-token-file. The input is never echoed.
    """

    static func run(_ args: [String]) -> Int32 {
        let a: Arguments
        do { a = try Arguments(args, spec: .init(flags: ["iterations": .value, "help": .bool])) } catch {
            eprint("rampart hash-password: \(error)\n\n\(help)")
            return Exit.usage
        }
        if a.flag("help") { print(help); return Exit.ok }
        var iterations = PasswordHash.defaultIterations
        if let text = a.string("iterations") {
            // A typo must not silently fall back to the default.
            guard case .success(let n) = Values.check(text, .count, in: 100_000...PasswordHash.maxIterations) else {
                eprint("rampart hash-password: --iterations must be 100000-\(PasswordHash.maxIterations)")
                return Exit.usage
            }
            iterations = n
        }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            eprint("rampart hash-password: give the token on standard input")
            return Exit.usage
        }
        do {
            print(try PasswordHash.make(password: line, iterations: iterations))
        } catch {
            eprint("rampart hash-password: \(error)")
            return Exit.usage
        }
        return Exit.ok
    }
}
