/// Bounds that keep hostile input from exhausting memory or stack.
public struct Limits: Sendable {
    /// Largest input accepted, in bytes.
    public var maxBytes: Int
    /// Deepest nesting of collections.
    public var maxDepth: Int
    /// Most nodes in one document, counting nodes that aliases expand to.
    public var maxNodes: Int
    /// Most nodes that alias expansion may add to one document (stops "billion laughs").
    public var maxAliasNodes: Int

    public init(maxBytes: Int = 16 << 20, maxDepth: Int = 128, maxNodes: Int = 2_000_000, maxAliasNodes: Int = 10_000) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxNodes = maxNodes
        self.maxAliasNodes = maxAliasNodes
    }

    public static let `default` = Limits()
}

/// A YAML error with the mark it applies to.
public struct YAMLError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var mark: Mark

    public init(_ message: String, at mark: Mark) {
        self.message = message
        self.mark = mark
    }

    public var description: String { "\(mark): \(message)" }
}
