import Foundation

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
            guard JSONSerialization.isValidJSONObject(v),
                  let d = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "" }
            return String(decoding: d, as: UTF8.self)
        }
    }

    static func stringFields(_ obj: [String: Any]) -> [String: String] {
        obj.mapValues(fieldString)
    }

    static func encodeObject(_ obj: [String: String]) -> String {
        guard let d = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "{}" }
        return String(decoding: d, as: UTF8.self)
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
