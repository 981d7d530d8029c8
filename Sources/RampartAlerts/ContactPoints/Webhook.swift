/// The webhook body (README "Monitoring and alerts"): one JSON object per notification, keys in byte order.
///
/// `{"endsAt","facts","fingerprint","labels","message","rule","severity","startsAt","status","subject","test","version"}`;
/// signed as `X-Rampart-Signature: sha256=HEX(HMAC-SHA256(hmacSecret, TIMESTAMP + "." + BODY))` with
/// `X-Rampart-Timestamp: TIMESTAMP` (Unix seconds), so a replayed body carries a stale timestamp.
public enum WebhookPayload {
    public static let version = "1"

    public static func body(_ n: AlertNotification) -> [UInt8] {
        var o = JSONObject()
        o.string("version", version)
        o.string("status", n.status.rawValue)
        o.string("rule", n.rule)
        o.string("severity", n.severity)
        o.map("labels", n.labels)
        o.map("subject", n.subject)
        o.map("facts", n.facts)
        o.string("message", n.message)
        o.string("startsAt", Format.time(n.startsAt))
        o.raw("endsAt", n.status == .resolved ? "\"\(n.endsAt.map(Format.time) ?? "")\"" : "null")
        o.string("fingerprint", n.fingerprint)
        o.raw("test", n.isTest ? "true" : "false")
        // A takeover may repeat what the old leader sent: the receiver keys on the fingerprint.
        o.raw("repeat", n.event == .repeating || n.event == .takeover ? "true" : "false")
        return Array(o.text.utf8)
    }

    /// `sha256=HEX` of HMAC-SHA256 over `TIMESTAMP.BODY`.
    public static func signature(body: [UInt8], timestamp: String, key: [UInt8], hmac: HMACSHA256) -> String {
        let mac = hmac(key, Array(timestamp.utf8) + [UInt8(ascii: ".")] + body)
        let digits = Array("0123456789abcdef".utf8)
        return "sha256=" + String(decoding: mac.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }
}
