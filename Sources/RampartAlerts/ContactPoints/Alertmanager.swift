/// Alertmanager's `POST /api/v2/alerts`: a JSON array of alerts identified by their label set.
/// A firing alert is re-posted (refresh) before its `endsAt`, as Prometheus does, and resolved by
/// posting the same labels with `endsAt` = now.
public enum AlertmanagerPayload {
    /// A firing alert's `endsAt` is this many refresh periods ahead: Alertmanager ends it if Rampart goes away.
    public static let endsAfterRefreshes = 4.0

    public static func endpoint(_ base: String) -> String {
        var b = base
        while b.hasSuffix("/") { b.removeLast() }
        return b + "/api/v2/alerts"
    }

    public static func body(_ alerts: [AlertNotification], now: Double) -> [UInt8] {
        Array(("[" + alerts.map { n in
            var o = JSONObject()
            o.map("labels", n.labels)
            o.map("annotations", ["summary": n.message, "rule": n.rule])
            o.string("startsAt", Format.time(n.startsAt))
            if let end = n.endsAt { o.string("endsAt", Format.time(end)) }
            o.string("generatorURL", n.generatorURL)
            return o.text
        }.joined(separator: ",") + "]").utf8)
    }
}
