/// Cuts a watch stream (newline-delimited JSON) into lines, joining a line that arrives split
/// across reads. A line longer than `maxLineBytes` is refused as soon as it passes the limit, so a
/// server that never sends a newline costs at most the limit in memory.
public struct LineSplitter: Sendable {
    public struct LineTooLong: Error, Sendable, CustomStringConvertible {
        public var limit: Int
        public var description: String { "a watch event is over \(limit) bytes" }
    }

    public let maxLineBytes: Int
    /// The start of a line whose end has not arrived yet.
    private var pending: [UInt8] = []

    public init(maxLineBytes: Int = 16 << 20) { self.maxLineBytes = maxLineBytes }

    /// Bytes held while waiting for the rest of a line.
    public var bufferedBytes: Int { pending.count }

    /// Feeds one read; calls `line` for each complete, non-blank line, without its "\n" (or "\r\n").
    /// A throw (from the limit or from `line`) leaves the splitter empty; the stream it was reading
    /// is out of step and must be restarted.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, _ line: ([UInt8]) throws -> Void) throws {
        var start = 0
        let bytes = chunk.bindMemory(to: UInt8.self)
        while start < bytes.count {
            guard let newline = bytes[start...].firstIndex(of: 0x0A) else {
                try hold(UnsafeBufferPointer(rebasing: bytes[start...]))
                return
            }
            let segment = UnsafeBufferPointer(rebasing: bytes[start..<newline])
            start = newline + 1
            if pending.isEmpty {
                guard segment.count <= maxLineBytes else { throw fail() }
                try emit(Array(segment), line)
            } else {
                try hold(segment)
                let whole = pending
                pending = []
                try emit(whole, line)
            }
        }
    }

    /// The stream ended: a non-blank last line without a newline is returned (a truncated
    /// event, which the caller should not trust), and the splitter is empty again.
    public mutating func finish() -> [UInt8]? {
        defer { pending = [] }
        let rest = trimmed(pending)
        return rest.isEmpty ? nil : rest
    }

    public mutating func reset() { pending = [] }

    private mutating func hold(_ bytes: UnsafeBufferPointer<UInt8>) throws {
        guard bytes.count <= maxLineBytes - pending.count else { throw fail() }
        pending.append(contentsOf: bytes)
    }

    private mutating func fail() -> LineTooLong {
        pending = []
        return LineTooLong(limit: maxLineBytes)
    }

    private mutating func emit(_ bytes: [UInt8], _ line: ([UInt8]) throws -> Void) throws {
        let text = trimmed(bytes)
        guard !text.isEmpty else { return }
        do { try line(text) } catch {
            pending = []
            throw error
        }
    }

    private func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0x0D || bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        var begin = 0
        while begin < end, bytes[begin] == 0x20 || bytes[begin] == 0x09 || bytes[begin] == 0x0D { begin += 1 }
        if begin == 0 && end == bytes.count { return bytes }
        return Array(bytes[begin..<end])
    }
}
