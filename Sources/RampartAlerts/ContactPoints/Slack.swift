import Foundation
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

    /// Slack's control characters escaped (its docs: `&`, `<`, `>`), so a fact such as a store's error
    /// text cannot write `<!channel>` or a link of its own into the message.
    public static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    public static func body(_ n: AlertNotification) -> [UInt8] {
        let title = escape("[\(n.isTest ? "TEST " : "")\(n.status.rawValue.uppercased())] \(n.rule) (\(n.severity))")
        let message = escape(n.message)
        var attachment = JSONObject()
        attachment.string("color", colour(n))
        attachment.string("title", title)
        attachment.string("text", message)
        attachment.string("fallback", title + ": " + message)
        let fields = n.subject.keys.sorted().map { k in "{\"title\":\(JSONWriter.quote(escape(k))),\"value\":\(JSONWriter.quote(escape(n.subject[k] ?? ""))),\"short\":true}" }
        attachment.raw("fields", "[" + fields.joined(separator: ",") + "]")
        var o = JSONObject()
        o.string("text", title + ": " + message)
        o.raw("attachments", "[" + attachment.text + "]")
        return Array(o.text.utf8)
    }
}
