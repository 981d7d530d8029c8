import Foundation

/// Where an object lives: namespace ("" for cluster-scoped kinds) and name.
public struct ObjectKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var namespace: String
    public var name: String

    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    public static func < (a: ObjectKey, b: ObjectKey) -> Bool { (a.namespace, a.name) < (b.namespace, b.name) }
    public var description: String { namespace.isEmpty ? name : "\(namespace)/\(name)" }
}

/// The metadata fields the client acts on, read from an object's JSON.
public struct ObjectMetadata: Sendable, Hashable {
    public var apiVersion: String
    public var kind: String
    public var namespace: String
    public var name: String
    /// Opaque: compare for equality only, never order.
    public var resourceVersion: String
    public var generation: Int64?
    public var uid: String

    public var key: ObjectKey { ObjectKey(namespace: namespace, name: name) }
}

/// One Kubernetes object as the API server sent it: its JSON (kind and apiVersion filled in when a
/// list left them out) and its parsed metadata.
public struct KubeObject: Sendable {
    public let raw: [UInt8]
    public let metadata: ObjectMetadata

    public var key: ObjectKey { metadata.key }

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Reads a parsed object. `defaultKind`/`defaultAPIVersion` fill in what list items of
    /// built-in kinds omit; an object without a name is refused.
    public init(json object: [String: Any], defaultKind: String? = nil, defaultAPIVersion: String? = nil) throws {
        var object = object
        if KubeJSON.string(object["kind"]) == nil, let defaultKind { object["kind"] = defaultKind }
        if KubeJSON.string(object["apiVersion"]) == nil, let defaultAPIVersion { object["apiVersion"] = defaultAPIVersion }
        guard let meta = object["metadata"] as? [String: Any] else { throw Invalid(description: "object without metadata") }
        guard let name = KubeJSON.string(meta["name"]), !name.isEmpty, name.utf8.count <= 253 else {
            throw Invalid(description: "object without a valid metadata.name")
        }
        metadata = ObjectMetadata(apiVersion: KubeJSON.string(object["apiVersion"]) ?? "", kind: KubeJSON.string(object["kind"]) ?? "",
                                  namespace: KubeJSON.string(meta["namespace"]) ?? "", name: name,
                                  resourceVersion: KubeJSON.string(meta["resourceVersion"]) ?? "",
                                  generation: KubeJSON.int64(meta["generation"]), uid: KubeJSON.string(meta["uid"]) ?? "")
        raw = try KubeJSON.bytes(object)
    }

    /// The object parsed again (for a consumer that wants more than the metadata).
    public func json() throws -> [String: Any] { try KubeJSON.object(raw) }
}

/// What a reflector reports, in order, on its thread.
public enum WatchEvent: Sendable {
    /// A (re)list: the complete set of objects now. Objects the consumer holds that are not in it
    /// were deleted meanwhile (`ObjectCache` works that out).
    case replaced([KubeObject])
    case added(KubeObject)
    case modified(KubeObject)
    case deleted(KubeObject)
}

/// The objects a reflector has reported, and the change each event makes to them: a relist
/// becomes adds, modifications and deletes against what was held, and a repeated event changes
/// nothing, so no object is lost, resurrected or duplicated.
public struct ObjectCache: Sendable {
    public enum Change: Sendable {
        case added(KubeObject)
        case modified(old: KubeObject, new: KubeObject)
        case deleted(KubeObject)
    }

    public private(set) var objects: [ObjectKey: KubeObject] = [:]

    public init() {}

    @discardableResult
    public mutating func apply(_ event: WatchEvent) -> [Change] {
        switch event {
        case .replaced(let list):
            var next: [ObjectKey: KubeObject] = [:]
            next.reserveCapacity(list.count)
            var changes: [Change] = []
            for object in list {
                next[object.key] = object
                if let old = objects[object.key] {
                    if old.metadata.resourceVersion != object.metadata.resourceVersion || old.metadata.uid != object.metadata.uid {
                        changes.append(.modified(old: old, new: object))
                    }
                } else {
                    changes.append(.added(object))
                }
            }
            for (key, old) in objects.sorted(by: { $0.key < $1.key }) where next[key] == nil { changes.append(.deleted(old)) }
            objects = next
            return changes
        case .added(let object), .modified(let object):
            let old = objects.updateValue(object, forKey: object.key)
            guard let old else { return [.added(object)] }
            if old.metadata.resourceVersion == object.metadata.resourceVersion && old.metadata.uid == object.metadata.uid { return [] }
            return [.modified(old: old, new: object)]
        case .deleted(let object):
            guard let old = objects.removeValue(forKey: object.key) else { return [] }
            return [.deleted(old)]
        }
    }
}
