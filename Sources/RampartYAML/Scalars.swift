/// A scalar resolved by the YAML 1.2 core schema, as Kubernetes users expect.
public enum Resolved: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
}

public enum Tags {
    public static let str = "tag:yaml.org,2002:str"
    public static let int = "tag:yaml.org,2002:int"
    public static let float = "tag:yaml.org,2002:float"
    public static let bool = "tag:yaml.org,2002:bool"
    public static let null = "tag:yaml.org,2002:null"
    public static let map = "tag:yaml.org,2002:map"
    public static let seq = "tag:yaml.org,2002:seq"
}

extension Node {
    /// The core-schema value of a scalar node (`.string` for collections' text-less nodes).
    public var resolved: Resolved {
        guard case .scalar(let s) = value else { return .string("") }
        switch tag {
        case nil:
            return s.style == .plain ? CoreSchema.resolvePlain(s.text) : .string(s.text)
        case Tags.str?, "!"?:
            return .string(s.text)
        case Tags.null?:
            return .null
        case Tags.bool?:
            if case .bool(let b) = CoreSchema.resolvePlain(s.text) { return .bool(b) }
            return .string(s.text)
        case Tags.int?:
            if case .int(let i) = CoreSchema.resolvePlain(s.text) { return .int(i) }
            return .string(s.text)
        case Tags.float?:
            switch CoreSchema.resolvePlain(s.text) {
            case .int(let i): return .float(Double(i))
            case .float(let d): return .float(d)
            default: return .string(s.text)
            }
        default:
            return .string(s.text)
        }
    }
}

/// YAML 1.2 core schema resolution of plain scalars.
public enum CoreSchema {
    public static func resolvePlain(_ t: String) -> Resolved {
        // Fast path: most scalars start with a letter that no null, bool or number starts with.
        if let f = t.utf8.first, (f >= 97 && f <= 122) || (f >= 65 && f <= 90), !"nNtTfF".utf8.contains(f) {
            return .string(t)
        }
        switch t {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .float(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .float(-.infinity)
        case ".nan", ".NaN", ".NAN": return .float(.nan)
        default: break
        }
        let u = Array(t.utf8)
        guard let first = u.first else { return .string(t) }
        // Cheap reject: numbers start with a sign, digit or '.'.
        guard first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: ".")
            || (first >= 48 && first <= 57) else { return .string(t) }
        if u.count > 2, u[0] == UInt8(ascii: "0"), u[1] == UInt8(ascii: "o") {
            if let v = Int64(t.dropFirst(2), radix: 8) { return .int(v) }
            return .string(t)
        }
        if u.count > 2, u[0] == UInt8(ascii: "0"), u[1] == UInt8(ascii: "x") {
            if let v = Int64(t.dropFirst(2), radix: 16) { return .int(v) }
            return .string(t)
        }
        if isDecimalInt(u) {
            if let v = Int64(t) { return .int(v) }
            if let d = Double(t) { return .float(d) }
            return .string(t)
        }
        if isFloat(u), let d = Double(t) { return .float(d) }
        return .string(t)
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    static func isDecimalInt(_ u: [UInt8]) -> Bool {
        var i = 0
        if i < u.count, u[i] == UInt8(ascii: "-") || u[i] == UInt8(ascii: "+") { i += 1 }
        guard i < u.count else { return false }
        while i < u.count { if !isDigit(u[i]) { return false }; i += 1 }
        return true
    }

    /// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
    static func isFloat(_ u: [UInt8]) -> Bool {
        var i = 0
        if i < u.count, u[i] == UInt8(ascii: "-") || u[i] == UInt8(ascii: "+") { i += 1 }
        var intDigits = 0, fracDigits = 0
        while i < u.count, isDigit(u[i]) { i += 1; intDigits += 1 }
        if i < u.count, u[i] == UInt8(ascii: ".") {
            i += 1
            while i < u.count, isDigit(u[i]) { i += 1; fracDigits += 1 }
        }
        if intDigits == 0 && fracDigits == 0 { return false }
        if i < u.count, u[i] == UInt8(ascii: "e") || u[i] == UInt8(ascii: "E") {
            i += 1
            if i < u.count, u[i] == UInt8(ascii: "-") || u[i] == UInt8(ascii: "+") { i += 1 }
            var expDigits = 0
            while i < u.count, isDigit(u[i]) { i += 1; expDigits += 1 }
            if expDigits == 0 { return false }
        }
        return i == u.count
    }
}
