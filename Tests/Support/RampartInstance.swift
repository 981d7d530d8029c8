import Foundation

/// A real `rampart run` process on 127.0.0.1 with its own manifests dir, state dir and ports.
public final class RampartInstance: @unchecked Sendable {
    public let manifests: String
    public let stateDir: String
    public let port: Int
    public let adminPort: Int
    public private(set) var process: Background?
    public let extraArgs: [String]
    /// Added to the process environment (`POD_NAME` for a Lease identity, say).
    public let env: [String: String]

    public init(manifests: String? = nil, stateDir: String? = nil, extraArgs: [String] = [], env: [String: String] = [:]) throws {
        self.env = env
        let base = try TempDir.make("run")
        self.manifests = manifests ?? base + "/manifests"
        self.stateDir = stateDir ?? base + "/state"
        try FileManager.default.createDirectory(atPath: self.manifests, withIntermediateDirectories: true)
        port = Ports.free()
        adminPort = Ports.free()
        self.extraArgs = extraArgs
    }

    public var url: String { "http://127.0.0.1:\(port)" }
    public var adminURL: String { "http://127.0.0.1:\(adminPort)" }

    /// Starts the binary; `paths` default to the manifests dir (none for a git source).
    public func start(paths: [String]? = nil) throws {
        process = try Background(PackagePaths.rampart, ["run"] + (paths ?? [manifests]) + [
            "--listen", "127.0.0.1:\(port)", "--admin", "127.0.0.1:\(adminPort)", "--admin-tls", "off",
            "--state-dir", stateDir, "--workers", "1", "--debounce", "20ms",
        ] + extraArgs, env: env)
    }

    /// Polls `/readyz` until 200.
    public func waitReady(timeout: Double = 30) -> Bool {
        Poll.until(timeout: timeout) { Curl.get(adminURL + "/readyz")?.status == 200 }
    }

    public var token: String {
        ((try? String(contentsOfFile: stateDir + "/admin-token", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func api(_ path: String, method: String = "GET", data: String? = nil) -> Curl.Response? {
        Curl.get(adminURL + path, headers: ["Authorization: Bearer \(token)"], method: method, data: data)
    }

    public func write(_ name: String, _ text: String) throws {
        let path = manifests + "/" + name
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path + ".tmp", atomically: false, encoding: .utf8)
        rename(path + ".tmp", path)
    }

    @discardableResult
    public func stop() -> Int32 { process?.stop() ?? 0 }

    public var log: String { process?.output ?? "" }

    deinit { process?.kill9() }
}

/// Manifest snippets for tests.
public enum Manifests {
    public static func upstream(_ name: String, port: Int, extra: String = "") -> String {
        "apiVersion: rampart.io/v1alpha1\nkind: Upstream\nmetadata: {name: \(name)}\nspec:\n  nodes: [{host: 127.0.0.1, port: \(port)}]\n\(extra)"
    }

    public static func route(_ name: String, paths: [String], upstream: String, extra: String = "") -> String {
        let p = paths.map { "\"\($0)\"" }.joined(separator: ", ")
        return "apiVersion: rampart.io/v1alpha1\nkind: Route\nmetadata: {name: \(name)}\nspec:\n  paths: [\(p)]\n  upstreamRef: {name: \(upstream)}\n\(extra)"
    }
}

/// Fails a test if any byte a process wrote contains a plaintext secret.
public enum SecretScan {
    /// Every file under `dirs` plus the given texts; returns the places a secret appears.
    public static func find(_ secrets: [String], inDirectories dirs: [String], texts: [String: String] = [:]) -> [String] {
        var hits: [String] = []
        let fm = FileManager.default
        for dir in dirs {
            guard let walker = fm.enumerator(atPath: dir) else { continue }
            while let rel = walker.nextObject() as? String {
                let path = dir + "/" + rel
                guard let data = fm.contents(atPath: path) else { continue }
                let text = String(decoding: data, as: UTF8.self)
                for s in secrets where text.contains(s) { hits.append(path) }
            }
        }
        for (name, text) in texts { for s in secrets where text.contains(s) { hits.append(name) } }
        return hits
    }
}
