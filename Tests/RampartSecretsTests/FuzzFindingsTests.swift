import Foundation
@testable import RampartSecrets
import XCTest

/// Inputs the fuzz targets (Fuzz/) found, each kept as a regression test beside the code it broke.
final class FuzzFindingsTests: XCTestCase {
    private func stsReply(expiration: String) -> [UInt8] {
        Array(("<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
            + "<AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s/k</SecretAccessKey><SessionToken>t</SessionToken>"
            + "<Expiration>\(expiration)</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>").utf8)
    }

    /// FuzzSecretResponses crash-6f11d0cb: an STS reply whose Expiration had a 120-digit fraction made ICU's
    /// fractional-second parser divide by zero (SIGFPE), killing the process that refreshes credentials.
    func testALongFractionInAnSTSExpirationIsRefusedNotFatal() throws {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let hostile = "2026-11-29T07:31:32.0" + String(repeating: "7", count: 120) + "95703\u{07}"
        let creds = try AWSSecretsManagerProvider.decodeAssumeRole(status: 200, body: stsReply(expiration: hostile), ref: "r", now: now)
        XCTAssertEqual(creds.expiration, now.addingTimeInterval(3600), "an unreadable expiry falls back to an hour")
        let longFraction = "2026-11-29T07:31:32." + String(repeating: "7", count: 120) + "Z"
        XCTAssertNil(AWSSecretsManagerProvider.parseISO8601(longFraction))
    }

    func testSTSExpiryFormsThatAreRead() {
        let expected = Date(timeIntervalSince1970: 1_795_937_492)  // 2026-11-29T07:31:32Z
        for text in ["2026-11-29T07:31:32Z", "2026-11-29T07:31:32.095Z", "2026-11-29T07:31:32.095703Z", "2026-11-29T08:31:32+01:00",
                     "2026-11-29T07:31:32.123456789Z"] {
            XCTAssertEqual(AWSSecretsManagerProvider.parseISO8601(text), expected, text)
        }
        for text in ["", "2026-11-29", "2026-11-29T07:31:32", "2026-11-29T07:31:32.Z", "2026-11-29T07:31:32.0123456789Z",
                     "2026-11-29T07:31:32Zjunk", "2026-11-29 07:31:32Z", "２026-11-29T07:31:32Z"] {
            XCTAssertNil(AWSSecretsManagerProvider.parseISO8601(text), text)
        }
    }

    /// FuzzSecretResponses finding: the JSON text of an object secret came out in another key order on
    /// another decode (corelibs' `.sortedKeys`), so an unchanged secret could look rotated.
    func testAnObjectSecretReadsTheSameEveryTime() throws {
        let body = try XCTUnwrap(Data(base64Encoded: "eyJyZXF1ZXN0X2lkIjogInIiLCAibF9hc2VfZHVyYXRpb24iOiAwLCAiZGF0YSI6IHsiZGF0YSI6IHsicGFzc3dvcmQiOiAicHciLCAicG9yU3dvcmQ/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8jIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjb3JkIjogInB3IiwgInBvclN3b3JkPz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/IyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjI3IiOiAxLCAiZGF0YSI6IHsiZGF0YSI6IHsicGE3Nzc3Nzc3N2Rlc3Ryb3llZCI6IGZhbHNlfX0sICJ3cnBfaW5mb1YiOiBudWxsLCAid2FybmluZ3MiOiBudWxsLCAiNzc3Nzc3Nzc3b24iOiAzLCAiLS0ta2Vyc05hcnJvaW5ncyI6IG51bGwsICJuZ3MiOiBudWxsLCAiNzc3Nzd5ZWQiOiBmYWxzZX19LCAid3JwX2luZm8iOiBudWxsLCAid2FybmluZ3MiOiBudWxsLCAiYXV0aCI6IG51bGx9"))
        var texts = Set<String>()
        for _ in 0..<50 {
            guard let fetched = try? VaultProvider.decodeRead(status: 200, body: Array(body), kvVersion: 2, path: "p", ref: "r") else { continue }
            texts.insert(try fetched.value.value(key: nil))
        }
        XCTAssertLessThanOrEqual(texts.count, 1, texts.sorted().joined(separator: "\n"))
        let nested: [String: Any] = ["b": 1, "B": ["z": true, "a": NSNull()], "a\u{e9}": "x", "a": [2, "y"]]
        let once = JSONText.fieldString(nested)
        XCTAssertEqual(once, "{\"B\":{\"a\":null,\"z\":true},\"a\":[2,\"y\"],\"a\u{e9}\":\"x\",\"b\":1}")
        for _ in 0..<20 { XCTAssertEqual(JSONText.fieldString(nested), once) }
    }
}
