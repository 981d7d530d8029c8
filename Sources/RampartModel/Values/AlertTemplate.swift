/// An AlertRule's `message`: text with `{{name}}` placeholders, parsed once here for validation and rendering.
public struct MessageTemplate: Sendable, Hashable {
    public enum Part: Sendable, Hashable {
        case text(String)
        case placeholder(String)
    }

    public let parts: [Part]

    /// Why a message is refused.
    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// `{{ name }}` (spaces allowed inside the braces); a `{{` without its `}}` or an empty or
    /// non-identifier name is refused, so a typo never reaches an operator's pager as raw braces.
    public init(_ text: String) throws(Invalid) {
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.firstRange(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.text(String(rest[..<open.lowerBound]))) }
            let after = rest[open.upperBound...]
            guard let close = after.firstRange(of: "}}") else { throw Invalid(description: "\"{{\" without its closing \"}}\"") }
            let name = after[..<close.lowerBound].trimmingSpaces()
            guard Self.isName(name) else { throw Invalid(description: "\"{{\(after[..<close.lowerBound])}}\" is not a placeholder name (letters, digits, _)") }
            parts.append(.placeholder(String(name)))
            rest = after[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        self.parts = parts
    }

    public var placeholders: [String] {
        parts.compactMap { if case .placeholder(let n) = $0 { return n }; return nil }
    }

    /// The text with each placeholder replaced by its fact; a fact the condition did not give reads as empty.
    public func render(_ facts: [String: String]) -> String {
        parts.map { part in
            switch part {
            case .text(let t): return t
            case .placeholder(let n): return facts[n] ?? ""
            }
        }.joined()
    }

    static func isName(_ s: Substring) -> Bool {
        guard let first = s.utf8.first, !(first >= 48 && first <= 57) else { return false }
        return s.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "_") }
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}

extension AlertConditionType {
    /// Facts every condition gives a message.
    public static let commonPlaceholders = ["rule", "severity", "value", "threshold", "state"]

    /// The facts a condition of this type publishes, by name: what `{{name}}` may use (the engine's
    /// conditions give exactly these; a unit test holds them to it).
    public var placeholders: [String] {
        let own: [String] = switch self {
        case .certificateExpiry: ["sni", "certificate", "notAfter", "remaining"]
        case .upstreamUnhealthy: ["upstream", "node", "unhealthy", "nodes"]
        case .instanceOffline: ["peer", "lastSeen", "offlineFor", "error"]
        case .errorRate: ["route", "ratio", "percent", "requests", "errors", "window"]
        case .latency: ["route", "p99", "requests", "window"]
        case .cpuQuota: ["usage", "limit", "cgroup"]
        case .memoryQuota: ["usage", "current", "max", "cgroup"]
        case .reloadFailed: ["errors", "error", "failedReloads"]
        case .secretResolutionFailed: ["secretRef", "provider", "error", "failures"]
        }
        return Self.commonPlaceholders + own
    }

    /// The threshold when a rule gives none, as it would be written.
    public var defaultThreshold: String {
        switch self {
        case .certificateExpiry: "14d"
        case .instanceOffline: "30s"
        case .errorRate: "0.05"
        case .latency: "1s"
        case .cpuQuota, .memoryQuota: "90"
        case .upstreamUnhealthy, .reloadFailed, .secretResolutionFailed: "0"
        }
    }

    /// The threshold as a number: seconds for durations, a ratio, a percentage or a count; the one
    /// parser for validation and evaluation.
    public func threshold(_ text: String?) -> Result<Double, MessageTemplate.Invalid> {
        let text = text ?? defaultThreshold
        switch self {
        case .certificateExpiry, .instanceOffline, .latency:
            let range = switch self {
            case .certificateExpiry: Bounds.certificateExpiryThreshold
            case .instanceOffline: Bounds.instanceOfflineThreshold
            default: Bounds.latencyThreshold
            }
            switch Values.check(text, .duration, in: range) {
            case .success(let ms): return .success(Double(ms) / 1000)
            case .failure(let e): return .failure(.init(description: e.description))
            }
        case .errorRate:
            guard let v = Double(text), v >= 0, v <= 1 else { return .failure(.init(description: "\(text) is not a ratio (0..1)")) }
            return .success(v)
        case .cpuQuota, .memoryQuota:
            guard let v = Double(text), v >= 0, v <= 100 else { return .failure(.init(description: "\(text) is not a percentage (0..100)")) }
            return .success(v)
        case .upstreamUnhealthy, .reloadFailed, .secretResolutionFailed:
            switch Values.check(text, .count, in: Bounds.countThreshold) {
            case .success(let n): return .success(Double(n))
            case .failure(let e): return .failure(.init(description: e.description))
            }
        }
    }
}

extension AlertRuleSpec {
    /// Label names an AlertRule's own `labels` may not take: the engine sets them per instance.
    public static let reservedLabels: Set<String> = ["alertname", "severity", "rule", "sni", "certificate", "upstream", "node", "route", "peer", "secretRef", "cgroup"]

    /// `[a-zA-Z_][a-zA-Z0-9_]*`: what Alertmanager and Prometheus accept as a label name.
    public static func isLabelName(_ s: String) -> Bool {
        guard let first = s.utf8.first, !(first >= 48 && first <= 57) else { return false }
        return s.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "_") }
    }
}

extension ContactPointSpec {
    /// Headers a contact point's `headers` may not set (lowercase): Rampart frames, types and signs the body.
    public static let reservedHeaders: Set<String> = ["host", "content-length", "transfer-encoding", "content-type", "connection",
                                                      "x-rampart-signature", "x-rampart-timestamp"]
}
