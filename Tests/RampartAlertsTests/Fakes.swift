import Foundation
@testable import RampartAlerts
import RampartCrypto
import RampartGateway
@testable import RampartHTTPClient
@testable import RampartModel
import RampartYAML
import Synchronization

/// Facts a test sets by hand.
final class FakeFacts: AlertFacts {
    struct Values {
        var certificates: [CertificateFact] = []
        var nodes: [UpstreamNodeFact] = []
        var routes: [RouteTrafficSample] = []
        var reload = ReloadFact()
        var secrets: [SecretFact] = []
        var heartbeats: [HeartbeatFact] = []
        var cgroup = CgroupSample()
    }

    let values = Mutex(Values())
    func set(_ change: (inout Values) -> Void) { values.withLock { change(&$0) } }

    func certificates() -> [CertificateFact] { values.withLock { $0.certificates } }
    func upstreamNodes() -> [UpstreamNodeFact] { values.withLock { $0.nodes } }
    func routeTraffic() -> [RouteTrafficSample] { values.withLock { $0.routes } }
    func reload() -> ReloadFact { values.withLock { $0.reload } }
    func secrets() -> [SecretFact] { values.withLock { $0.secrets } }
    func heartbeats() -> [HeartbeatFact] { values.withLock { $0.heartbeats } }
    func cgroup() -> CgroupSample { values.withLock { $0.cgroup } }
}

/// Collects what the engine hands out.
final class Recorder: Sendable {
    let notifications = Mutex<[AlertNotification]>([])
    let requests = Mutex<[HTTPRequest]>([])

    var observer: @Sendable (AlertNotification) -> Void { { n in self.notifications.withLock { $0.append(n) } } }
    var events: [AlertEvent] { notifications.withLock { $0.map(\.event) } }
}

enum Fixture {
    /// An AlertRule spec decoded from YAML (the same path manifests take).
    static func rule(_ specYAML: String, name: String = "r", namespace: String = "default") throws -> AlertRuleConfig {
        let doc = "apiVersion: rampart.io/v1alpha1\nkind: AlertRule\nmetadata: {name: \(name), namespace: \(namespace)}\nspec:\n" + specYAML
        let r = ManifestDecoder(dev: true).decode(file: "t.yaml", bytes: Array(doc.utf8))
        let errors = r.diagnostics.filter { $0.severity == .error }
        guard errors.isEmpty, let spec = r.resources.first?.alertRule else {
            throw NSError(domain: "Fixture", code: 1, userInfo: [NSLocalizedDescriptionKey: errors.map(\.description).joined(separator: "\n")])
        }
        return try AlertRuleConfig(namespace: namespace, name: name, spec: spec)
    }

    static func webhook(_ id: String = "default/hook", secret: String? = "k") throws -> ContactPointConfig {
        try ContactPointConfig(id: id, kind: "webhook", url: "http://127.0.0.1:1/hook", headers: [(name: "Authorization", value: "Bearer t")],
                               hmacSecret: secret.map { Array($0.utf8) }, timeoutMs: 1000)
    }

    static let hmac: HMACSHA256 = { HMAC.sha256(key: $0, message: $1) }

    static func engine(_ facts: AlertFacts, recorder: Recorder, leader: @escaping @Sendable () -> Bool = { true },
                       send: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse = { _ in HTTPResponse(status: 200, body: []) }) -> AlertEngine {
        AlertEngine(facts: facts, hmac: hmac, clock: { 1_000_000 }, isLeader: leader, send: { req in
            recorder.requests.withLock { $0.append(req) }
            return try send(req)
        }, retryBackoff: 0.01, observer: recorder.observer, log: { _, _ in })
    }
}

