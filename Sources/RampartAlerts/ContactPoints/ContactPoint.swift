import RampartHTTPClient
import RampartModel

/// A ContactPoint as delivery uses it, its sensitive values resolved. Printing it shows no value.
public struct ContactPointConfig: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case webhook, alertmanager, slack
    }

    /// `NAMESPACE/NAME`.
    public var id: String
    public var kind: Kind
    public var url: String
    /// Extra headers, values resolved (sensitive).
    public var headers: [(name: String, value: String)]
    /// The webhook's signing key (sensitive).
    public var hmacSecret: [UInt8]?
    public var timeoutMs: Int

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public init(id: String, kind: String, url: String, headers: [(name: String, value: String)], hmacSecret: [UInt8]?, timeoutMs: Int) throws(Invalid) {
        guard let k = Kind(rawValue: kind) else { throw Invalid(description: "ContactPoint \(id) spec.type: \(kind) is not webhook, alertmanager or slack") }
        for h in headers where h.value.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) {
            // Said without the value: it is a secret, and a line break in it would add headers of its own.
            throw Invalid(description: "ContactPoint \(id) spec.headers.\(h.name): the value holds a line break or NUL; the contact point is not used")
        }
        self.id = id
        self.kind = k
        self.url = url
        self.headers = headers
        self.hmacSecret = hmacSecret
        self.timeoutMs = timeoutMs
    }

    public var description: String { "ContactPoint(\(id), \(kind.rawValue), headers: \(headers.map { "\($0.name): ***" }), hmacSecret: \(hmacSecret == nil ? "none" : "***"))" }

    public static func == (a: Self, b: Self) -> Bool {
        a.id == b.id && a.kind == b.kind && a.url == b.url && a.timeoutMs == b.timeoutMs && a.hmacSecret == b.hmacSecret
            && a.headers.map(\.name) == b.headers.map(\.name) && a.headers.map(\.value) == b.headers.map(\.value)
    }

    /// Whether this contact point takes the event: Alertmanager alone is re-sent firing alerts between notifications.
    func takes(_ event: AlertEvent) -> Bool { event != .refresh || kind == .alertmanager }
}

/// HMAC-SHA256 (key, message) → 32 bytes: given by the caller (RampartCrypto), as this module links no crypto.
public typealias HMACSHA256 = @Sendable (_ key: [UInt8], _ message: [UInt8]) -> [UInt8]

/// Builds the HTTP request of a notification for a contact point.
public enum ContactPointRequest {
    /// `now`: Unix seconds, the webhook's signed timestamp.
    public static func make(_ n: AlertNotification, for cp: ContactPointConfig, now: Double, hmac: HMACSHA256) -> HTTPRequest {
        var headers: [(String, String)] = [("Content-Type", "application/json"), ("User-Agent", "rampart-alerts")]
        let url: String
        let body: [UInt8]
        switch cp.kind {
        case .webhook:
            url = cp.url
            body = WebhookPayload.body(n)
            let timestamp = String(Int(now))
            headers.append(("X-Rampart-Timestamp", timestamp))
            if let key = cp.hmacSecret { headers.append(("X-Rampart-Signature", WebhookPayload.signature(body: body, timestamp: timestamp, key: key, hmac: hmac))) }
        case .alertmanager:
            url = AlertmanagerPayload.endpoint(cp.url)
            body = AlertmanagerPayload.body([n], now: now)
        case .slack:
            url = cp.url
            body = SlackPayload.body(n)
        }
        for h in cp.headers { headers.append((h.name, h.value)) }
        return HTTPRequest(method: "POST", url: url, headers: headers, body: body, timeoutMs: cp.timeoutMs)
    }
}

/// A small JSON object writer with keys in byte order (so equal notifications are equal bytes).
struct JSONObject {
    private var members: [(String, String)] = []

    mutating func string(_ key: String, _ value: String) { members.append((key, JSONWriter.quote(value))) }
    mutating func raw(_ key: String, _ json: String) { members.append((key, json)) }
    mutating func map(_ key: String, _ value: [String: String]) { members.append((key, Self.map(value))) }

    static func map(_ value: [String: String]) -> String {
        "{" + value.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }.map { "\(JSONWriter.quote($0)):\(JSONWriter.quote(value[$0] ?? ""))" }
            .joined(separator: ",") + "}"
    }

    var text: String {
        "{" + members.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }.map { "\(JSONWriter.quote($0.0)):\($0.1)" }
            .joined(separator: ",") + "}"
    }
}
