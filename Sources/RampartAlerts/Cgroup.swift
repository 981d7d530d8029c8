import Foundation

/// The process's cgroup v2 CPU and memory figures at one moment (nil: not readable or no such file).
public struct CgroupSample: Sendable, Equatable {
    /// `cpu.max`: quota and period in microseconds; nil quota = `max` (no limit).
    public var cpuMax: CPUMax?
    /// `cpu.stat` `usage_usec`.
    public var cpuUsageMicroseconds: Int?
    public var memoryCurrent: Int?
    /// `memory.max`: nil with `memoryUnlimited` = `max`.
    public var memoryMax: Int?
    public var memoryUnlimited = false
    /// The directory read.
    public var path: String = ""

    public init(cpuMax: CPUMax? = nil, cpuUsageMicroseconds: Int? = nil, memoryCurrent: Int? = nil, memoryMax: Int? = nil,
                memoryUnlimited: Bool = false, path: String = "") {
        self.cpuMax = cpuMax
        self.cpuUsageMicroseconds = cpuUsageMicroseconds
        self.memoryCurrent = memoryCurrent
        self.memoryMax = memoryMax
        self.memoryUnlimited = memoryUnlimited
        self.path = path
    }

    /// `cpu.max`'s two fields.
    public struct CPUMax: Sendable, Equatable {
        public var quota: Int?
        public var period: Int

        /// The limit in CPUs (quota / period); nil without a quota.
        public var cpus: Double? { quota.map { Double($0) / Double(period) } }
    }
}

/// Reads cgroup v2 files under a root (`--cgroup-root`, default `/sys/fs/cgroup`).
public struct CgroupReader: Sendable {
    public let root: String

    public init(root: String = "/sys/fs/cgroup") {
        self.root = root
    }

    /// The directory of this process's cgroup: the root itself when it holds the controller files
    /// (a container's cgroup namespace, a test's fake tree), else the path `/proc/self/cgroup` names under it.
    public func directory() -> String {
        let fm = FileManager.default
        if fm.fileExists(atPath: root + "/cpu.max") || fm.fileExists(atPath: root + "/memory.max") { return root }
        if let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8), let rel = Self.unifiedPath(text) {
            let dir = root + (rel == "/" ? "" : rel)
            if fm.fileExists(atPath: dir) { return dir }
        }
        return root
    }

    public func sample() -> CgroupSample {
        let dir = directory()
        func read(_ name: String) -> String? { try? String(contentsOfFile: dir + "/" + name, encoding: .utf8) }
        var s = CgroupSample(path: dir)
        s.cpuMax = read("cpu.max").flatMap(Self.parseCPUMax)
        s.cpuUsageMicroseconds = read("cpu.stat").flatMap(Self.parseUsage)
        s.memoryCurrent = read("memory.current").flatMap { Self.parseCount($0) }
        if let max = read("memory.max") {
            if max.trimmingCharacters(in: .whitespacesAndNewlines) == "max" { s.memoryUnlimited = true } else { s.memoryMax = Self.parseCount(max) }
        }
        return s
    }

    /// `0::/some/path` → `/some/path` (the cgroup v2 line of `/proc/self/cgroup`).
    static func unifiedPath(_ text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix("0::") {
            let path = String(line.dropFirst(3))
            return path.hasPrefix("/") && !path.contains("..") ? path : nil
        }
        return nil
    }

    /// `max 100000` or `50000 100000`.
    public static func parseCPUMax(_ text: String) -> CgroupSample.CPUMax? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard parts.count == 2, let period = parseCount(String(parts[1])), period > 0 else { return nil }
        if parts[0] == "max" { return .init(quota: nil, period: period) }
        guard let quota = parseCount(String(parts[0])), quota > 0 else { return nil }
        return .init(quota: quota, period: period)
    }

    /// `usage_usec N` of `cpu.stat`.
    public static func parseUsage(_ text: String) -> Int? {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == "usage_usec" { return parseCount(String(parts[1])) }
        }
        return nil
    }

    /// A non-negative decimal of at most 18 digits (a kernel counter), else nil.
    public static func parseCount(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !t.isEmpty, t.utf8.count <= 18, t.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(t)
    }
}
