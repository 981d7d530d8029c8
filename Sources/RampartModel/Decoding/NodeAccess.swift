import RampartYAML

/// Lenient typed reads of a node already checked against its schema; absent or mistyped values read as nil.
extension Node {
    func str(_ key: String) -> String? {
        guard let n = self[key], n.scalar != nil, case .string(let s) = n.resolved else { return nil }
        return s
    }

    func int(_ key: String) -> Int? {
        guard let n = self[key], case .int(let v) = n.resolved else { return nil }
        return Int(exactly: v)
    }

    func bool(_ key: String) -> Bool? {
        guard let n = self[key], case .bool(let v) = n.resolved else { return nil }
        return v
    }

    func strings(_ key: String) -> [String] {
        (self[key]?.sequence ?? []).compactMap { n in
            if case .string(let s) = n.resolved { return s }
            return n.scalar?.text
        }
    }

    func ms(_ key: String) -> Int? { str(key).flatMap(Values.durationMs) }

    func stringMap(_ key: String) -> [(String, String)] {
        (self[key]?.mapping ?? []).compactMap { p in
            guard let k = p.key.scalar?.text, let v = p.value.scalar?.text else { return nil }
            return (k, v)
        }
    }
}

/// An ordered list of header name/value pairs (keeps duplicates and order).
public struct HeaderList: Sendable, Hashable {
    public var items: [Header]

    public struct Header: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(_ items: [Header] = []) {
        self.items = items
    }

    init(_ pairs: [(String, String)]) {
        items = pairs.map { Header(name: $0.0, value: $0.1) }
    }
}
