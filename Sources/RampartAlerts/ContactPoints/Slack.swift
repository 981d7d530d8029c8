import RampartModel

/// A Slack incoming-webhook message: the text plus one attachment coloured by severity (green when resolved).
public enum SlackPayload {
    public static func colour(_ n: AlertNotification) -> String {
        if n.status == .resolved { return "#2eb67d" }
        switch n.severity {
        case "critical": return "#e01e5a"
        case "warning": return "#ecb22e"
        default: return "#36c5f0"
        }
    }

    public static func body(_ n: AlertNotification) -> [UInt8] {
        let title = "[\(n.isTest ? "TEST " : "")\(n.status.rawValue.uppercased())] \(n.rule) (\(n.severity))"
        var attachment = JSONObject()
        attachment.string("color", colour(n))
        attachment.string("title", title)
        attachment.string("text", n.message)
        attachment.string("fallback", title + ": " + n.message)
        let fields = n.subject.keys.sorted().map { k in "{\"title\":\(JSONWriter.quote(k)),\"value\":\(JSONWriter.quote(n.subject[k] ?? "")),\"short\":true}" }
        attachment.raw("fields", "[" + fields.joined(separator: ",") + "]")
        var o = JSONObject()
        o.string("text", title + ": " + n.message)
        o.raw("attachments", "[" + attachment.text + "]")
        return Array(o.text.utf8)
    }
}
