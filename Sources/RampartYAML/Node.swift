/// A position in a source document, 1-based, as editors show it.
public struct Mark: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static func < (a: Mark, b: Mark) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }

    public var description: String { "\(line):\(column)" }
}

/// How a scalar was written; quoted and block scalars are always strings.
public enum ScalarStyle: Sendable, Hashable {
    case plain, singleQuoted, doubleQuoted, literal, folded
}

/// One parsed YAML node with the mark of its first character.
public struct Node: Sendable {
    public enum Value: Sendable {
        case scalar(Scalar)
        case sequence([Node])
        case mapping([Pair])
    }

    public var value: Value
    public var mark: Mark
    /// The explicit tag, expanded (`tag:yaml.org,2002:str`), or nil when implicit.
    public var tag: String?

    public init(_ value: Value, mark: Mark = Mark(line: 0, column: 0), tag: String? = nil) {
        self.value = value
        self.mark = mark
        self.tag = tag
    }
}

/// A scalar's text and the style it was written in.
public struct Scalar: Sendable, Hashable {
    public var text: String
    public var style: ScalarStyle

    public init(_ text: String, style: ScalarStyle = .plain) {
        self.text = text
        self.style = style
    }
}

/// A mapping entry; mappings keep their source order.
public struct Pair: Sendable {
    public var key: Node
    public var value: Node

    public init(key: Node, value: Node) {
        self.key = key
        self.value = value
    }
}

extension Node {
    public static func string(_ s: String) -> Node { Node(.scalar(Scalar(s, style: .doubleQuoted))) }

    public var scalar: Scalar? {
        if case .scalar(let s) = value { return s }
        return nil
    }

    public var sequence: [Node]? {
        if case .sequence(let s) = value { return s }
        return nil
    }

    public var mapping: [Pair]? {
        if case .mapping(let m) = value { return m }
        return nil
    }

    /// The value of `key` in a mapping whose keys are strings.
    public subscript(key: String) -> Node? {
        guard case .mapping(let pairs) = value else { return nil }
        for p in pairs where p.key.scalar?.text == key { return p.value }
        return nil
    }

    /// A short name of the node's kind for error messages ("a mapping", "a string", ...).
    public var kindDescription: String {
        switch value {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar:
            switch resolved {
            case .null: return "null"
            case .bool: return "a boolean"
            case .int: return "an integer"
            case .float: return "a number"
            case .string: return "a string"
            }
        }
    }
}
