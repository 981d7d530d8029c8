import Foundation
import RampartModel

/// Small JSON helpers over Foundation's JSONSerialization for provider responses.
enum JSONText {
    /// The top-level object of a JSON document, or nil.
    static func object(_ bytes: [UInt8]) -> [String: Any]? {
        guard !bytes.isEmpty, bytes.count <= 16 << 20 else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) as? [String: Any]
    }

    /// A JSON value as a secret field: strings as-is, numbers/booleans as JSON text, null as "", nested values as JSON.
    static func fieldString(_ v: Any) -> String {
        switch v {
        case let s as String: return s
        case is NSNull: return ""
        case let n as NSNumber:
            if String(cString: n.objCType) == "c" { return n.boolValue ? "true" : "false" }  // JSON booleans
            return n.stringValue
        default:
            guard JSONSerialization.isValidJSONObject(v) else { return "" }
            var out = ""
            canonical(v, into: &out)
            return out
        }
    }

    /// JSON text with object keys in UTF-8 byte order at every depth. corelibs' `.sortedKeys` does
    /// not order every key set the same way twice (a fuzz finding), and this text is digested into
    /// the generation's identity: an unchanged secret must always read the same.
    static func canonical(_ v: Any, into out: inout String) {
        switch v {
        case let s as String:
            JSONWriter.string(s, into: &out)
        case is NSNull:
            out += "null"
        case let n as NSNumber:
            if String(cString: n.objCType) == "c" { out += n.boolValue ? "true" : "false" } else { out += n.stringValue }
        case let list as [Any]:
            out += "["
            for (i, item) in list.enumerated() {
                if i > 0 { out += "," }
                canonical(item, into: &out)
            }
            out += "]"
        case let object as [String: Any]:
            out += "{"
            for (i, key) in object.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if i > 0 { out += "," }
                JSONWriter.string(key, into: &out)
                out += ":"
                if let value = object[key] { canonical(value, into: &out) }
            }
            out += "}"
        default:
            out += "null"
        }
    }

    static func stringFields(_ obj: [String: Any]) -> [String: String] {
        obj.mapValues(fieldString)
    }

    static func encodeObject(_ obj: [String: String]) -> String {
        var out = ""
        canonical(obj, into: &out)
        return out
    }

    static func encode(_ obj: [String: Any]) -> [UInt8] {
        guard JSONSerialization.isValidJSONObject(obj),
              let d = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes]) else { return Array("{}".utf8) }
        return Array(d)
    }

    static func int(_ v: Any?) -> Int? {
        switch v {
        case let n as NSNumber: return n.intValue
        case let s as String: return Int(s)
        default: return nil
        }
    }
}
