import Foundation
import TestSupport
import XCTest

/// Every raw request of Tests/Differential/corpus.txt through nginx and the real `rampart run`:
/// Rampart refuses what nginx refuses, and the upstream sees the same requests and bodies from both.
final class DifferentialTests: XCTestCase {
    let directory = PackagePaths.root.appendingPathComponent("Tests/Differential").path
    let python = ["PYTHONDONTWRITEBYTECODE": "1"]

    /// The harness can fail: its recorder splits like a lenient backend and each branch of the rule fires.
    func testHarnessRecorderAndRuleDetectViolations() throws {
        let run = try Command.run("/usr/bin/env", ["python3", "-m", "unittest", "discover", "-s", directory, "-p", "test_*.py"],
                                  env: python, timeout: 120)
        XCTAssertEqual(run.code, 0, run.stderr)
    }

    func testRampartIsAtLeastAsStrictAsNginxOnEveryCorpusCase() throws {
        // Not skipped when nginx is missing: `make test-deps` installs it, so its absence is a broken setup.
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        guard let nginx else {
            XCTFail("nginx is not installed: run `make test-deps` (it installs nginx-light); the differential tests need it")
            return
        }
        let driver = directory + "/driver.py"
        let table = try TempDir.make("differential") + "/differential.md"
        defer { try? FileManager.default.removeItem(atPath: (table as NSString).deletingLastPathComponent) }
        let run = try Command.run("/usr/bin/env", ["python3", driver, "--rampart", PackagePaths.rampart,
                                                   "--nginx", nginx, "--out", table], env: python, timeout: 900)
        let violations = run.stderr.split(separator: "\n").filter { $0.hasPrefix("VIOLATION ") }.joined(separator: "\n")
        XCTAssertEqual(run.code, 0, violations.isEmpty ? "driver failed:\n\(run.stderr)" : "violations:\n\(violations)")

        // The rule must have been checked on the whole corpus, not on a truncated or empty one.
        let summary = run.stdout.split(separator: "\n").last { $0.hasSuffix("violation(s).") } ?? ""
        let cases = Int(summary.split(separator: " ").first ?? "") ?? 0
        XCTAssertGreaterThanOrEqual(cases, 150, "the corpus ran \(cases) cases: \(summary)")
    }
}
