import Foundation

/// One resource type of the API (`rampart.io/v1alpha1` `routes`, core `v1` `secrets`) and the
/// request paths for it, built in one place.
public struct ResourceType: Sendable, Hashable {
    /// "" for the core group (`/api/v1`).
    public var group: String
    public var version: String
    public var plural: String
    public var kind: String
    public var namespaced: Bool

    public init(group: String, version: String, plural: String, kind: String, namespaced: Bool = true) {
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
    }

    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    var prefix: String { group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)" }

    /// The collection, in one namespace or (nil) across all of them.
    public func collectionPath(namespace: String?) -> String {
        guard namespaced, let namespace else { return "\(prefix)/\(plural)" }
        return "\(prefix)/namespaces/\(segment(namespace))/\(plural)"
    }

    public func objectPath(namespace: String?, name: String) -> String {
        collectionPath(namespace: namespace) + "/" + segment(name)
    }

    public static let lease = ResourceType(group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease")
    public static let event = ResourceType(group: "", version: "v1", plural: "events", kind: "Event")
    public static let secret = ResourceType(group: "", version: "v1", plural: "secrets", kind: "Secret")
    public static let service = ResourceType(group: "", version: "v1", plural: "services", kind: "Service")
    public static let endpointSlice = ResourceType(group: "discovery.k8s.io", version: "v1", plural: "endpointslices", kind: "EndpointSlice")

    /// Names are DNS subdomains, but a path segment is encoded anyway: a name never adds segments.
    private func segment(_ text: String) -> String { KubernetesClient.percentEncoded(text) }
}
