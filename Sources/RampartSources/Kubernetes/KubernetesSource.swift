import Foundation
import RampartKubernetes
import RampartModel
import Synchronization

/// The seven rampart.io kinds read from the Kubernetes API: one list/watch reflector per kind (and for
/// Services and EndpointSlices, which fill the nodes of Upstreams that name a `service`), each object
/// one partition of the store.
///
/// Nothing is pushed until every kind has listed once, so the first reconcile sees the whole cluster,
/// never a part of it; after that each change is an upsert or a delete, and a relist after 410 Gone
/// becomes the adds, changes and deletes between what was held and the new list.
public final class KubernetesSource: Source {
    public var name: String { "kubernetes" }
    public var origin: String { "kubernetes" }
    /// nil: all namespaces.
    public let namespace: String?
    public let client: KubernetesClient
    private let decoder: ManifestDecoder
    private let log: @Sendable (String) -> Void
    private let reflectors: [(type: ResourceType, watch: ListWatch)]

    private struct State {
        var sink: (@Sendable ([SourceEvent]) -> Void)?
        var caches: [String: ObjectCache] = [:]
        var listed: Set<String> = []
        var synced = false
        var endpoints = ServiceEndpoints()
        /// The node list last pushed for each service-backed Upstream (by partition id), to push only real changes.
        var pushedNodes: [String: String] = [:]
        var secretObservers: [@Sendable (String, String) -> Void] = []
    }

    private let state = Mutex(State())

    /// The API type of each kind.
    public static func resourceType(_ kind: Kind) -> ResourceType {
        ResourceType(group: apiGroup, version: "v1alpha1", plural: kind.plural, kind: kind.rawValue)
    }

    public init(client: KubernetesClient, namespace: String?, decoder: ManifestDecoder, watchSecrets: Bool = true,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.client = client
        self.namespace = namespace
        self.decoder = decoder
        self.log = log
        var types = Kind.allCases.map(Self.resourceType) + [.service, .endpointSlice]
        if watchSecrets { types.append(.secret) }
        reflectors = types.map { type in
            (type, ListWatch(client: client, config: .init(path: type.collectionPath(namespace: namespace), kind: type.kind), log: log))
        }
    }

    /// Called with (namespace, name) whenever a Secret changes, so that SecretRefs on it are fetched at once.
    public func onSecretChange(_ observer: @escaping @Sendable (String, String) -> Void) {
        state.withLock { $0.secretObservers.append(observer) }
    }

    public func start(sink: @escaping @Sendable ([SourceEvent]) -> Void) throws {
        state.withLock { $0.sink = sink }
        for (type, watch) in reflectors {
            watch.start { [weak self] event in self?.receive(type, event) }
        }
    }

    /// The watches are the resync: a relist happens on 410 by itself.
    public func resync(full: Bool) {}

    public func stop() {
        for (_, watch) in reflectors { watch.stop() }
    }

    /// The object of a kind as last seen by its watch (its generation and status, for the status writer).
    public func object(_ kind: Kind, namespace: String, name: String) -> KubeObject? {
        state.withLock { $0.caches[kind.plural]?.objects[ObjectKey(namespace: namespace, name: name)] }
    }


    private func receive(_ type: ResourceType, _ event: WatchEvent) {
        var secretChanges: [(String, String)] = []
        let observers: [@Sendable (String, String) -> Void] = state.withLock { st in
            let changes = st.caches[type.plural, default: ObjectCache()].apply(event)
            if case .replaced = event { st.listed.insert(type.plural) }
            var events: [SourceEvent] = []
            switch type {
            case .secret:
                for change in changes { secretChanges.append((change.object.metadata.namespace, change.object.metadata.name)) }
            case .service, .endpointSlice:
                for change in changes { st.endpoints.apply(type, change) }
                if st.synced { events = upstreamRefresh(&st) }
            default:
                guard st.synced else { break }
                for change in changes {
                    switch change {
                    case .modified(let old, let object) where Self.sameContent(old, object):
                        // Only status or bookkeeping changed (our own status write, say): nothing to reconcile.
                        continue
                    case .added(let object), .modified(_, let object):
                        events.append(.upsert(partition(type, object, &st)))
                    case .deleted(let object):
                        let id = Self.partitionID(type, object.key)
                        st.pushedNodes[id] = nil
                        events.append(.delete(id: id))
                    }
                }
            }
            if !st.synced, st.listed.isSuperset(of: reflectors.map(\.type.plural)) {
                st.synced = true
                var all: [SourcePartition] = []
                for kind in Kind.allCases {
                    let kindType = Self.resourceType(kind)
                    for object in (st.caches[kind.plural]?.objects ?? [:]).values.sorted(by: { $0.key < $1.key }) {
                        all.append(partition(kindType, object, &st))
                    }
                }
                events = [.replaceAll(all)]
                log("kubernetes: every kind listed; \(all.count) objects")
            }
            if !events.isEmpty { st.sink?(events) }
            return secretChanges.isEmpty ? [] : st.secretObservers
        }
        for (ns, name) in secretChanges { for observer in observers { observer(ns, name) } }
    }

    /// Upstreams whose service's endpoints changed, pushed again with their new nodes.
    private func upstreamRefresh(_ st: inout State) -> [SourceEvent] {
        let type = Self.resourceType(.upstream)
        var events: [SourceEvent] = []
        for object in (st.caches[type.plural]?.objects ?? [:]).values.sorted(by: { $0.key < $1.key }) {
            let id = Self.partitionID(type, object.key)
            // An unchanged node list gives the same revision, which the store takes as no change.
            guard st.pushedNodes[id] != nil else { continue }
            events.append(.upsert(partition(type, object, &st)))
        }
        return events
    }

    /// Whether two versions of an object differ only in what the controller does not read: `status`,
    /// `metadata.resourceVersion` and `metadata.managedFields`.
    static func sameContent(_ old: KubeObject, _ new: KubeObject) -> Bool {
        guard old.metadata.uid == new.metadata.uid, old.metadata.generation == new.metadata.generation,
              let a = try? old.json(), let b = try? new.json() else { return false }
        func content(_ object: [String: Any]) -> NSDictionary {
            var object = object
            object["status"] = nil
            if var meta = object["metadata"] as? [String: Any] {
                meta["resourceVersion"] = nil
                meta["managedFields"] = nil
                object["metadata"] = meta
            }
            return object as NSDictionary
        }
        return content(a).isEqual(to: content(b) as? [AnyHashable: Any] ?? [:])
    }

    static func partitionID(_ type: ResourceType, _ key: ObjectKey) -> String { "\(type.plural)/\(key.namespace)/\(key.name)" }

    /// One object as the store's partition: its JSON decoded like a manifest (JSON is YAML), with the
    /// client-side apply annotation dropped (it repeats the whole manifest, inline secrets included)
    /// and, for an Upstream with `service`, the nodes of that service's ready endpoints.
    private func partition(_ type: ResourceType, _ object: KubeObject, _ st: inout State) -> SourcePartition {
        let id = Self.partitionID(type, object.key)
        var bytes = Self.withoutLastApplied(object)
        var revision = object.metadata.resourceVersion
        if type.plural == Kind.upstream.plural, var json = try? KubeJSON.object(bytes), var spec = json["spec"] as? [String: Any],
           let service = spec["service"] as? [String: Any], let serviceName = service["name"] as? String {
            let port = (service["port"] as? NSNumber)?.intValue ?? 0
            let nodes = st.endpoints.nodes(namespace: object.metadata.namespace, service: serviceName, port: port)
            let signature = nodes.map { "\($0.host):\($0.port)" }.joined(separator: ",")
            st.pushedNodes[id] = signature
            spec["nodes"] = nodes.map { ["host": $0.host, "port": NSNumber(value: $0.port)] as [String: Any] }
            json["spec"] = spec
            // The node list is part of the revision: an EndpointSlice change is a change of this partition.
            revision += "/" + signature
            if let edited = try? KubeJSON.bytes(json) { bytes = edited }
        }
        let label = "kubernetes:\(id)@\(object.metadata.resourceVersion)"
        return SourcePartition(id: id, revision: revision, decoded: decoder.decode(file: label, bytes: bytes))
    }

    static let lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

    /// Lists every kind once (`rampart diff --kubeconfig`): the objects decoded like manifests,
    /// without the last-applied annotation. Service-backed Upstreams keep `service` and no nodes,
    /// as written.
    public static func listOnce(client: KubernetesClient, namespace: String?, decoder: ManifestDecoder) throws -> [Resource] {
        var out: [Resource] = []
        for kind in Kind.allCases {
            let type = resourceType(kind)
            let (objects, _) = try ListWatch(client: client, config: .init(path: type.collectionPath(namespace: namespace), kind: type.kind)).list()
            for object in objects {
                let label = "kubernetes:\(partitionID(type, object.key))@\(object.metadata.resourceVersion)"
                out += decoder.decode(file: label, bytes: withoutLastApplied(object)).resources
            }
        }
        return out
    }

    /// The object's JSON without the client-side apply annotation (it repeats the whole manifest, inline secrets included).
    static func withoutLastApplied(_ object: KubeObject) -> [UInt8] {
        guard object.raw.contains(subsequence: Array(lastApplied.utf8)), var json = try? object.json(),
              var meta = json["metadata"] as? [String: Any], var annotations = meta["annotations"] as? [String: Any] else { return object.raw }
        annotations[lastApplied] = nil
        meta["annotations"] = annotations.isEmpty ? nil : annotations
        json["metadata"] = meta
        return (try? KubeJSON.bytes(json)) ?? object.raw
    }
}

extension ObjectCache.Change {
    var object: KubeObject {
        switch self {
        case .added(let object), .deleted(let object): return object
        case .modified(_, let object): return object
        }
    }
}

extension Array where Element == UInt8 {
    func contains(subsequence needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return needle.isEmpty }
        var i = 0
        while i + needle.count <= count {
            if self[i] == needle[0], self[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}
