import RampartYAML

/// One validation finding, located by file, mark, resource and field path.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable { case error, warning }

    public var severity: Severity
    public var file: String
    public var mark: Mark
    /// `Kind namespace/name`, when the finding belongs to one resource.
    public var resource: String?
    /// `spec.nodes[0].port`
    public var path: String
    public var message: String

    public init(_ severity: Severity = .error, file: String, mark: Mark, resource: String?, path: String, message: String) {
        self.severity = severity
        self.file = file
        self.mark = mark
        self.resource = resource
        self.path = path
        self.message = message
    }

    /// `file:line:column: error: Route shop/orders: spec.nodes[0].port: 70000 is not a port (1-65535)`
    public var description: String {
        var s = "\(file):\(mark.line):\(mark.column): \(severity.rawValue): "
        if let resource { s += "\(resource): " }
        if !path.isEmpty { s += "\(path): " }
        return s + message
    }

    /// Orders findings as they appear in the files.
    public static func sourceOrder(_ a: Diagnostic, _ b: Diagnostic) -> Bool {
        (a.file, a.mark.line, a.mark.column, a.path) < (b.file, b.mark.line, b.mark.column, b.path)
    }
}

/// A growing list of findings about one resource.
public struct Diagnostics: Sendable {
    public var items: [Diagnostic] = []
    public let file: String
    public let resource: String?

    public init(file: String, resource: String?) {
        self.file = file
        self.resource = resource
    }

    public mutating func error(_ path: String, _ message: String, at mark: Mark) {
        items.append(Diagnostic(.error, file: file, mark: mark, resource: resource, path: path, message: message))
    }

    public mutating func warning(_ path: String, _ message: String, at mark: Mark) {
        items.append(Diagnostic(.warning, file: file, mark: mark, resource: resource, path: path, message: message))
    }

    public var hasErrors: Bool { items.contains { $0.severity == .error } }
}
