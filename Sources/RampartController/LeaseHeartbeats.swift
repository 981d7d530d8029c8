import Foundation
import RampartAlerts
import RampartKubernetes
import Synchronization

/// The other replicas' heartbeats from their `rampart-instance-*` Leases (Kubernetes source), read
/// every `interval` on its own thread: what `instanceOffline` checks there instead of `--peers`.
final class LeaseHeartbeats: Sendable {
    static let prefix = "rampart-instance-"
    private let client: KubernetesClient
    private let namespace: String
    private let identity: String
    private let interval: Double
    private let seen = Mutex<[String: HeartbeatFact]>([:])
    private let signal = StopSignal()
    private let log: @Sendable (String) -> Void

    init(client: KubernetesClient, namespace: String, identity: String, interval: Double = 5, log: @escaping @Sendable (String) -> Void) {
        self.client = client
        self.namespace = namespace
        self.identity = identity
        self.interval = interval
        self.log = log
    }

    func start() {
        let t = Thread { [self] in
            while !signal.isStopped {
                do { try read(now: Date()) } catch { if !signal.isStopped { log("instance heartbeats: \(error)") } }
                if signal.wait(seconds: interval) { break }
            }
        }
        t.name = "rampart-lease-heartbeats"
        t.start()
    }

    func stop() { signal.stop() }

    /// One listing: each other replica's last renewal. A replica whose Lease is gone keeps its last one (it is offline).
    func read(now: Date) throws {
        let list = try client.getObject("/apis/coordination.k8s.io/v1/namespaces/\(namespace)/leases", stop: signal)
        var found: [(String, Date?)] = []
        for item in list["items"] as? [[String: Any]] ?? [] {
            guard let name = (item["metadata"] as? [String: Any])?["name"] as? String, name.hasPrefix(Self.prefix),
                  let spec = item["spec"] as? [String: Any], let holder = spec["holderIdentity"] as? String, !holder.isEmpty, holder != identity else { continue }
            found.append((holder, (spec["renewTime"] as? String).flatMap(KubeTime.parse)))
        }
        update(found, now: now)
    }

    func update(_ found: [(identity: String, renewed: Date?)], now: Date) {
        seen.withLock { s in
            for (peer, renewed) in found {
                var h = s[peer] ?? HeartbeatFact(peer: peer, lastSeen: nil, watchedSince: now.timeIntervalSince1970, error: nil)
                if let r = renewed?.timeIntervalSince1970, r > (h.lastSeen ?? 0) { h.lastSeen = r }
                s[peer] = h
            }
        }
    }

    func heartbeats() -> [HeartbeatFact] {
        seen.withLock { s in s.keys.sorted().compactMap { s[$0] } }
    }
}
