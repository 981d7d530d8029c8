import Foundation
import RampartModel
import RampartSecrets
import Synchronization

/// Keeps the secret resolver's providers in step with the SecretRef resources of each desired state,
/// drives its refreshes, and answers SecretRef lookups for `SensitiveValues`.
public final class SecretsBridge: Sendable {
    public let resolver: SecretResolver
    private let registered = Mutex<[String: String]>([:])
    /// SecretRefs of the `kubernetes` provider by the Secret they read (`namespace/name`).
    private let kubernetesTargets = Mutex<[String: Set<String>]>([:])
    private let stopping = Atomic<Bool>(false)

    /// `onChange(ref)`: a refreshed secret differs (the caller reconciles and hot-reloads).
    public init(onChange: @escaping @Sendable (String) -> Void) {
        resolver = SecretResolver(onChange: onChange)
    }

    /// The lookup `SensitiveValues` uses for `{secretRef: ...}`.
    public var lookup: SensitiveValues.SecretLookup {
        { [resolver] ref, key in Array(try resolver.value(for: "\(ref.namespace)/\(ref.name)", key: key).utf8) }
    }

    /// Registers new or changed SecretRefs and drops removed ones; returns configuration errors by resource.
    @discardableResult
    public func sync(_ state: DesiredState, values: SensitiveValues) -> [ResourceKey: String] {
        var problems: [ResourceKey: String] = [:]
        let resolve = values.resolver(for: state)
        var seen = Set<String>()
        var added: [String] = []
        var targets: [String: Set<String>] = [:]
        for r in state.sorted where r.kind == .secretRef {
            guard let spec = r.secretRef else { continue }
            let ref = "\(r.key.namespace)/\(r.key.name)"
            seen.insert(ref)
            if spec.provider == "kubernetes", let name = spec.config?["secretName"]?.scalar?.text {
                targets["\(spec.config?["namespace"]?.scalar?.text ?? r.key.namespace)/\(name)", default: []].insert(ref)
            }
            let digest = state.digests[r.key] ?? ""
            if registered.withLock({ $0[ref] }) == digest { continue }
            // Auth secrets of a provider (a Vault token, AWS keys) are sensitive values themselves,
            // resolved at each login so that they can rotate; their field path binds any ciphertext.
            var paths: [Sensitive: String] = [:]
            if let node = r.specNode {
                SchemaWalker.sensitiveNodes(node, KindSchemas.spec(.secretRef), path: "spec") { path, n in
                    if let s = Sensitive.decode(n, namespace: r.key.namespace) { paths[s] = path }
                }
            }
            let key = r.key
            let fieldPaths = paths
            do {
                let provider = try SecretProviders.make(ref: ref, namespace: r.key.namespace, spec: spec) { value in
                    String(decoding: try resolve(value, key, fieldPaths[value] ?? "spec"), as: UTF8.self)
                }
                resolver.register(ref, provider: provider, refreshIntervalMs: spec.refreshIntervalMs)
                registered.withLock { $0[ref] = digest }
                added.append(ref)
            } catch {
                problems[key] = "\(error)"
            }
        }
        for ref in registered.withLock({ Array($0.keys) }) where !seen.contains(ref) {
            resolver.remove(ref)
            registered.withLock { _ = $0.removeValue(forKey: ref) }
        }
        kubernetesTargets.withLock { $0 = targets }
        prefetch(added)
        return problems
    }

    /// A watched Kubernetes Secret changed: the SecretRefs that read it are fetched now, off the
    /// caller's thread, so a rotated Secret is served without waiting for `refreshInterval`.
    public func kubernetesSecretChanged(namespace: String, name: String) {
        let refs = kubernetesTargets.withLock { $0["\(namespace)/\(name)"] ?? [] }
        guard !refs.isEmpty else { return }
        DispatchQueue.global().async { [resolver] in for ref in refs.sorted() { resolver.refresh(ref) } }
    }

    /// The keyed digest and version of what each SecretRef field of the state resolves to now (the
    /// SecretRefs must be registered: `sync` first). A field that does not resolve is left out: its first
    /// value is then a change of the generation too. SecretRefs' own fields (provider credentials) are read
    /// at each login and shape no snapshot, so they are not part of a generation.
    public func resolvedValues(_ state: DesiredState, digest: SecretDigest) -> [ResourceKey: [String: ResolvedValue]] {
        var out: [ResourceKey: [String: ResolvedValue]] = [:]
        for r in state.sorted where r.kind != .secretRef && !r.secretRefFields.isEmpty {
            for (path, ref, field) in r.secretRefFields {
                guard let read = try? resolver.versionedValue(for: "\(ref.namespace)/\(ref.name)", key: field) else { continue }
                out[r.key, default: [:]][path] = ResolvedValue(digest: digest.fingerprint(Array(read.value.utf8)), version: read.version)
            }
        }
        return out
    }

    /// Fetches new SecretRefs concurrently (at most 16 at a time): a thousand SecretRefs against a
    /// remote store should not be a thousand round trips in a row. Failures are kept by the resolver.
    func prefetch(_ refs: [String]) {
        guard !refs.isEmpty else { return }
        let group = DispatchGroup()
        let slots = DispatchSemaphore(value: 16)
        for ref in refs {
            slots.wait()
            DispatchQueue.global().async(group: group) { [resolver] in
                defer { slots.signal() }
                _ = try? resolver.secret(for: ref)
            }
        }
        group.wait()
    }

    /// Refreshes due secrets on a background thread until `stop()`.
    public func start() {
        let t = Thread { [self] in
            while !stopping.load(ordering: .relaxed) {
                _ = resolver.tick()
                let wait = min(1.0, max(0.05, (resolver.nextDue()?.timeIntervalSinceNow ?? 1.0)))
                Thread.sleep(forTimeInterval: wait)
            }
        }
        t.name = "rampart-secrets"
        t.start()
    }

    public func stop() { stopping.store(true, ordering: .relaxed) }

    /// `rampart_secret_resolutions_total{provider,result}`.
    public func metricsText() -> String {
        var out = "# HELP rampart_secret_resolutions_total Secret fetches by provider and result.\n# TYPE rampart_secret_resolutions_total counter\n"
        for c in resolver.resolutionCounts() {
            out += "rampart_secret_resolutions_total{provider=\"\(c.provider)\",result=\"\(c.result)\"} \(c.count)\n"
        }
        return out
    }

    /// The secrets section of `/api/v1/status` (never a value).
    public func statusJSON() -> String {
        let iso = ISO8601DateFormatter()
        return "[" + resolver.statuses().map { s in
            var o = "{\"ref\":\(JSONWriter.quote(s.ref)),\"provider\":\(JSONWriter.quote(s.provider)),\"ready\":\(s.ready)"
            if let t = s.lastRefresh { o += ",\"lastRefreshTime\":\"\(iso.string(from: t))\"" }
            if let t = s.nextRefresh { o += ",\"nextRefreshTime\":\"\(iso.string(from: t))\"" }
            if let v = s.version { o += ",\"version\":\(JSONWriter.quote(v))" }
            if let e = s.error { o += ",\"lastError\":\(JSONWriter.quote(e))" }
            return o + ",\"consecutiveFailures\":\(s.consecutiveFailures)}"
        }.joined(separator: ",") + "]"
    }
}
