import Foundation
import RampartKubernetes

/// The ready endpoints of Services, from their EndpointSlices, by Service port: what an Upstream's
/// `service: {name, port}` serves.
///
/// A slice's ports carry the Service port's *name* with the *target* port, so the Service maps the
/// Upstream's port number to that name (a Service with one port may leave it unnamed).
struct ServiceEndpoints {
    struct Node: Equatable {
        var host: String
        var port: Int
    }

    private struct Slice {
        var namespace: String
        var service: String
        var ports: [(name: String, port: Int)]
        var addresses: [String]
    }

    /// By namespace/name of the Service: its ports (number → name).
    private var servicePorts: [String: [(port: Int, name: String)]] = [:]
    /// By namespace/name of the slice.
    private var slices: [String: Slice] = [:]

    mutating func apply(_ type: ResourceType, _ change: ObjectCache.Change) {
        let object = change.object
        let key = object.metadata.namespace + "/" + object.metadata.name
        if case .deleted = change {
            if type == .service { servicePorts[key] = nil } else { slices[key] = nil }
            return
        }
        guard let json = try? object.json() else { return }
        if type == .service {
            let ports = ((json["spec"] as? [String: Any])?["ports"] as? [[String: Any]]) ?? []
            servicePorts[key] = ports.compactMap { p in
                guard let number = (p["port"] as? NSNumber)?.intValue else { return nil }
                return (number, p["name"] as? String ?? "")
            }
            return
        }
        let labels = ((json["metadata"] as? [String: Any])?["labels"] as? [String: Any]) ?? [:]
        guard let service = labels["kubernetes.io/service-name"] as? String else { slices[key] = nil; return }
        let ports: [(name: String, port: Int)] = ((json["ports"] as? [[String: Any]]) ?? []).compactMap { p in
            guard let number = (p["port"] as? NSNumber)?.intValue, (1...65535).contains(number) else { return nil }
            return (p["name"] as? String ?? "", number)
        }
        var addresses: [String] = []
        for endpoint in (json["endpoints"] as? [[String: Any]]) ?? [] {
            // Ready unless it says it is not (conditions.ready may be absent: unknown means ready).
            if let ready = (endpoint["conditions"] as? [String: Any])?["ready"] as? Bool, !ready { continue }
            addresses += ((endpoint["addresses"] as? [String]) ?? []).filter { !$0.isEmpty && $0.utf8.count <= 253 }
        }
        slices[key] = Slice(namespace: object.metadata.namespace, service: service, ports: ports, addresses: addresses)
    }

    /// The ready endpoints of `service`'s port `port`, sorted and without repeats.
    func nodes(namespace: String, service: String, port: Int) -> [Node] {
        guard let ports = servicePorts[namespace + "/" + service], let portName = ports.first(where: { $0.port == port })?.name else { return [] }
        var out: [Node] = []
        for slice in slices.values where slice.namespace == namespace && slice.service == service {
            guard let target = slice.ports.first(where: { $0.name == portName })?.port else { continue }
            out += slice.addresses.map { Node(host: $0, port: target) }
        }
        var seen = Set<String>()
        return out.sorted { ($0.host, $0.port) < ($1.host, $1.port) }.filter { seen.insert("\($0.host):\($0.port)").inserted }
    }
}
