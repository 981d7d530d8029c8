import Foundation
import RampartModel

/// A small command-line parser: `--flag value`, `--flag=value`, boolean `--flag`, positionals, and `RAMPART_<FLAG>` env defaults.
struct Arguments {
    enum Kind { case value, bool }

    struct Spec {
        var flags: [String: Kind]
        /// Read `RAMPART_<FLAG>` for flags not given on the command line.
        var env: Bool = false
    }

    struct UsageError: Error, CustomStringConvertible {
        var description: String
    }

    var values: [String: String] = [:]
    var positionals: [String] = []

    init(_ args: [String], spec: Spec) throws {
        var i = 0
        var onlyPositionals = false
        while i < args.count {
            let a = args[i]
            i += 1
            if onlyPositionals || !a.hasPrefix("--") || a == "-" {
                if a.hasPrefix("-") && a != "-" && !onlyPositionals {
                    throw UsageError(description: "unknown flag \(a); flags start with --")
                }
                positionals.append(a)
                continue
            }
            if a == "--" { onlyPositionals = true; continue }
            var name = String(a.dropFirst(2))
            var inline: String?
            if let eq = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard let kind = spec.flags[name] else {
                var msg = "unknown flag --\(name)"
                if let s = Self.suggest(name, spec.flags.keys.sorted()) { msg += "; did you mean --\(s)?" }
                throw UsageError(description: msg)
            }
            switch kind {
            case .bool:
                if let inline {
                    guard inline == "true" || inline == "false" else { throw UsageError(description: "--\(name) takes true or false") }
                    values[name] = inline
                } else {
                    values[name] = "true"
                }
            case .value:
                if let inline { values[name] = inline; continue }
                guard i < args.count else { throw UsageError(description: "--\(name) needs a value") }
                values[name] = args[i]
                i += 1
            }
        }
        if spec.env {
            let env = ProcessInfo.processInfo.environment
            for name in spec.flags.keys where values[name] == nil {
                let key = "RAMPART_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
                if let v = env[key] { values[name] = v }
            }
        }
    }

    func string(_ name: String) -> String? { values[name] }
    func flag(_ name: String) -> Bool { values[name] == "true" }

    static func suggest(_ word: String, _ candidates: [String]) -> String? {
        candidates.min { Suggest.distance(Array(word), Array($0)) < Suggest.distance(Array(word), Array($1)) }
            .flatMap { Suggest.distance(Array(word), Array($0)) <= 3 ? $0 : nil }
    }
}

/// Exit codes, the same for every command (docs/reference.md, "CLI").
enum Exit {
    static let ok: Int32 = 0
    static let problem: Int32 = 1
    static let usage: Int32 = 2
}

/// Writes to stderr.
func eprint(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
