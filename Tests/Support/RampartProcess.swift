import Foundation

/// Paths of the package under test.
public enum PackagePaths {
    public static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The `rampart` binary that `swift build` made (debug unless RAMPART_BINARY says otherwise).
    public static var rampart: String {
        ProcessInfo.processInfo.environment["RAMPART_BINARY"] ?? root.appendingPathComponent(".build/debug/rampart").path
    }
}

/// The outcome of a finished command.
public struct CommandResult: Sendable {
    public var code: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs commands and long-lived processes started by the test; stops only those, by PID.
public enum Command {
    /// Runs to completion (killed after `timeout` seconds).
    public static func run(_ exe: String, _ args: [String], stdin: String? = nil, env: [String: String] = [:],
                           cwd: String? = nil, timeout: Double = 60) throws -> CommandResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { _, b in b }
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let dir = try TempDir.make("cmd")
        let outURL = URL(fileURLWithPath: dir + "/out"), errURL = URL(fileURLWithPath: dir + "/err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: outURL)
        p.standardError = try FileHandle(forWritingTo: errURL)
        let inPipe = Pipe()
        p.standardInput = inPipe
        try p.run()
        if let stdin { inPipe.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? inPipe.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(5_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        p.waitUntilExit()
        let out = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: dir)
        return CommandResult(code: p.terminationStatus, stdout: out, stderr: err)
    }

    public static func rampart(_ args: [String], stdin: String? = nil, cwd: String? = nil, env: [String: String] = [:]) throws -> CommandResult {
        try run(PackagePaths.rampart, args, stdin: stdin, env: env, cwd: cwd)
    }
}

/// A background process whose output goes to files the test can read.
public final class Background: @unchecked Sendable {
    public let process = Process()
    public let logPath: String
    private let dir: String

    public init(_ exe: String, _ args: [String], env: [String: String] = [:], cwd: String? = nil) throws {
        dir = try TempDir.make("bg")
        logPath = dir + "/log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = args
        process.environment = ProcessInfo.processInfo.environment.merging(env) { _, b in b }
        if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = h
        process.standardError = h
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// SIGTERM, wait up to `grace` seconds, then SIGKILL. Returns the exit status.
    @discardableResult
    public func stop(grace: Double = 10) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    public func kill9() {
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { kill(pid, SIGKILL); process.waitUntilExit() }
    }
}

/// Fresh temporary directories.
public enum TempDir {
    public static func make(_ prefix: String) throws -> String {
        let path = NSTemporaryDirectory() + "rampart-\(prefix)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// Deadline-bound polling: tests wait for a condition, never for a fixed time.
public enum Poll {
    @discardableResult
    public static func until(timeout: Double = 20, interval: Double = 0.02, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if try condition() { return true }
            usleep(useconds_t(interval * 1_000_000))
        } while Date() < deadline
        return try condition()
    }
}

/// Loopback ports for test servers.
public enum Ports {
    /// A port the kernel just handed out on 127.0.0.1 (closed again, so a child process can bind it).
    public static func free() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// HTTP requests with the real `curl` client.
public enum Curl {
    public struct Response: Sendable {
        public var status: Int
        public var body: String
        public var headers: String
    }

    public static func get(_ url: String, headers: [String] = [], method: String = "GET", data: String? = nil, timeout: Double = 5) -> Response? {
        var args = ["-sS", "-o", "-", "-D", "/dev/stderr", "-w", "\n%{http_code}", "--max-time", String(timeout), "-X", method]
        for h in headers { args += ["-H", h] }
        if let data { args += ["--data-binary", data] }
        args.append(url)
        guard let r = try? Command.run("/usr/bin/curl", args, timeout: timeout + 5), r.code == 0 else { return nil }
        guard let nl = r.stdout.lastIndex(of: "\n"), let status = Int(r.stdout[r.stdout.index(after: nl)...]) else { return nil }
        return Response(status: status, body: String(r.stdout[..<nl]), headers: r.stderr)
    }
}
