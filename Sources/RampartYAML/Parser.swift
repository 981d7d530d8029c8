import CYAML

/// Parses YAML (and JSON, a subset) with libyaml into `Node` trees, one per document.
///
/// Aliases are expanded by value under `Limits.maxAliasNodes`; duplicate mapping keys are errors.
public struct Parser: Sendable {
    public var limits: Limits

    public init(limits: Limits = .default) {
        self.limits = limits
    }

    /// Every document of a stream. An empty stream yields no documents.
    public func parse(_ text: String) throws(YAMLError) -> [Node] {
        try parse(bytes: Array(text.utf8))
    }

    public func parse(bytes: [UInt8]) throws(YAMLError) -> [Node] {
        if bytes.count > limits.maxBytes {
            throw YAMLError("document is \(bytes.count) bytes; the limit is \(limits.maxBytes)", at: Mark(line: 1, column: 1))
        }
        var builder = TreeBuilder(limits: limits)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw YAMLError("cannot initialise the YAML parser", at: Mark(line: 1, column: 1))
        }
        defer { yaml_parser_delete(&parser) }
        // libyaml reads from the buffer for the whole parse: keep it alive until the end.
        let result: Result<[Node], YAMLError> = bytes.withUnsafeBufferPointer { buf in
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count)
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    return .failure(Parser.libyamlError(&parser))
                }
                let type = event.type
                do throws(YAMLError) {
                    try builder.handle(&event)
                } catch {
                    yaml_event_delete(&event)
                    return .failure(error)
                }
                yaml_event_delete(&event)
                if type == YAML_STREAM_END_EVENT { break }
            }
            return .success(builder.documents)
        }
        return try result.get()
    }

    static func libyamlError(_ p: inout yaml_parser_t) -> YAMLError {
        let problem = p.problem.map { String(cString: $0) } ?? "invalid YAML"
        let mark = Mark(line: Int(p.problem_mark.line) + 1, column: Int(p.problem_mark.column) + 1)
        if let ctx = p.context {
            return YAMLError("\(problem) \(String(cString: ctx)) (at \(Int(p.context_mark.line) + 1):\(Int(p.context_mark.column) + 1))", at: mark)
        }
        return YAMLError(problem, at: mark)
    }
}

/// Builds node trees from libyaml events.
struct TreeBuilder {
    /// An open collection. A class, so appending to it never copies the items built so far.
    private final class Frame {
        let isMapping: Bool
        let mark: Mark
        let tag: String?
        let anchor: String?
        var items: [Node] = []
        var pairs: [Pair] = []
        var pendingKey: Node?
        var keys: Set<KeyIdentity> = []
        var size = 1

        init(isMapping: Bool, mark: Mark, tag: String?, anchor: String?) {
            self.isMapping = isMapping
            self.mark = mark
            self.tag = tag
            self.anchor = anchor
        }
    }

    /// What makes two scalar keys equal: their core-schema value.
    struct KeyIdentity: Hashable {
        var resolved: Resolved
    }

    let limits: Limits
    var documents: [Node] = []
    private var stack: [Frame] = []
    private var anchors: [String: (node: Node, size: Int)] = [:]
    private var nodes = 0
    private var aliasNodes = 0

    init(limits: Limits) {
        self.limits = limits
    }

    mutating func handle(_ e: inout yaml_event_t) throws(YAMLError) {
        let mark = Mark(line: Int(e.start_mark.line) + 1, column: Int(e.start_mark.column) + 1)
        switch e.type {
        case YAML_DOCUMENT_START_EVENT:
            anchors = [:]
            nodes = 0
            aliasNodes = 0
        case YAML_SCALAR_EVENT:
            let s = e.data.scalar
            let text = s.value.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(s.length)), as: UTF8.self) } ?? ""
            let style: ScalarStyle
            switch s.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            // A plain scalar with an explicit non-specific tag ("!") is a string.
            var tag = Self.string(s.tag)
            if tag == nil, style == .plain, s.plain_implicit == 0 { tag = "!" }
            try count(1, at: mark)
            try add(Node(.scalar(Scalar(text, style: style)), mark: mark, tag: tag), size: 1, anchor: Self.string(s.anchor))
        case YAML_SEQUENCE_START_EVENT:
            try push(mark)
            try count(1, at: mark)
            stack.append(Frame(isMapping: false, mark: mark, tag: Self.string(e.data.sequence_start.tag), anchor: Self.string(e.data.sequence_start.anchor)))
        case YAML_MAPPING_START_EVENT:
            try push(mark)
            try count(1, at: mark)
            stack.append(Frame(isMapping: true, mark: mark, tag: Self.string(e.data.mapping_start.tag), anchor: Self.string(e.data.mapping_start.anchor)))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let f = stack.popLast() else { throw YAMLError("unbalanced collection end", at: mark) }
            let node = f.isMapping ? Node(.mapping(f.pairs), mark: f.mark, tag: f.tag) : Node(.sequence(f.items), mark: f.mark, tag: f.tag)
            try add(node, size: f.size, anchor: f.anchor)
        case YAML_ALIAS_EVENT:
            let name = Self.string(e.data.alias.anchor) ?? ""
            guard let target = anchors[name] else {
                throw YAMLError("alias *\(name) names no anchor defined before it", at: mark)
            }
            aliasNodes += target.size
            if aliasNodes > limits.maxAliasNodes {
                throw YAMLError("aliases expand to more than \(limits.maxAliasNodes) nodes (an alias bomb?); refusing to expand", at: mark)
            }
            try count(target.size, at: mark)
            var node = target.node
            node.mark = mark
            try add(node, size: target.size, anchor: nil)
        default:
            break
        }
    }

    private func push(_ mark: Mark) throws(YAMLError) {
        if stack.count >= limits.maxDepth {
            throw YAMLError("nesting deeper than \(limits.maxDepth) levels", at: mark)
        }
    }

    private mutating func count(_ n: Int, at mark: Mark) throws(YAMLError) {
        nodes += n
        if nodes > limits.maxNodes {
            throw YAMLError("document has more than \(limits.maxNodes) nodes", at: mark)
        }
    }

    private mutating func add(_ node: Node, size: Int, anchor: String?) throws(YAMLError) {
        if let anchor { anchors[anchor] = (node, size) }
        guard let top = stack.last else {
            documents.append(node)
            return
        }
        top.size += size
        guard top.isMapping else {
            top.items.append(node)
            return
        }
        if let key = top.pendingKey {
            top.pairs.append(Pair(key: key, value: node))
            top.pendingKey = nil
            return
        }
        if node.scalar != nil, !top.keys.insert(KeyIdentity(resolved: node.resolved)).inserted {
            throw YAMLError("duplicate key \"\(node.scalar?.text ?? "")\" in mapping", at: node.mark)
        }
        top.pendingKey = node
    }

    private static func string(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let p else { return nil }
        return String(cString: p)
    }
}
