import Foundation
import Synchronization

/// One condition as the controller means it; `StatusWriter` adds `observedGeneration` and
/// `lastTransitionTime` (kstatus conventions: `Accepted`, `ResolvedRefs`, `Ready`).
public struct ConditionSpec: Sendable, Equatable {
    public enum Value: String, Sendable { case `true` = "True", `false` = "False", unknown = "Unknown" }

    public var type: String
    public var status: Value
    /// CamelCase (`Valid`, `SecretUnavailable`); other characters are dropped.
    public var reason: String
    public var message: String

    public init(type: String, status: Value, reason: String, message: String = "") {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
    }
}

/// A condition as written to (or read from) `status.conditions`.
public struct Condition: Sendable, Equatable {
    public var type: String
    public var status: String
    public var reason: String
    public var message: String
    public var observedGeneration: Int64?
    public var lastTransitionTime: String

    init(json: [String: Any]) {
        type = KubeJSON.string(json["type"]) ?? ""
        status = KubeJSON.string(json["status"]) ?? ""
        reason = KubeJSON.string(json["reason"]) ?? ""
        message = KubeJSON.string(json["message"]) ?? ""
        observedGeneration = KubeJSON.int64(json["observedGeneration"])
        lastTransitionTime = KubeJSON.string(json["lastTransitionTime"]) ?? ""
    }

    init(type: String, status: String, reason: String, message: String, observedGeneration: Int64?, lastTransitionTime: String) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
        self.observedGeneration = observedGeneration
        self.lastTransitionTime = lastTransitionTime
    }

    var json: [String: Any] {
        var out: [String: Any] = ["type": type, "status": status, "reason": reason, "message": message, "lastTransitionTime": lastTransitionTime]
        if let observedGeneration { out["observedGeneration"] = NSNumber(value: observedGeneration) }
        return out
    }
}

/// An object's status as the writer compares it: `status.observedGeneration` and the conditions.
public struct ObservedStatus: Sendable, Equatable {
    public var observedGeneration: Int64?
    public var conditions: [Condition]

    public init(observedGeneration: Int64? = nil, conditions: [Condition] = []) {
        self.observedGeneration = observedGeneration
        self.conditions = conditions
    }

    /// The status of an object's JSON (as a watch delivered it).
    public init(object: [String: Any]) {
        let status = object["status"] as? [String: Any] ?? [:]
        observedGeneration = KubeJSON.int64(status["observedGeneration"])
        conditions = (status["conditions"] as? [Any] ?? []).compactMap { ($0 as? [String: Any]).map(Condition.init(json:)) }
    }
}

/// Longest condition or event message written; the API server refuses 32 KiB, and a status is read by people.
public let maxStatusMessageBytes = 1024

/// `text` cut at a character boundary to at most `limit` UTF-8 bytes, ending in "…" when cut.
func capped(_ text: String, limit: Int = maxStatusMessageBytes) -> String {
    guard text.utf8.count > limit else { return text }
    let ellipsis = "…"
    var out = ""
    var bytes = 0
    for character in text {
        let size = character.utf8.count
        if bytes + size + ellipsis.utf8.count > limit { break }
        out.append(character)
        bytes += size
    }
    return out + ellipsis
}

/// A condition reason as the API requires: `[A-Za-z][A-Za-z0-9_,:]*`, at most 1024 bytes.
func validReason(_ reason: String) -> String {
    var out = String(reason.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_,:".unicodeScalars.contains($0)) }
        .prefix(1024).map(Character.init))
    while let first = out.first, !first.isLetter { out.removeFirst() }
    while let last = out.last, last == "," || last == ":" { out.removeLast() }
    return out.isEmpty ? "Unspecified" : out
}

/// Writes status conditions through the status subresource with a JSON merge patch, only when
/// they change, keeping `lastTransitionTime` for a condition whose status stays the same. 409 is
/// answered by reading the object again; 429 and 5xx are retried by the client.
public final class StatusWriter: Sendable {
    public let client: KubernetesClient
    private let now: @Sendable () -> Date
    /// The status last written or read per object path.
    private let known = Mutex<[String: ObservedStatus]>([:])
    public static let conflictAttempts = 5

    public init(client: KubernetesClient, now: @escaping @Sendable () -> Date = { Date() }) {
        self.client = client
        self.now = now
    }

    /// Brings the object's status to these conditions for `observedGeneration`. `observed` is the
    /// status as last seen (from the watch); nil uses the writer's last write, or reads the object.
    /// Returns whether a write was made; false too when the object does not exist (404).
    @discardableResult
    public func update(_ type: ResourceType, namespace: String?, name: String, observedGeneration: Int64,
                       conditions specs: [ConditionSpec], observed: ObservedStatus? = nil, stop: StopSignal? = nil) throws -> Bool {
        let path = type.objectPath(namespace: namespace, name: name)
        var baseline = observed ?? known.withLock { $0[path] }
        for attempt in 1...Self.conflictAttempts {
            if baseline == nil {
                do {
                    baseline = ObservedStatus(object: try client.getObject(path, stop: stop))
                } catch let error as APIStatusError where error.code == 404 {
                    forget(type, namespace: namespace, name: name)
                    return false
                }
            }
            let current = baseline ?? ObservedStatus()
            let desired = merge(specs, into: current, generation: observedGeneration)
            if desired == current {
                known.withLock { $0[path] = current }
                return false
            }
            let patch: [String: Any] = ["status": [
                "observedGeneration": NSNumber(value: observedGeneration),
                "conditions": desired.conditions.map(\.json),
            ] as [String: Any]]
            do {
                try client.send("PATCH", path + "/status", body: try KubeJSON.bytes(patch), contentType: "application/merge-patch+json", stop: stop)
                known.withLock { $0[path] = desired }
                return true
            } catch let error as APIStatusError where error.code == 409 && attempt < Self.conflictAttempts {
                baseline = nil
            } catch let error as APIStatusError where error.code == 404 {
                forget(type, namespace: namespace, name: name)
                return false
            }
        }
        return false
    }

    /// Drops what the writer remembers of a deleted object.
    public func forget(_ type: ResourceType, namespace: String?, name: String) {
        let path = type.objectPath(namespace: namespace, name: name)
        _ = known.withLock { $0.removeValue(forKey: path) }
    }

    /// The status to write: ours in the order given, then conditions of other types unchanged.
    func merge(_ specs: [ConditionSpec], into current: ObservedStatus, generation: Int64) -> ObservedStatus {
        let stamp = KubeTime.time(now())
        var conditions: [Condition] = []
        for spec in specs {
            let reason = validReason(spec.reason)
            let message = capped(spec.message)
            let previous = current.conditions.first { $0.type == spec.type }
            let transition = previous.flatMap { $0.status == spec.status.rawValue && !$0.lastTransitionTime.isEmpty ? $0.lastTransitionTime : nil } ?? stamp
            conditions.append(Condition(type: spec.type, status: spec.status.rawValue, reason: reason, message: message,
                                        observedGeneration: generation, lastTransitionTime: transition))
        }
        let ours = Set(specs.map(\.type))
        conditions += current.conditions.filter { !ours.contains($0.type) }
        return ObservedStatus(observedGeneration: generation, conditions: conditions)
    }
}
