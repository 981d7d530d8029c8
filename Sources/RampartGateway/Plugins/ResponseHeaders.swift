/// response-headers: upstream response headers removed, set (replacing the upstream's) and added.
/// Response hook only; no per-exchange state.
final class ResponseHeadersPlugin: Sendable {
    let set: [(name: [UInt8], value: [UInt8])]
    let add: [(name: [UInt8], value: [UInt8])]
    /// Upstream headers not relayed: the removed and the set ones, lowercase.
    let drop: [[UInt8]]

    init(set: [HeaderPair], add: [HeaderPair], remove: [String]) throws {
        self.set = set.map { (Array($0.name.utf8), Array($0.value.utf8)) }
        self.add = add.map { (Array($0.name.utf8), Array($0.value.utf8)) }
        drop = remove.map { lowerBytes($0) } + set.map { lowerBytes($0.name) }
        for (name, value) in self.set + self.add { try validatePluginHeader(name, value) }
    }

    /// The response hook: its lines, after the relayed headers.
    func writeHeaders(_ o: ByteBuffer) {
        for s in set { o.appendHeaderLine(s.name, s.value) }
        for a in add { o.appendHeaderLine(a.name, a.value) }
    }
}

/// A configured header line: a token name and a value without control bytes (no header injection).
func validatePluginHeader(_ name: [UInt8], _ value: [UInt8]) throws {
    guard !name.isEmpty, name.allSatisfy({ ASCII.tchar[Int($0)] }),
          value.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == ASCII.tab }) else {
        throw GatewayError.invalidConfig("invalid header \(String(decoding: name, as: UTF8.self))")
    }
}
