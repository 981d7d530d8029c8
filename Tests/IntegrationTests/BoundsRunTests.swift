import Foundation
import TestSupport
import XCTest

/// Out-of-range numbers end to end: the real binary refuses them with the field or flag named, never traps.
final class BoundsRunTests: XCTestCase {
    static let huge = "106751991167d25975807ms"

    func served(_ r: RampartInstance, _ path: String, contains text: String) -> Bool {
        Poll.until { Curl.get(r.url + path)?.body.contains(text) ?? false }
    }

    /// The reproduced crash: this timeout validated, was stored in state.json and trapped the first
    /// request and every restart. Now it is refused, named, and the last good Route keeps serving.
    func testReproducedTimeoutIsRejectedAndTheOldConfigKeepsServing() throws {
        let up = try TestUpstream(name: "up")
        let r = try RampartInstance()
        try r.write("a.yaml", Manifests.upstream("web", port: up.port) + "---\n"
            + Manifests.route("slow", paths: ["/slow"], upstream: "web", extra: "  timeout: {read: 2s}\n") + "---\n"
            + Manifests.route("other", paths: ["/other"], upstream: "web"))
        try r.start()
        XCTAssertTrue(r.waitReady(), r.log)
        XCTAssertTrue(served(r, "/slow", contains: "\"server\": \"up\""), r.log)

        let bad = Manifests.route("slow", paths: ["/slow"], upstream: "web", extra: "  timeout: {read: \(Self.huge)}\n")
        let validate = try Command.rampart(["validate", "-"], stdin: bad)
        XCTAssertEqual(validate.code, 1)
        XCTAssertEqual(validate.stdout, "<stdin>:7:19: error: Route default/slow: spec.timeout.read: \"\(Self.huge)\" exceeds the maximum 1h\n")

        try r.write("a.yaml", Manifests.upstream("web", port: up.port) + "---\n" + bad + "---\n" + Manifests.route("other", paths: ["/other"], upstream: "web"))
        let message = "spec.timeout.read: \\\"\(Self.huge)\\\" exceeds the maximum 1h"
        XCTAssertTrue(Poll.until { r.api("/api/v1/status")?.body.contains(message) ?? false }, r.api("/api/v1/status")?.body ?? "")
        for _ in 0..<3 { XCTAssertEqual(Curl.get(r.url + "/slow")?.status, 200, r.log) }
        XCTAssertTrue(r.process?.process.isRunning ?? false, r.log)
        XCTAssertEqual(r.stop(), 0, r.log)

        // A state.json that holds the value (written before the bound existed) is read without it,
        // and the next start serves the rest instead of crashing on the first request.
        let statePath = r.stateDir + "/state.json"
        let state = try String(contentsOfFile: statePath, encoding: .utf8)
        XCTAssertTrue(state.contains("\"read\":\"2s\""), state)
        try state.replacingOccurrences(of: "\"read\":\"2s\"", with: "\"read\":\"\(Self.huge)\"").write(toFile: statePath, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: r.manifests)
        let again = try RampartInstance(manifests: r.manifests, stateDir: r.stateDir)
        try again.start()
        XCTAssertTrue(again.waitReady(), again.log)
        XCTAssertTrue(served(again, "/other", contains: "\"server\": \"up\""), again.log)
        XCTAssertEqual(Curl.get(again.url + "/slow")?.status, 404, "the out-of-range Route is not served")
        XCTAssertEqual(Curl.get(again.url + "/other")?.status, 200)
        XCTAssertTrue(again.process?.process.isRunning ?? false, again.log)
        XCTAssertEqual(again.stop(), 0, again.log)
    }

    /// Every numeric flag of `rampart run`: out of range or unparsable is a usage error naming the flag and its bound.
    func testRunFlagsOutOfRangeExitTwoNamingTheBound() throws {
        let state = try TempDir.make("bounds-flags")
        let cases: [([String], String)] = [
            (["--max-header-bytes", "2Gi"], "--max-header-bytes: \"2Gi\" exceeds the maximum 1Mi (allowed: 1Ki to 1Mi)"),
            (["--max-header-bytes", "99999999999Ti"], "--max-header-bytes: \"99999999999Ti\" is not a size"),
            (["--max-header-bytes", "512"], "--max-header-bytes: \"512\" is below the minimum 1Ki"),
            (["--max-connections", "123456789012345678901234567890"], "--max-connections: \"123456789012345678901234567890\" exceeds the maximum 1000000"),
            (["--max-connections", "-1"], "--max-connections: \"-1\" is not a whole number"),
            (["--workers", "0"], "--workers: \"0\" is below the minimum 1 (allowed: 1 to 256)"),
            (["--workers", "+4"], "--workers: \"+4\" is not a whole number"),
            (["--debounce", Self.huge], "--debounce: \"\(Self.huge)\" exceeds the maximum 1h"),
            (["--drain-timeout", "9223372036854775807ms"], "--drain-timeout: \"9223372036854775807ms\" exceeds the maximum 1h"),
            (["--source", "git", "--git-url", "file:///nonexistent", "--git-interval", "10ms"], "--git-interval: \"10ms\" is below the minimum 100ms"),
        ]
        for (flags, want) in cases {
            let r = try Command.rampart(["run", "--state-dir", state + "/s", "--admin-tls", "off"] + flags)
            XCTAssertEqual(r.code, 2, "\(flags): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(want), "\(flags): \(r.stderr)")
        }
        // The environment form goes through the same check.
        let env = try Command.rampart(["run", "--state-dir", state + "/s"], env: ["RAMPART_MAX_HEADER_BYTES": "2Gi"])
        XCTAssertEqual(env.code, 2, env.stderr)
        XCTAssertTrue(env.stderr.contains("--max-header-bytes: \"2Gi\" exceeds the maximum 1Mi"), env.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: state + "/s"), "refused before anything is written")

        let hash = try Command.rampart(["hash-password", "--iterations", "lots"], stdin: "x\n")
        XCTAssertEqual(hash.code, 2, "a mistyped --iterations is refused, not replaced by the default")
    }
}
