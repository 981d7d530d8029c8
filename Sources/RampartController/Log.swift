import Foundation
import RampartModel
import Synchronization

/// Structured logging to stderr as text or JSON lines. Callers never pass sensitive values: masking is by type upstream.
public final class Log: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug, info, warn, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        public init?(name: String) {
            switch name.lowercased() {
            case "debug": self = .debug
            case "info": self = .info
            case "warn", "warning": self = .warn
            case "error": self = .error
            default: return nil
            }
        }
        var name: String { ["debug", "info", "warn", "error"][rawValue] }
    }

    public let json: Bool
    public let level: Level
    private let lock = Mutex(())

    public init(json: Bool = false, level: Level = .info) {
        self.json = json
        self.level = level
    }

    public func debug(_ msg: String, _ fields: KeyValuePairs<String, String> = [:]) { write(.debug, msg, fields) }
    public func info(_ msg: String, _ fields: KeyValuePairs<String, String> = [:]) { write(.info, msg, fields) }
    public func warn(_ msg: String, _ fields: KeyValuePairs<String, String> = [:]) { write(.warn, msg, fields) }
    public func error(_ msg: String, _ fields: KeyValuePairs<String, String> = [:]) { write(.error, msg, fields) }

    public func write(_ lvl: Level, _ msg: String, _ fields: KeyValuePairs<String, String>) {
        write(lvl, msg, fields: Array(fields))
    }

    /// Fields made at run time (in the order given).
    public func write(_ lvl: Level, _ msg: String, fields: [(key: String, value: String)]) {
        guard lvl >= level else { return }
        let time = Log.timestamp()
        var line: String
        if json {
            line = "{\"time\":\"\(time)\",\"level\":\"\(lvl.name)\",\"msg\":\(Log.quote(msg))"
            for (k, v) in fields { line += ",\(Log.quote(k)):\(Log.quote(v))" }
            line += "}\n"
        } else {
            // One event, one line: a newline in a message or value (a file name, a peer's error text)
            // must not be able to write a forged line of its own.
            line = "\(time) \(lvl.name.uppercased()) \(Log.escapingControls(msg))"
            for (k, v) in fields { line += " \(k)=\(Log.needsQuoting(v) ? Log.quote(v) : v)" }
            line += "\n"
        }
        lock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    static func quote(_ s: String) -> String { JSONWriter.quote(s) }

    static func needsQuoting(_ s: String) -> Bool {
        s.isEmpty || s.utf8.contains { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "=") }
    }

    /// The text with control characters written as JSON escapes (`\n`, `\u001b`), unquoted.
    static func escapingControls(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return s }
        return String(JSONWriter.quote(s).dropFirst().dropLast())
    }

    /// RFC 3339 UTC with milliseconds.
    public static func timestamp(_ date: Date = Date()) -> String {
        let t = date.timeIntervalSince1970
        var secs = time_t(t)
        var tm = tm()
        gmtime_r(&secs, &tm)
        let ms = Int((t - Double(secs)) * 1000)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms)
    }
}
