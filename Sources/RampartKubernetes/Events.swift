import Foundation
import Synchronization

/// The object an Event is about.
public struct InvolvedObject: Sendable, Hashable {
    public var apiVersion: String
    public var kind: String
    public var namespace: String
    public var name: String
    public var uid: String

    public init(apiVersion: String, kind: String, namespace: String, name: String, uid: String = "") {
        self.apiVersion = apiVersion
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.uid = uid
    }

    public init(_ metadata: ObjectMetadata) {
        self.init(apiVersion: metadata.apiVersion, kind: metadata.kind, namespace: metadata.namespace, name: metadata.name, uid: metadata.uid)
    }
}

/// Creates `Warning` Events (core v1) for rejections, each distinct (object, reason, message)
/// once per `window`, remembering at most `capacity` of them.
public final class EventRecorder: Sendable {
    public let client: KubernetesClient
    public let component: String
    public let instance: String
    public let window: Double
    public let capacity: Int
    private let now: @Sendable () -> Date
    private let recent = Mutex<[String: Date]>([:])

    public init(client: KubernetesClient, component: String = "rampart", instance: String, window: Double = 600, capacity: Int = 4096,
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.client = client
        self.component = component
        self.instance = instance
        self.window = window
        self.capacity = capacity
        self.now = now
    }

    /// Creates the Event unless the same one was created within the window; true when created.
    @discardableResult
    public func warning(_ object: InvolvedObject, reason: String, message: String, stop: StopSignal? = nil) throws -> Bool {
        let reason = validReason(reason)
        let message = capped(message)
        let key = "\(object.namespace)\u{0}\(object.name)\u{0}\(object.uid)\u{0}\(reason)\u{0}\(message)"
        let time = now()
        let fresh = recent.withLock { seen -> Bool in
            if let last = seen[key], time.timeIntervalSince(last) < window { return false }
            if seen.count >= capacity {
                // Forget the oldest half at once, so that a flood costs one sort per capacity/2 events.
                for old in seen.sorted(by: { $0.value < $1.value }).prefix(capacity / 2 + 1) { seen.removeValue(forKey: old.key) }
            }
            seen[key] = time
            return true
        }
        guard fresh else { return false }
        let namespace = object.namespace.isEmpty ? "default" : object.namespace
        let stamp = KubeTime.time(time)
        let suffix = "." + String(UInt64(max(0, time.timeIntervalSince1970 * 1e9)), radix: 16) + String(format: "%04x", UInt16.random(in: 0...UInt16.max))
        let name = String(object.name.prefix(253 - suffix.count)) + suffix
        var involved: [String: Any] = ["apiVersion": object.apiVersion, "kind": object.kind, "name": object.name]
        if !object.namespace.isEmpty { involved["namespace"] = object.namespace }
        if !object.uid.isEmpty { involved["uid"] = object.uid }
        let event: [String: Any] = [
            "apiVersion": "v1", "kind": "Event",
            "metadata": ["name": name, "namespace": namespace],
            "involvedObject": involved,
            "type": "Warning", "reason": reason, "message": message, "count": 1,
            "firstTimestamp": stamp, "lastTimestamp": stamp,
            "source": ["component": component],
            "reportingComponent": component, "reportingInstance": instance,
        ]
        do {
            try client.send("POST", ResourceType.event.collectionPath(namespace: namespace), body: try KubeJSON.bytes(event), stop: stop)
        } catch {
            // Not created: let the next attempt try again.
            _ = recent.withLock { $0.removeValue(forKey: key) }
            throw error
        }
        return true
    }
}
