import RampartYAML

/// Visits the sensitive values of a node tree by field path, as the schema marks them.
public enum SchemaWalker {
    public static func sensitiveNodes(_ node: Node, _ schema: Schema, path: String, _ visit: (String, Node) -> Void) {
        switch schema {
        case .sensitive:
            visit(path, node)
        case .object(let fields):
            // Walk the keys present (few) rather than every field the schema knows (many).
            for p in node.mapping ?? [] {
                guard let key = p.key.scalar?.text, let f = fields.first(where: { $0.name == key }), f.holdsSensitive else { continue }
                sensitiveNodes(p.value, f.schema, path: SchemaChecker.join(path, key), visit)
            }
        case .array(let item, _):
            for (i, n) in (node.sequence ?? []).enumerated() { sensitiveNodes(n, item, path: "\(path)[\(i)]", visit) }
        case .map(let value):
            for p in node.mapping ?? [] { sensitiveNodes(p.value, value, path: SchemaChecker.join(path, p.key.scalar?.text ?? ""), visit) }
        default:
            break
        }
    }
}

extension Schema {
    /// Whether a sensitive value can occur anywhere below this schema (computed once per field).
    var containsSensitive: Bool {
        switch self {
        case .sensitive: return true
        case .object(let fields): return fields.contains { $0.holdsSensitive }
        case .array(let item, _): return item.containsSensitive
        case .map(let value): return value.containsSensitive
        default: return false
        }
    }
}
