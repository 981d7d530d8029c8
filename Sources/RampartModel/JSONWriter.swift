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
        // Bytes, not scalars: only ASCII needs escaping and every other UTF-8 byte is copied as it is.
        // A string without anything to escape (most names and values) is appended whole.
        let utf8 = s.utf8
        let clean = utf8.withContiguousStorageIfAvailable { bytes in !bytes.contains(where: needsEscape) } ?? !utf8.contains(where: needsEscape)
        if clean {
            out += "\""
            out += s
            out += "\""
            return
        }
        var bytes: [UInt8] = [UInt8(ascii: "\"")]
        bytes.reserveCapacity(utf8.count + 16)
        for b in utf8 {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(b)
            case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
            case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
            case 0..<0x20:
                bytes.append(contentsOf: "\\u00".utf8)
                bytes.append(hexDigits[Int(b >> 4)])
                bytes.append(hexDigits[Int(b & 0xf)])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
        out += String(decoding: bytes, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    @inline(__always) private static func needsEscape(_ b: UInt8) -> Bool {
        b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\")
    }

    public static func quote(_ s: String) -> String {
        var out = ""
        string(s, into: &out)
        return out
    }
}
