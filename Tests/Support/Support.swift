import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Test helpers shared by test targets.
public enum TestSupport {
    /// The python upstream script, written once to a temporary file.
    public static let upstreamScriptPath: String = {
        let path = NSTemporaryDirectory() + "rampart-test-upstream-\(getpid()).py"
        try? upstreamPythonSource.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }()

    /// Polls `condition` until it holds or the deadline passes.
    @discardableResult
    public static func waitUntil(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    /// A temporary file path.
    public static func tempPath(_ name: String) -> String {
        NSTemporaryDirectory() + "rampart-\(getpid())-\(UUID().uuidString.prefix(8))-\(name)"
    }
}

/// A child process whose stdout first line is read (e.g. a port), killed on stop/deinit.
public final class ChildProcess: @unchecked Sendable {
    public let process = Process()
    private let stdoutPipe = Pipe()
    public private(set) var firstLine = ""

    public init(_ executable: String, _ args: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = args
        if let environment { process.environment = environment }
        process.standardOutput = stdoutPipe
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Reads the first stdout line (blocking, bounded by timeout).
    public func readFirstLine(timeout: Double = 10) -> String? {
        let fd = stdoutPipe.fileHandleForReading.fileDescriptor
        var line = [UInt8]()
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 100) <= 0 { continue }
            var b: UInt8 = 0
            if read(fd, &b, 1) != 1 { return nil }
            if b == 10 {
                firstLine = String(decoding: line, as: UTF8.self)
                return firstLine
            }
            line.append(b)
        }
        return nil
    }

    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

/// A python script written to a temp file and started; it prints the port it listens on as its
/// first line. Stopped by its PID (`stop()`).
public final class PythonServer: Sendable {
    public let child: ChildProcess
    public let port: Int

    public init(script: String, name: String) throws {
        let path = TestSupport.tempPath(name)
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        let child = try ChildProcess("/usr/bin/python3", [path])
        guard let line = child.readFirstLine(), let port = Int(line) else {
            child.stop()
            throw NSError(domain: "PythonServer", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(name) did not start"])
        }
        self.child = child
        self.port = port
    }

    public func stop() { child.stop() }
}

/// The python test upstream (Tests/Support/upstream.py).
public final class TestUpstream: @unchecked Sendable {
    public let child: ChildProcess
    public let port: Int
    public let logPath: String
    public let name: String

    public init(name: String = "up", mode: String = "echo") throws {
        self.name = name
        logPath = TestSupport.tempPath("\(name).log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        child = try ChildProcess("/usr/bin/env", ["python3", TestSupport.upstreamScriptPath,
                                                  "--name", name, "--log", logPath, "--mode", mode])
        guard let line = child.readFirstLine(), let p = Int(line) else {
            child.stop()
            throw NSError(domain: "TestUpstream", code: 1, userInfo: [NSLocalizedDescriptionKey: "upstream did not start"])
        }
        port = p
    }

    /// Lines the upstream logged: "CONN" per connection, "REQ METHOD TARGET" per request.
    public var log: [String] {
        (try? String(contentsOfFile: logPath, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
    }

    public var requestCount: Int { log.filter { $0.hasPrefix("REQ") }.count }
    public var connectionCount: Int { log.filter { $0 == "CONN" }.count }

    public func stop() {
        child.stop()
        try? FileManager.default.removeItem(atPath: logPath)
    }

    deinit { stop() }
}

/// A parsed HTTP response.
public struct TestResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
    public func headers(_ name: String) -> [String] {
        headers.filter { $0.0.lowercased() == name.lowercased() }.map { $0.1 }
    }
    public var bodyString: String { String(decoding: body, as: UTF8.self) }
    public var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }
}

/// A blocking raw TCP client with timeouts, for sending exact bytes.
public final class RawClient: @unchecked Sendable {
    public let fd: Int32
    private var buffer: [UInt8] = []
    public var timeout: Double

    /// `source`: the local address to connect from (another 127.x.y.z is another client to the server).
    public init(port: Int, host: String = "127.0.0.1", source: String? = nil, timeout: Double = 5) throws {
        self.timeout = timeout
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, source, &local.sin_addr)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if bound != 0 {
                close(fd)
                throw NSError(domain: "RawClient", code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "bind \(source) failed"])
            }
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            close(fd)
            throw NSError(domain: "RawClient", code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "connect failed"])
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(4))
    }

    deinit { close(fd) }

    public func send(_ s: String) { send(Array(s.utf8)) }

    public func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Reads more bytes; false on EOF/timeout/error.
    private func fill(deadline: Date) -> Bool {
        let left = deadline.timeIntervalSinceNow
        if left <= 0 { return false }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&pfd, 1, Int32(left * 1000)) <= 0 { return false }
        var tmp = [UInt8](repeating: 0, count: 65536)
        let n = tmp.withUnsafeMutableBufferPointer { recv(fd, $0.baseAddress, 65536, 0) }
        if n <= 0 { return false }
        buffer.append(contentsOf: tmp[0..<n])
        return true
    }

    /// True if the server closed the connection (EOF) within the timeout, with no further bytes.
    public func isClosed(timeout: Double? = nil) -> Bool {
        let deadline = Date().addingTimeInterval(timeout ?? self.timeout)
        while Date() < deadline {
            let left = deadline.timeIntervalSinceNow
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, Int32(max(1, left * 1000))) <= 0 { return false }
            var tmp = [UInt8](repeating: 0, count: 4096)
            let n = tmp.withUnsafeMutableBufferPointer { recv(fd, $0.baseAddress, 4096, 0) }
            if n <= 0 { return true }
            buffer.append(contentsOf: tmp[0..<n])
        }
        return false
    }

    /// Reads everything until EOF.
    public func readToEOF() -> [UInt8] {
        let deadline = Date().addingTimeInterval(timeout)
        while fill(deadline: deadline) {}
        let b = buffer
        buffer = []
        return b
    }

    /// Reads one response (Content-Length, chunked or close-delimited body).
    public func readResponse(headRequest: Bool = false) -> TestResponse? {
        let deadline = Date().addingTimeInterval(timeout)
        let sep: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while true {
            if let r = findSeq(sep, from: 0) { headEnd = r; break }
            if !fill(deadline: deadline) { return nil }
        }
        guard let he = headEnd else { return nil }
        let head = String(decoding: buffer[0..<he], as: UTF8.self)
        buffer.removeFirst(he + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
        var headers: [(String, String)] = []
        for l in lines {
            guard let c = l.firstIndex(of: ":") else { continue }
            headers.append((String(l[..<c]), l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)))
        }
        var r = TestResponse(status: status, headers: headers, body: [])
        if headRequest || status == 204 || status == 304 || (100..<200).contains(status) { return r }
        if r.header("transfer-encoding")?.lowercased().contains("chunked") == true {
            while true {
                var le: Int?
                while le == nil {
                    le = findSeq([13, 10], from: 0)
                    if le == nil && !fill(deadline: deadline) { return nil }
                }
                guard let lineEnd = le else { return nil }
                let sizeLine = String(decoding: buffer[0..<lineEnd], as: UTF8.self)
                buffer.removeFirst(lineEnd + 2)
                guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else { return nil }
                if size == 0 {
                    while findSeq([13, 10], from: 0) == nil { if !fill(deadline: deadline) { return nil } }
                    if let e = findSeq([13, 10], from: 0) { buffer.removeFirst(e + 2) }
                    return r
                }
                while buffer.count < size + 2 { if !fill(deadline: deadline) { return nil } }
                r.body.append(contentsOf: buffer[0..<size])
                buffer.removeFirst(size + 2)
            }
        } else if let cl = r.header("content-length"), let n = Int(cl) {
            while buffer.count < n { if !fill(deadline: deadline) { return nil } }
            r.body = Array(buffer[0..<n])
            buffer.removeFirst(n)
            return r
        } else {
            while fill(deadline: deadline) {}
            r.body = buffer
            buffer = []
            return r
        }
    }

    private func findSeq(_ seq: [UInt8], from: Int) -> Int? {
        guard buffer.count >= seq.count else { return nil }
        var i = from
        while i + seq.count <= buffer.count {
            if buffer[i] == seq[0] && Array(buffer[i..<(i + seq.count)]) == seq { return i }
            i += 1
        }
        return nil
    }
}

/// One-shot request helper: opens a connection, sends, reads one response.
public func httpRequest(port: Int, _ raw: String, timeout: Double = 5) -> TestResponse? {
    guard let c = try? RawClient(port: port, timeout: timeout) else { return nil }
    c.send(raw)
    return c.readResponse(headRequest: raw.hasPrefix("HEAD "))
}
