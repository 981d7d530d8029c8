import Foundation
import RampartCrypto
import Synchronization
@testable import RampartController
import XCTest

/// The admin token check's caches and PBKDF2 budget.
final class AdminAuthTests: XCTestCase {
    func auth(_ budget: AdminAuth.Budget = AdminAuth.Budget()) throws -> AdminAuth {
        AdminAuth(hashes: [try PasswordHash.parse(try PasswordHash.make(password: "the-token", iterations: 1000))], budget: budget)
    }

    func verifications(_ a: AdminAuth) -> Int {
        let line = a.metricsText().split(separator: "\n").first { $0.hasPrefix("rampart_admin_token_verifications_total ") }
        return Int(line?.split(separator: " ").last ?? "") ?? -1
    }

    func testRefusedAndVerifiedTokensAreRemembered() throws {
        let a = try auth()
        XCTAssertEqual(a.check(authorization: "Bearer wrong", client: "10.0.0.1"), .denied)
        XCTAssertEqual(a.check(authorization: "Bearer wrong", client: "10.0.0.1"), .denied)
        XCTAssertEqual(verifications(a), 1, "a repeated wrong token runs no PBKDF2")
        XCTAssertEqual(a.check(authorization: "Bearer the-token", client: "10.0.0.1"), .allowed)
        XCTAssertEqual(a.check(authorization: "Bearer the-token", client: "10.0.0.1"), .allowed)
        XCTAssertEqual(verifications(a), 2)
        XCTAssertEqual(a.check(authorization: "Basic the-token"), .denied)
        XCTAssertEqual(a.check(authorization: nil), .denied)
        XCTAssertEqual(a.check(authorization: "Bearer " + String(repeating: "x", count: 600)), .denied)
        XCTAssertEqual(verifications(a), 2, "malformed headers cost nothing")
    }

    func testNewTokensPastAClientsBudgetWaitAndOtherClientsKeepTheirShare() throws {
        var b = AdminAuth.Budget()
        b.perClientBurst = 2
        b.perClientPerSecond = 0.001
        let a = try auth(b)
        XCTAssertEqual(a.check(authorization: "Bearer guess-1", client: "10.0.0.1"), .denied)
        XCTAssertEqual(a.check(authorization: "Bearer guess-2", client: "10.0.0.1"), .denied)
        XCTAssertEqual(a.check(authorization: "Bearer guess-3", client: "10.0.0.1"), .retryLater(seconds: 1))
        XCTAssertEqual(a.check(authorization: "Bearer the-token", client: "10.0.0.1"), .retryLater(seconds: 1))
        XCTAssertEqual(a.check(authorization: "Bearer guess-1", client: "10.0.0.1"), .denied, "a remembered refusal needs no budget")
        XCTAssertEqual(a.check(authorization: "Bearer the-token", client: "10.0.0.2"), .allowed)
        XCTAssertEqual(a.check(authorization: "Bearer the-token", client: "10.0.0.1"), .allowed, "a verified token needs no budget")
    }

    func testConcurrentVerificationsAreCapped() throws {
        var b = AdminAuth.Budget()
        b.concurrent = 1
        // About a second of PBKDF2, so that the second check comes while the first runs.
        let a = AdminAuth(hashes: [try PasswordHash.parse(try PasswordHash.make(password: "t", iterations: 2_000_000))], budget: b)
        let first = Mutex<AdminAuth.Decision?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let d = a.check(authorization: "Bearer guess-1", client: "10.0.0.1")
            first.withLock { $0 = d }
            done.signal()
        }
        let deadline = Date().addingTimeInterval(10)
        while verifications(a) == 0 && Date() < deadline { usleep(1000) }
        XCTAssertEqual(a.check(authorization: "Bearer guess-2", client: "10.0.0.2"), .retryLater(seconds: 1),
                       "one verification at a time: another client waits")
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(first.withLock { $0 }, .denied)
        XCTAssertEqual(a.check(authorization: "Bearer guess-2", client: "10.0.0.2"), .denied, "and gets its turn after")
    }
}
