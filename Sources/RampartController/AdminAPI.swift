import Foundation
import RampartGateway
import RampartModel

/// The admin API endpoints of API.md section 3, served by the gateway's admin listener.
public struct AdminAPI: Sendable {
    let reconciler: Reconciler
    let auth: AdminAuth
    let metrics: @Sendable () -> String
    let log: Log
    let secrets: SecretsBridge?
    let alerts: AlertsRuntime?

    /// Upstream nodes whose host name does not resolve: upstream → node → reason.
    let unresolvedNodes: @Sendable () -> [String: [String: String]]

    public init(reconciler: Reconciler, auth: AdminAuth, secrets: SecretsBridge? = nil, metrics: @escaping @Sendable () -> String,
                unresolvedNodes: @escaping @Sendable () -> [String: [String: String]] = { [:] }, alerts: AlertsRuntime? = nil, log: Log) {
        self.unresolvedNodes = unresolvedNodes
        self.alerts = alerts
        self.reconciler = reconciler
        self.secrets = secrets
        self.auth = auth
        self.metrics = metrics
        self.log = log
    }

    public func handle(_ req: AdminRequest) -> AdminResponse {
        switch (req.method, req.path) {
        case ("GET", "/healthz"):
            return .text(200, "ok\n")
        case ("GET", "/readyz"):
            return reconciler.view.ready ? .text(200, "ready\n") : .text(503, "not ready\n")
        case ("GET", "/metrics"):
            return AdminResponse(status: 200, headers: [HeaderPair(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")],
                                 body: Array((metrics() + auth.metricsText() + (alerts?.metricsText() ?? "")).utf8))
        default:
            break
        }
        guard req.path.hasPrefix("/api/") else { return .json(404, "{\"error\":\"not found\"}") }
        switch auth.check(authorization: req.header("authorization"), client: req.remoteAddress) {
        case .allowed:
            break
        case .retryLater(let seconds):
            return .retryLater(429, seconds: seconds, "too many new tokens to verify; retry later")
        case .denied:
            return AdminResponse(status: 401, headers: [HeaderPair(name: "WWW-Authenticate", value: "Bearer realm=\"rampart\""),
                                                        HeaderPair(name: "Content-Type", value: "application/json")],
                                 body: Array("{\"error\":\"unauthorized\"}".utf8))
        }
        switch (req.method, req.path) {
        case ("GET", "/api/v1/config"):
            return .json(200, reconciler.view.serving.configJSON())
        case ("GET", "/api/v1/status"):
            return .json(200, statusJSON())
        case ("POST", "/api/v1/diff"):
            return diff(req.body)
        case ("POST", "/api/v1/secrets/refresh"):
            guard let secrets else { return .json(200, "{\"refreshed\":0}") }
            secrets.resolver.refreshAll()
            log.info("secrets refreshed on request", ["remote": req.remoteAddress])
            reconciler.trigger("secrets refreshed")
            return .json(200, "{\"refreshed\":\(secrets.resolver.refs.count),\"secrets\":\(secrets.statusJSON())}")
        case ("POST", "/api/v1/keyring/reencrypt"):
            return reencrypt(req)
        case ("GET", "/api/v1/alerts"):
            return .json(200, alerts?.alertsJSON(query: req.query) ?? "{\"alerts\":[]}")
        case (_, "/api/v1/config"), (_, "/api/v1/status"), (_, "/api/v1/diff"), (_, "/api/v1/secrets/refresh"), (_, "/api/v1/keyring/reencrypt"),
             (_, "/api/v1/alerts"):
            return .json(405, "{\"error\":\"method not allowed\"}")
        default:
            return .json(404, "{\"error\":\"not found\"}")
        }
    }

    func statusJSON() -> String {
        let v = reconciler.view
        var out = "{\"generation\":\(v.serving.generation),\"hash\":\(JSONWriter.quote(v.serving.hash)),\"origin\":\(JSONWriter.quote(v.serving.origin)),\"resources\":["
        out += v.statuses.map { s in
            let conds = s.conditions.map { c in
                "{\"type\":\(JSONWriter.quote(c.type)),\"status\":\"\(c.status ? "True" : "False")\",\"reason\":\(JSONWriter.quote(c.reason)),\"message\":\(JSONWriter.quote(c.message)),\"observedGeneration\":\(c.observedGeneration)}"
            }.joined(separator: ",")
            return "{\"kind\":\"\(s.key.kind.rawValue)\",\"namespace\":\(JSONWriter.quote(s.key.namespace)),\"name\":\(JSONWriter.quote(s.key.name)),\"origin\":\(JSONWriter.quote(s.origin)),\"conditions\":[\(conds)]}"
        }.joined(separator: ",")
        out += "],\"secrets\":" + (secrets?.statusJSON() ?? "[]")
        let unresolved = unresolvedNodes().sorted { $0.key < $1.key }.flatMap { upstream, nodes in
            nodes.sorted { $0.key < $1.key }.map { node, reason in
                "{\"upstream\":\(JSONWriter.quote(upstream)),\"node\":\(JSONWriter.quote(node)),\"healthy\":false,\"reason\":\(JSONWriter.quote(reason))}"
            }
        }
        out += ",\"unresolvedNodes\":[" + unresolved.joined(separator: ",") + "]"
        out += ",\"errors\":[" + v.errors.map { JSONWriter.quote($0.description) }.joined(separator: ",") + "],\"alerts\":" + (alerts?.statusJSON() ?? "[]") + "}"
        return out
    }

    /// Rewrites `state.json` so that every stored ciphertext uses the primary key; returns counts per key.
    func reencrypt(_ req: AdminRequest) -> AdminResponse {
        do {
            let r = try reconciler.reencryptState(actor: "admin:" + req.remoteAddress)
            return .json(200, "{\"before\":\(Self.counts(r.before)),\"after\":\(Self.counts(r.after))}")
        } catch {
            return .json(409, "{\"error\":\(JSONWriter.quote("\(error)"))}")
        }
    }

    static func counts(_ c: [String: Int]) -> String {
        "{" + c.sorted { $0.key < $1.key }.map { "\(JSONWriter.quote($0.key)):\($0.value)" }.joined(separator: ",") + "}"
    }

    func diff(_ body: [UInt8]) -> AdminResponse {
        let decoded = ManifestDecoder(dev: reconciler.config.dev).decode(file: "<request>", bytes: body)
        let errors = decoded.diagnostics.filter { $0.severity == .error }
        if !errors.isEmpty {
            return .text(422, errors.map(\.description).joined(separator: "\n") + "\n")
        }
        let serving = reconciler.view.serving
        let changes = StateDiff.changes(from: serving.sorted, to: decoded.resources, oldLabel: "serving, generation \(serving.generation)", newLabel: "proposed")
        return .text(200, changes.map(\.diff).joined())
    }
}
