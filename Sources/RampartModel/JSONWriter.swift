import RampartYAML

/// Writes `Node` trees as JSON, with scalars typed by the core schema (the state file and admin API format).
public enum JSONWriter {
    public static func write(_ n: Node, pretty: Bool = false) -> String {
        var out = ""
        emit(n, into: &out, indent: pretty ? 0 : nil)
        return out
    }

    static func emit(_ n: Node, into out: inout String, indent: Int?) {
        let nl = indent.map { "\n" + String(repeating: "  ", count: $0 + 1) } ?? ""
        let close = indent.map { "\n" + String(repeating: "  ", count: $0) } ?? ""
        let next = indent.map { $0 + 1 }
        switch n.value {
        case .mapping(let pairs):
            if pairs.isEmpty { out += "{}"; return }
            out += "{"
            for (i, p) in pairs.enumerated() {
                if i > 0 { out += "," }
                out += nl
                string(p.key.scalar?.text ?? "", into: &out)
                out += indent == nil ? ":" : ": "
                emit(p.value, into: &out, indent: next)
            }
            out += close + "}"
        case .sequence(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                out += nl
                emit(item, into: &out, indent: next)
            }
            out += close + "]"
        case .scalar:
            switch n.resolved {
            case .null: out += "null"
            case .bool(let b): out += b ? "true" : "false"
            case .int(let i): out += String(i)
            case .float(let d): out += d.isFinite ? String(d) : "null"
            case .string(let s): string(s, into: &out)
            }
        }
    }

    public static func string(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }

    public static func quote(_ s: String) -> String {
        var out = ""
        string(s, into: &out)
        return out
    }
}
