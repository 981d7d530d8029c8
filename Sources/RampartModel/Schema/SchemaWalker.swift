import RampartYAML

/// Visits the sensitive values of a node tree by field path, as the schema marks them.
public enum SchemaWalker {
    public static func sensitiveNodes(_ node: Node, _ schema: Schema, path: String, _ visit: (String, Node) -> Void) {
        switch schema {
        case .sensitive:
            visit(path, node)
        case .object(let fields):
            for f in fields { if let v = node[f.name] { sensitiveNodes(v, f.schema, path: SchemaChecker.join(path, f.name), visit) } }
        case .array(let item, _):
            for (i, n) in (node.sequence ?? []).enumerated() { sensitiveNodes(n, item, path: "\(path)[\(i)]", visit) }
        case .map(let value):
            for p in node.mapping ?? [] { sensitiveNodes(p.value, value, path: SchemaChecker.join(path, p.key.scalar?.text ?? ""), visit) }
        default:
            break
        }
    }
}
