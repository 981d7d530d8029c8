import Foundation
@testable import RampartAlerts
import RampartCrypto
@testable import RampartHTTPClient
import XCTest

/// The bodies each contact point type sends, the webhook signature and the Alertmanager fingerprint.
final class PayloadTests: XCTestCase {
    static func notification(status: AlertNotification.Status = .firing) -> AlertNotification {
        let labels = ["alertname": "node-down", "node": "127.0.0.1:19099", "rule": "default/node-down", "severity": "warning", "team": "payments", "upstream": "default/up"]
        return AlertNotification(status: status, event: status == .firing ? .firing : .resolved, isTest: false, rule: "default/node-down", ruleName: "node-down",
                                 severity: "warning", labels: labels, subject: ["upstream": "default/up", "node": "127.0.0.1:19099"],
                                 message: "node \"a\" is down\n", startsAt: 1_796_142_992, endsAt: status == .resolved ? 1_796_143_000 : 1_796_143_232,
                                 fingerprint: AlertNotification.fingerprint(labels), facts: ["value": "unhealthy"], generatorURL: "http://127.0.0.1:9180/api/v1/alerts")
    }

    func testFingerprintIsAlertmanagers() {
        // Read back from a real Alertmanager 0.25 given this label set.
        XCTAssertEqual(Self.notification().fingerprint, "97bc3474dd33146a")
        XCTAssertEqual(AlertNotification.fingerprint([:]).count, 16)
    }

    func testSignatureCoversTimestampAndBody() {
        let sign: HMACSHA256 = { HMAC.sha256(key: $0, message: $1) }
        // python3: hmac.new(b"key-1", b"1700000000." + b'{"a":1}', hashlib.sha256).hexdigest()
        XCTAssertEqual(WebhookPayload.signature(body: Array("{\"a\":1}".utf8), timestamp: "1700000000", key: Array("key-1".utf8), hmac: sign),
                       "sha256=ca774bf7b74ca4375d684b2d75b40c0aeb85d75cc80c8dda64740a2aff020088")
        XCTAssertNotEqual(WebhookPayload.signature(body: Array("{\"a\":1}".utf8), timestamp: "1700000001", key: Array("key-1".utf8), hmac: sign),
                          WebhookPayload.signature(body: Array("{\"a\":1}".utf8), timestamp: "1700000000", key: Array("key-1".utf8), hmac: sign),
                          "a replayed body with a new timestamp needs a new signature")
    }

    func testWebhookRequest() throws {
        let cp = try ContactPointConfig(id: "default/hook", kind: "webhook", url: "https://hooks.example/x", headers: [(name: "Authorization", value: "Bearer t")],
                                        hmacSecret: Array("key-1".utf8), timeoutMs: 1500)
        let req = ContactPointRequest.make(Self.notification(), for: cp, now: 1_700_000_000.7, hmac: { HMAC.sha256(key: $0, message: $1) })
        XCTAssertEqual(req.method, "POST")
        XCTAssertEqual(req.timeoutMs, 1500)
        let headers = Dictionary(req.headers.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(headers["X-Rampart-Timestamp"], "1700000000")
        XCTAssertEqual(headers["X-Rampart-Signature"], "sha256=" + Hex.encode(HMAC.sha256(key: Array("key-1".utf8), message: Array("1700000000.".utf8) + req.body)))
        XCTAssertEqual(headers["Authorization"], "Bearer t")
        let body = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(req.body)) as? [String: Any])
        XCTAssertEqual(Set(body.keys), ["version", "status", "rule", "severity", "labels", "subject", "facts", "message", "startsAt", "endsAt", "fingerprint", "test", "repeat"])
        XCTAssertEqual(body["status"] as? String, "firing")
        XCTAssertEqual(body["message"] as? String, "node \"a\" is down\n", "escaped, not broken")
        XCTAssertTrue(body["endsAt"] is NSNull)
        XCTAssertEqual(body["startsAt"] as? String, "2026-12-01T16:36:32Z")
        XCTAssertFalse(cp.description.contains("Bearer t") || cp.description.contains("key-1"), "a contact point prints no secret: \(cp)")
    }

    func testAlertmanagerBody() throws {
        XCTAssertEqual(AlertmanagerPayload.endpoint("http://am:9093/"), "http://am:9093/api/v2/alerts")
        let firing = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(AlertmanagerPayload.body([Self.notification()], now: 0))) as? [[String: Any]])
        XCTAssertEqual(firing.count, 1)
        let a = firing[0]
        XCTAssertEqual(a["labels"] as? [String: String], Self.notification().labels)
        XCTAssertEqual((a["annotations"] as? [String: String])?["summary"], "node \"a\" is down\n")
        XCTAssertEqual(a["startsAt"] as? String, "2026-12-01T16:36:32Z")
        XCTAssertEqual(a["endsAt"] as? String, "2026-12-01T16:40:32Z", "a firing alert ends unless re-posted")
        XCTAssertEqual(a["generatorURL"] as? String, "http://127.0.0.1:9180/api/v1/alerts")
        let resolved = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(AlertmanagerPayload.body([Self.notification(status: .resolved)], now: 0))) as? [[String: Any]])
        XCTAssertEqual(resolved[0]["endsAt"] as? String, "2026-12-01T16:36:40Z")
    }

    func testSlackColourBySeverity() throws {
        var n = Self.notification()
        let body = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(SlackPayload.body(n))) as? [String: Any])
        let attachment = try XCTUnwrap((body["attachments"] as? [[String: Any]])?.first)
        XCTAssertEqual(attachment["color"] as? String, "#ecb22e")
        XCTAssertTrue((body["text"] as? String)?.hasPrefix("[FIRING] default/node-down (warning)") ?? false)
        n.severity = "critical"
        XCTAssertEqual(SlackPayload.colour(n), "#e01e5a")
        n.severity = "info"
        XCTAssertEqual(SlackPayload.colour(n), "#36c5f0")
        n.status = .resolved
        XCTAssertEqual(SlackPayload.colour(n), "#2eb67d")
        // A fact cannot mention @channel or forge a link.
        n.message = "vault said <!channel> <https://evil.example|click> & more"
        let text = String(decoding: SlackPayload.body(n), as: UTF8.self)
        XCTAssertFalse(text.contains("<!channel>") || text.contains("<https://"), text)
        XCTAssertTrue(text.contains("&lt;!channel&gt;"), text)
    }

    func testHeaderValueWithLineBreakIsRefusedWithoutShowingIt() {
        XCTAssertThrowsError(try ContactPointConfig(id: "default/c", kind: "webhook", url: "http://x/", headers: [(name: "Authorization", value: "t0p\r\nX-Evil: 1")],
                                                    hmacSecret: nil, timeoutMs: 1000)) { e in
            XCTAssertTrue("\(e)".contains("spec.headers.Authorization"))
            XCTAssertFalse("\(e)".contains("t0p"), "the error never shows the value")
        }
    }
}
