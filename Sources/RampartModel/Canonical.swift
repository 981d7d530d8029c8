import RampartYAML

/// A resource's canonical form: keys sorted, defaults filled, scalars normalised, sensitive values replaced.
public enum Canonical {
    /// Renders a sensitive value given its field path and raw node; the default masks it.
    public typealias SensitiveRenderer = (_ path: String, _ raw: Node) -> Node

    public static var masked: SensitiveRenderer { { _, _ in .string(Sensitive.mask) } }

    public static func node(_ r: Resource, sensitive: SensitiveRenderer = masked) -> Node {
        var meta: [Pair] = [
            Pair(key: .string("name"), value: .string(r.metadata.name)),
            Pair(key: .string("namespace"), value: .string(r.metadata.namespace)),
        ]
        if !r.metadata.labels.isEmpty { meta.append(Pair(key: .string("labels"), value: stringMap(r.metadata.labels))) }
        if !r.metadata.annotations.isEmpty { meta.append(Pair(key: .string("annotations"), value: stringMap(r.metadata.annotations))) }
        let spec = r.specNode.map { canonical($0, KindSchemas.spec(r.kind), path: "spec", sensitive) } ?? Node(.mapping([]))
        return Node(.mapping([
            Pair(key: .string("apiVersion"), value: .string(apiVersion)),
            Pair(key: .string("kind"), value: .string(r.kind.rawValue)),
            Pair(key: .string("metadata"), value: Node(.mapping(meta.sorted { ($0.key.scalar?.text ?? "") < ($1.key.scalar?.text ?? "") }))),
            Pair(key: .string("spec"), value: spec),
        ]))
    }

    /// Canonical YAML text of one resource.
    public static func yaml(_ r: Resource, sensitive: SensitiveRenderer = masked) -> String {
        Emitter.emit([node(r, sensitive: sensitive)])
    }

    static func stringMap(_ m: [String: String]) -> Node {
        Node(.mapping(m.sorted { $0.key < $1.key }.map { Pair(key: .string($0.key), value: .string($0.value)) }))
    }

    static func canonical(_ n: Node, _ schema: Schema, path: String, _ sensitive: SensitiveRenderer) -> Node {
        switch schema {
        case .object(let fields):
            var pairs: [Pair] = []
            for f in fields.sorted(by: { $0.name < $1.name }) {
                let sub = SchemaChecker.join(path, f.name)
                if let v = n[f.name], !(v.scalar != nil && v.resolved == .null) {
                    pairs.append(Pair(key: .string(f.name), value: canonical(v, f.schema, path: sub, sensitive)))
                } else if let d = f.defaultValue {
                    pairs.append(Pair(key: .string(f.name), value: canonical(d, f.schema, path: sub, sensitive)))
                }
            }
            return Node(.mapping(pairs))
        case .array(let item, _):
            return Node(.sequence((n.sequence ?? []).enumerated().map { canonical($1, item, path: "\(path)[\($0)]", sensitive) }))
        case .map(let value):
            let pairs = (n.mapping ?? []).sorted { ($0.key.scalar?.text ?? "") < ($1.key.scalar?.text ?? "") }
            return Node(.mapping(pairs.map {
                let k = $0.key.scalar?.text ?? ""
                return Pair(key: .string(k), value: canonical($0.value, value, path: SchemaChecker.join(path, k), sensitive))
            }))
        case .sensitive:
            return sensitive(path, n)
        case .any:
            return n
        case .string, .intOrString:
            switch n.resolved {
            case .string(let s): return .string(s)
            default: return Node(.scalar(Scalar(n.scalar?.text ?? "")))
            }
        case .integer, .number, .boolean:
            switch n.resolved {
            case .int(let i): return Node(.scalar(Scalar(String(i))))
            case .float(let d): return Node(.scalar(Scalar(String(d))))
            case .bool(let b): return Node(.scalar(Scalar(b ? "true" : "false")))
            default: return Node(.scalar(Scalar(n.scalar?.text ?? "")))
            }
        }
    }

    /// Raw sensitive nodes by field path (for telling which secrets changed without showing them).
    public static func sensitiveFingerprints(_ r: Resource) -> [String: String] {
        var out: [String: String] = [:]
        if let spec = r.specNode {
            SchemaWalker.sensitiveNodes(spec, KindSchemas.spec(r.kind), path: "spec") { path, node in
                out[path] = Emitter.emit([node])
            }
        }
        return out
    }
}
