import Foundation

/// JSON in and out of the API server, over Foundation's JSONSerialization, with the bounds a
/// hostile server cannot get past: a size limit and a nesting limit checked before parsing.
public enum KubeJSON {
    /// Deepest nesting accepted; Kubernetes objects are far shallower.
    public static let maxDepth = 100

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The top-level object of a JSON document.
    public static func object(_ bytes: some Collection<UInt8>, maxBytes: Int = 64 << 20) throws -> [String: Any] {
        guard bytes.count <= maxBytes else { throw Failure(description: "JSON over \(maxBytes) bytes") }
        guard nestingWithin(bytes, maxDepth) else { throw Failure(description: "JSON nested deeper than \(maxDepth)") }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: Data(bytes)) } catch { throw Failure(description: "not JSON") }
        guard let object = parsed as? [String: Any] else { throw Failure(description: "JSON is not an object") }
        return object
    }

    /// Serialises a JSON-compatible value (dictionaries, arrays, strings, numbers, NSNull).
    public static func bytes(_ value: Any) throws -> [UInt8] {
        guard JSONSerialization.isValidJSONObject(value) else { throw Failure(description: "not a JSON object") }
        return Array(try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    /// A bracket count outside strings: JSONSerialization recurses per level, so depth is bounded first.
    static func nestingWithin(_ bytes: some Collection<UInt8>, _ limit: Int) -> Bool {
        var depth = 0
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == 0x5C { escaped = true } else if byte == 0x22 { inString = false }
                continue
            }
            switch byte {
            case 0x22: inString = true
            case 0x5B, 0x7B:
                depth += 1
                if depth > limit { return false }
            case 0x5D, 0x7D: depth -= 1
            default: break
            }
        }
        return true
    }

    static func string(_ value: Any?) -> String? { value as? String }

    /// An integer field; JSON numbers come back as NSNumber, some servers send int64 as strings.
    static func int64(_ value: Any?) -> Int64? {
        switch value {
        case let n as NSNumber:
            let d = n.doubleValue
            guard d.isFinite, d == d.rounded(), abs(d) < 9.0e15 else { return nil }
            return n.int64Value
        case let s as String: return Int64(s)
        default: return nil
        }
    }
}

/// Text from the server placed into a log line or an error: control characters (a forged log
/// line) become spaces and the length is capped.
func printable(_ text: String, max: Int = 512) -> String {
    var out = String.UnicodeScalarView()
    var count = 0
    for scalar in text.unicodeScalars {
        if count >= max {
            out.append("…")
            break
        }
        let control = scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
        out.append(control ? " " : scalar)
        count += 1
    }
    return String(out)
}
