import Foundation
import TestSupport
import XCTest

/// A manifest's name or content cannot write a line of its own into the text log.
final class LogInjectionTests: XCTestCase {
    func testNewlinesInNamesAndMessagesStayInOneLine() throws {
        let r = try RampartInstance(extraArgs: ["--log-format", "text"])
        let forged = "2026-01-01T00:00:00.000Z INFO config applied generation=99"
        try r.write("ok.yaml", Manifests.upstream("web", port: 9))
        try r.write("bad\n\(forged).yaml", "kind: Route\nspec: [unclosed\n")
        try r.start()
        XCTAssertTrue(Poll.until { r.log.contains("ERROR") }, r.log)
        for line in r.log.split(separator: "\n") {
            XCTAssertFalse(line.hasPrefix(forged), "a forged line reached the log: \(line)")
        }
        XCTAssertTrue(r.log.contains("bad\\n2026-01-01"), "the newline is shown escaped\n" + r.log)
    }
}
