import Foundation
import RampartModel
import RampartSecrets
import XCTest

/// A settable clock for providers and the resolver.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var t: Date
    init(_ t: Date = Date(timeIntervalSince1970: 1_800_000_000)) { self.t = t }
    var now: Date {
        get { lock.withLock { t } }
        set { lock.withLock { t = newValue } }
    }
    func advance(_ s: TimeInterval) { lock.withLock { t = t.addingTimeInterval(s) } }
    var fn: @Sendable () -> Date { { [self] in self.now } }
}

/// Resolves inline `{value: ...}` sensitives as the controller would; anything else fails.
let inlineResolver: SensitiveResolver = { s in
    if case .inline(let v) = s.source { return v }
    throw SecretError(.config, ref: "", "test resolver: only inline values")
}

/// The SecretScan assertion: no plaintext secret appears in any of the texts (error descriptions, printed values).
func assertNoSecrets(_ texts: [String], _ secrets: [String], file: StaticString = #filePath, line: UInt = #line) {
    for t in texts {
        for s in secrets where !s.isEmpty {
            XCTAssertFalse(t.contains(s), "a secret leaked into: \(t.replacingOccurrences(of: s, with: "<LEAKED>"))", file: file, line: line)
        }
    }
}

/// Every way a value is commonly printed.
func renderings(_ v: Any) -> [String] {
    var out = [String(describing: v), String(reflecting: v)]
    var dumped = ""
    dump(v, to: &dumped)
    out.append(dumped)
    return out
}

/// The error a throwing call produced, as a SecretError (fails the test when it did not throw).
func secretError<T>(_ body: () throws -> T, file: StaticString = #filePath, line: UInt = #line) -> SecretError? {
    do {
        _ = try body()
        XCTFail("expected an error", file: file, line: line)
        return nil
    } catch let e as SecretError {
        return e
    } catch {
        XCTFail("not a SecretError: \(error)", file: file, line: line)
        return nil
    }
}
