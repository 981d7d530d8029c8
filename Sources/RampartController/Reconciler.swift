import Foundation
import RampartCrypto
import RampartModel
import RampartYAML
import RampartSources
import Synchronization

/// What `rampart run` reconciles from.
public struct ControllerConfig: Sendable {
    /// The manifest paths of the default directory source (when no sources are given) and of diagnostics about the whole source.
    public var paths: [String]
    public var gatewayGroup: String
    public var allowEmpty: Bool
    public var dev: Bool

    public init(paths: [String], gatewayGroup: String = "default", allowEmpty: Bool = false, dev: Bool = false) {
        self.paths = paths
        self.gatewayGroup = gatewayGroup
        self.allowEmpty = allowEmpty
        self.dev = dev
    }
}

/// A status condition (API.md 1.8).
public struct Condition: Sendable {
    public var type: String
    public var status: Bool
    public var reason: String
    public var message: String
    public var observedGeneration: Int
}

/// One resource's status as the admin API shows it.
public struct ResourceStatus: Sendable {
    public var key: ResourceKey
    public var origin: String
    public var conditions: [Condition]
}

/// What the admin API reads: the serving state and every resource's conditions.
public struct ControllerView: Sendable {
    public var serving: DesiredState = .empty
    var statusTable = StatusTable.empty
    /// Every resource's status, in key order.
    public var statuses: [ResourceStatus] { statusTable.ordered }
    public var errors: [Diagnostic] = []
    public var ready = false
}

/// Level-triggered reconcile of the whole desired state: the store's partitions → validate and cross-check →
/// keep last good → resolve secrets → apply if changed → persist → audit → status.
///
/// Sources push into the store from their own threads and trigger; all mutable state of the reconcile
/// lives on one serial queue, and triggers coalesce, so a burst of events is one reconcile.
public final class Reconciler: @unchecked Sendable {
    public let config: ControllerConfig
    private let log: Log
    private let stateDir: StateDir
    private let audit: AuditLog
    private let metrics: ControlMetrics
    public let values: SensitiveValues
    private let applyState: @Sendable (DesiredState) throws -> [ResourceKey: String]
    private let queue = DispatchQueue(label: "rampart.reconciler")
    private let pending = Atomic<Bool>(false)
    /// What the state's SecretRef fields resolve to now (keyed digests): part of each generation's identity.
    private let resolveValues: @Sendable (DesiredState) -> [ResourceKey: [String: ResolvedValue]]
    private let viewBox = Mutex(ControllerView())
    /// What the sources said; read once per reconcile.
    public let store: Store
    public let sources: [any Source]
    private let reportObservers = Mutex<[@Sendable (ControllerView) -> Void]>([])

    // Owned by `queue`.
    private var serving = DesiredState.empty
    private var loggedErrors: Set<String> = []
    /// The ciphertexts in `state.json` by resource and field path, as last written or read.
    private var stored: [ResourceKey: [String: String]] = [:]
    /// Encoded `state.json` documents of unchanged resources, reused on the next write.
    private var encodedCache = StateFile.EncodeCache()
    /// The cross-checks of the last reconcile, so the next checks only what changed.
    private let crossChecks = CrossCheck.Index()
    /// Resources in the serving state that the data plane left out, with why.
    private var notServed: [ResourceKey: String] = [:]

    /// `sources`: nil reads `config.paths` as one directory source that is read on each reconcile
    /// request (`reconcileNow`, `trigger`) and not watched (tests, one-shot tools).
    public init(config: ControllerConfig, sources: [any Source]? = nil, log: Log, stateDir: StateDir, audit: AuditLog, metrics: ControlMetrics,
                values: SensitiveValues = SensitiveValues(master: nil, lookup: nil),
                resolveValues: @escaping @Sendable (DesiredState) -> [ResourceKey: [String: ResolvedValue]] = { _ in [:] },
                apply: @escaping @Sendable (DesiredState) throws -> [ResourceKey: String]) {
        self.values = values
        self.resolveValues = resolveValues
        self.config = config
        self.log = log
        self.stateDir = stateDir
        self.audit = audit
        self.metrics = metrics
        applyState = apply
        let store = Store()
        self.store = store
        if let sources {
            self.sources = sources
            pullsSources = false
        } else {
            let dir = DirectorySource(paths: config.paths, decoder: ManifestDecoder(dev: config.dev), watches: false)
            self.sources = [dir]
            pullsSources = true
            try? dir.start(sink: { [store] events in store.apply(source: dir.name, events) })
        }
    }

    /// Unwatched default sources are read on every reconcile request instead.
    private let pullsSources: Bool

    /// Starts the sources: from now on their events reach the store and each change triggers one reconcile.
    public func startSources() throws {
        for source in sources {
            try source.start(sink: { [weak self, store] events in
                if store.apply(source: source.name, events) { self?.trigger(source.origin) }
            })
        }
    }

    /// Reads every source again now (SIGHUP: `full` re-reads every file) and reconciles what changed.
    public func resyncSources(full: Bool) {
        for source in sources { source.resync(full: full) }
        trigger("resync")
    }

    /// Stops the sources' watches and fetches.
    public func stopSources() {
        for source in sources { source.stop() }
    }

    /// Called with the view after each reconcile (the Kubernetes status writer, alerts).
    public func onReport(_ observer: @escaping @Sendable (ControllerView) -> Void) {
        reportObservers.withLock { $0.append(observer) }
    }

    private var origin: String { sources.map(\.origin).joined(separator: ",") }

    public var view: ControllerView { viewBox.withLock { $0 } }

    /// Serves `state.json` at once, before any source answers.
    public func restoreFromStateFile() {
        queue.sync {
            guard let bytes = stateDir.read(StateFile.name) else { return }
            guard let state = StateFile.decode(bytes, path: stateDir.file(StateFile.name)) else {
                log.error("state.json is unreadable; starting empty", ["path": stateDir.file(StateFile.name)])
                return
            }
            do {
                updateNotServed(try applyState(state), in: state)
                serving = state
                stored = StateFile.ciphertexts(state)
                metrics.reload(ok: true, generation: state.generation)
                viewBox.withLock { $0.serving = state; $0.ready = true }
                // Until the first reconcile: a resource restored with a digest marker says it waits for its value.
                report([], statuses: statuses(serving: state, invalid: [:], kept: []))
                log.info("serving last known good state", ["generation": "\(state.generation)", "resources": "\(state.resources.count)"])
            } catch {
                log.error("cannot apply state.json", ["error": "\(error)"])
                return
            }
            // After the first apply: a Keyring whose material is a SecretRef resolves only once the secrets are registered.
            if String(decoding: bytes, as: UTF8.self).contains(Sensitive.legacyEncryptedPrefix) { rebindLegacyStoredValues() }
        }
    }

    /// Re-binds the legacy `$enc:v1:` values of the restored state (bound to the field only) to their
    /// resources, writes `state.json` back and records each re-bound resource in the audit log. On `queue`.
    private func rebindLegacyStoredValues() {
        let (state, report) = StateFile.reboundLegacy(serving, values: values)
        for (key, paths) in report.failed.sorted(by: { $0.key < $1.key }) {
            for (path, why) in paths.sorted(by: { $0.key < $1.key }) {
                log.error("state.json: cannot re-bind a legacy encrypted value; it is not served until the source provides it again",
                          ["resource": "\(key)", "field": path, "error": why])
            }
        }
        guard !report.rebound.isEmpty else { return }
        let ring = try? values.keyring(for: state)
        let encoded = StateFile.encode(state, values: values, keyring: ring, previous: StateFile.ciphertexts(state))
        guard encoded.skipped.isEmpty else {
            log.error("state.json: re-bound values not written (a resource could not be encoded); the legacy file is kept",
                      ["resources": encoded.skipped.map(\.description).joined(separator: ",")])
            return
        }
        do {
            // On record before it is done, as every change.
            try audit.append(report.rebound.sorted(by: { $0.key < $1.key }).map { key, paths in
                AuditLog.Entry(actor: StateFile.name, action: "rebind", key: key, generationFrom: state.generation, generationTo: state.generation,
                               diff: paths.sorted().map { "\($0): \(Sensitive.legacyEncryptedPrefix) -> \(Sensitive.encryptedPrefix) (bound to \(key))" }
                                   .joined(separator: "\n"))
            })
            notServed = try applyState(state)
            serving = state
            viewBox.withLock { $0.serving = state }
            try stateDir.writeAtomically(StateFile.name, StateFile.bounded(encoded.bytes))
            stored = encoded.ciphertexts
            log.info("state.json: legacy encrypted values re-bound to their resources",
                     ["resources": "\(report.rebound.count)", "values": "\(report.rebound.values.map(\.count).reduce(0, +))"])
        } catch {
            log.error("state.json: cannot store the re-bound values", ["error": "\(error)"])
        }
    }

    /// Asks for a reconcile; concurrent triggers coalesce into one.
    /// A changed secret needs nothing more: its digest is part of the generation's hash.
    public func trigger(_ reason: String) {
        guard !pending.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.async { [self] in
            pending.store(false, ordering: .releasing)
            if pullsSources { for source in sources { source.resync(full: false) } }
            reconcile(reason)
        }
    }

    /// Reconciles now and waits (tests, start-up).
    public func reconcileNow(_ reason: String) {
        queue.sync {
            if pullsSources { for source in sources { source.resync(full: false) } }
            reconcile(reason)
        }
    }

    private func reconcile(_ reason: String) {
        let started = Date()
        defer { metrics.reconcile(seconds: Date().timeIntervalSince(started)) }
        let snapshot = store.snapshot()
        // A source that has not listed yet (a git fetch, a Kubernetes LIST in flight) would read as
        // "everything deleted": until each has spoken, state.json keeps serving.
        let silent = sources.filter { !snapshot.reported.contains($0.name) }
        if !silent.isEmpty {
            // Not ready on this account: only a restored state.json makes an instance ready before its sources list.
            report(snapshot.failures, statuses: statuses(serving: serving, invalid: [:], kept: []), ready: false)
            return
        }
        var diagnostics: [Diagnostic] = snapshot.failures
        var known: [ResourceKey: String] = [:]
        var candidates: [Resource] = []
        var keptLastGood: Set<ResourceKey> = []
        var rejectedOrigins: [(key: ResourceKey, origin: Origin)] = []
        var closedRoutes: [Resource] = []
        var invalidMessages: [ResourceKey: [String]] = [:]
        /// What the partitions that are not plain gave (a plain one gives its own resources).
        var newLastGood: [String: [Resource]] = [:]
        /// Keyrings whose source version has no keys left (`keys: []` or none): a removal of every key.
        var emptiedKeyrings: Set<ResourceKey> = []
        candidates.reserveCapacity(snapshot.entries.count)
        for entry in snapshot.entries {
            // Digests need no lookup here: the store made each object's digest when it arrived, and the
            // object keeps it (`Resource.digestMemo`); DesiredState asks only for objects it does not hold.
            let resources = entry.partition.decoded.resources
            // The common case (one per API object in the Kubernetes source): nothing else to look at.
            if entry.isPlain {
                candidates += resources
                continue
            }
            let id = entry.partition.id
            let d = entry.partition.decoded
            diagnostics += d.diagnostics
            if d.unreadable {
                // A broken file keeps its resources' last good versions: never delete what a typo hid.
                let kept = snapshot.lastGood[id] ?? []
                for r in kept { if let digest = serving.digests[r.key] { known[r.key] = digest } }
                candidates += kept
                keptLastGood.formUnion(kept.map(\.key))
                newLastGood[id] = kept
                continue
            }
            var partResources = d.resources
            rejectedOrigins += d.rejectedOrigins
            closedRoutes += d.closedRoutes
            for key in d.rejected {
                let errors = d.diagnostics.filter { $0.severity == .error && $0.resource == key.description }
                invalidMessages[key] = errors.map(\.description)
                if key.kind == .keyring, errors.contains(where: { $0.path == "spec.keys" }) { emptiedKeyrings.insert(key) }
                if let old = serving.resources[key] {
                    partResources.append(old)
                    keptLastGood.insert(key)
                    if let digest = serving.digests[key] { known[key] = digest }
                }
            }
            candidates += partResources
            newLastGood[id] = partResources
        }
        candidates = candidates.filter { $0.metadata.gatewayGroup == config.gatewayGroup }
        let decoded = Date()
        let cross = crossChecks.run(candidates, rejected: rejectedOrigins.filter { serving.resources[$0.key] == nil })
        let checked = Date()
        diagnostics += cross.diagnostics
        for d in cross.diagnostics where d.severity == .error {
            if let key = candidates.first(where: { $0.key.description == d.resource })?.key, cross.invalid.contains(key) {
                invalidMessages[key, default: []].append(d.description)
            }
        }
        var desired: [ResourceKey: Resource] = [:]
        desired.reserveCapacity(candidates.count)
        let noneInvalid = cross.invalid.isEmpty  // the usual case: no set lookup per resource
        for r in candidates where (noneInvalid || !cross.invalid.contains(r.key)) && desired[r.key] == nil { desired[r.key] = r }
        // A served resource whose new version fails a cross-check (a reference to a missing Upstream)
        // keeps its last good version, if that one still passes against everything else.
        let fallbacks = candidates.compactMap { r -> Resource? in
            guard cross.invalid.contains(r.key), !keptLastGood.contains(r.key), let old = serving.resources[r.key] else { return nil }
            return old
        }
        if !fallbacks.isEmpty {
            let retry = Array(desired.values) + fallbacks
            let second = CrossCheck.run(retry, rejected: [])
            for old in fallbacks where !second.invalid.contains(old.key) && desired[old.key] == nil {
                desired[old.key] = old
                keptLastGood.insert(old.key)
                known[old.key] = serving.digests[old.key]
            }
        }

        if let refusal = keyRemovalRefusal(desired, emptied: emptiedKeyrings) {
            desired[refusal.new] = nil
            known[refusal.new] = nil
            if let old = refusal.old {
                desired[old.key] = old
                keptLastGood.insert(old.key)
                known[old.key] = serving.digests[old.key]
            }
            invalidMessages[refusal.new, default: []].append(refusal.message)
            diagnostics.append(Diagnostic(file: refusal.file, mark: refusal.mark, resource: refusal.new.description, path: "spec.keys", message: refusal.message))
        }

        let held = heldClosed(desired: desired, rejected: closedRoutes, crossInvalid: candidates.filter { cross.invalid.contains($0.key) },
                              crossDiagnostics: cross.diagnostics)

        if desired.isEmpty && !serving.resources.isEmpty && !config.allowEmpty {
            diagnostics.append(Diagnostic(file: config.paths.joined(separator: ","), mark: .init(line: 1, column: 1), resource: nil, path: "",
                                          message: "the source holds no resources; keeping the serving config (a bad sync or an unmounted volume?); pass --allow-empty to serve nothing"))
            report(diagnostics, statuses: statuses(serving: serving, invalid: invalidMessages, kept: keptLastGood))
            return
        }
        let proposed = DesiredState(generation: serving.generation + 1, origin: origin, resources: desired, known: known, heldClosed: held,
                                    base: serving)
        let next = proposed.resolving(resolveValues(proposed))
        let hashed = Date()
        if next.hash == serving.hash {
            store.setLastGood(walked: snapshot.entries, given: newLastGood)
            report(diagnostics, statuses: statuses(serving: serving, invalid: invalidMessages, kept: keptLastGood))
            return
        }
        // Write-ahead: the change is on record before it takes effect, so a change that cannot be
        // recorded (disk full, a read-only audit file) is not made and the audit log misses nothing.
        do {
            try audit.append(auditEntries(next, previous: serving))
        } catch {
            metrics.reloadRefusedByAudit()
            diagnostics.append(Diagnostic(file: stateDir.file(AuditLog.fileName), mark: .init(line: 1, column: 1), resource: nil, path: "",
                                          message: "cannot write the audit log (\(error)); the change is not applied and generation \(serving.generation) keeps serving (retried on the next change or SIGHUP)"))
            report(diagnostics, statuses: statuses(serving: serving, invalid: invalidMessages, kept: keptLastGood))
            return
        }
        do {
            updateNotServed(try applyState(next), in: next)
        } catch {
            metrics.reload(ok: false, generation: serving.generation)
            log.error("cannot apply the new desired state; keeping generation \(serving.generation)", ["error": "\(error)"])
            // The entries above announced this generation: say that it did not happen.
            try? audit.append(.init(actor: next.origin, action: "not-applied", key: nil, generationFrom: serving.generation,
                                    generationTo: next.generation, diff: "\(error)"))
            report(diagnostics, statuses: statuses(serving: serving, invalid: invalidMessages, kept: keptLastGood))
            return
        }
        store.setLastGood(walked: snapshot.entries, given: newLastGood)
        serving = next
        metrics.reload(ok: true, generation: next.generation)
        log.info("applied generation \(next.generation)", ["reason": reason, "resources": "\(next.resources.count)", "hash": String(next.hash.prefix(12))])
        let applied = Date()
        persist(next)
        func ms(_ a: Date, _ b: Date) -> String { String(format: "%.1f", b.timeIntervalSince(a) * 1000) }
        log.debug("reconcile phases (ms)", ["decode": ms(started, decoded), "crossCheck": ms(decoded, checked), "hash": ms(checked, hashed),
                                            "apply": ms(hashed, applied), "persist": ms(applied, Date())])
        report(diagnostics, statuses: statuses(serving: serving, invalid: invalidMessages, kept: keptLastGood))
    }

    /// Fail closed for Routes that failed validation only in what they do and have no version
    /// serving: their match keys stay in the router as 503, so a typo in a new `/admin/*` Route's
    /// plugin does not hand `/admin/*` to an open `/*`. A Route matching exactly what a serving
    /// Route matches is not held (it would only take that Route's traffic away).
    private func heldClosed(desired: [ResourceKey: Resource], rejected: [Resource], crossInvalid: [Resource],
                            crossDiagnostics: [Diagnostic]) -> [ResourceKey: RouteSpec] {
        var errorPaths: [String: [String]] = [:]
        for d in crossDiagnostics where d.severity == .error { if let r = d.resource { errorPaths[r, default: []].append(d.path) } }
        let fromCross = crossInvalid.filter { $0.kind == .route && RouteSpec.matchIsIntact(errorPaths: errorPaths[$0.key.description] ?? []) }
        // Usually nothing is held: then the served match keys need not be collected.
        if rejected.isEmpty && fromCross.isEmpty { return [:] }
        let servedMatches = Set(desired.values.compactMap(\.matchKey))
        var held: [ResourceKey: RouteSpec] = [:]
        for r in rejected + fromCross where r.metadata.gatewayGroup == config.gatewayGroup && desired[r.key] == nil && held[r.key] == nil {
            guard let spec = r.route?.matchOnly, !spec.paths.isEmpty else { continue }
            if let m = r.matchKey, servedMatches.contains(m) { continue }
            held[r.key] = spec
        }
        return held
    }

    /// Keeps what the data plane could not serve (secret resolution, snapshot build, gateway compile);
    /// logs each resource once per change of its reason, not on every generation.
    private func updateNotServed(_ next: [ResourceKey: String], in state: DesiredState) {
        for (key, why) in next.sorted(by: { $0.key < $1.key }) where notServed[key] != why {
            log.warn("\(key) is not served: \(why)")
        }
        for key in notServed.keys.sorted() where next[key] == nil && state.resources[key] != nil { log.info("\(key) is served again") }
        notServed = next
    }

    /// Rewrites `state.json` with every stored ciphertext under the primary key (audit-logged).
    public func reencryptState(actor: String) throws -> (before: [String: Int], after: [String: Int]) {
        try queue.sync {
            let before = SensitiveValues.ciphertextCounts(String(decoding: stateDir.read(StateFile.name) ?? [], as: UTF8.self))
            guard let ring = try values.keyring(for: serving) else {
                throw SensitiveValues.Failure(description: "the serving state has no Keyring")
            }
            let out = StateFile.encode(serving, values: values, keyring: ring, migrate: true)
            if !out.skipped.isEmpty {
                throw SensitiveValues.Failure(description: "cannot re-encrypt \(out.skipped.map(\.description).joined(separator: ", ")) (is the old key still in the Keyring?); state.json unchanged")
            }
            let bytes = try StateFile.bounded(out.bytes)
            let after = SensitiveValues.ciphertextCounts(String(decoding: bytes, as: UTF8.self))
            let summary = "before: \(before.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")); after: \(after.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
            // On record first: a re-encryption the audit log cannot hold is not done.
            try audit.append(.init(actor: actor, action: "reencrypt", key: nil, generationFrom: serving.generation, generationTo: serving.generation, diff: summary))
            try stateDir.writeAtomically(StateFile.name, bytes)
            stored = out.ciphertexts
            encodedCache = StateFile.EncodeCache()
            log.info("state.json re-encrypted to key \(ring.primaryKeyID)", ["counts": summary])
            return (before, after)
        }
    }

    /// A Keyring change that drops a key still protecting stored ciphertext is refused: the previous
    /// Keyring keeps serving until `rampart reencrypt` has moved the values (nothing is ever lost).
    /// Deleting the Keyring, or emptying its keys (`emptied`: kept last good by validation), drops every key.
    private func keyRemovalRefusal(_ desired: [ResourceKey: Resource], emptied: Set<ResourceKey>)
        -> (new: ResourceKey, old: Resource?, message: String, file: String, mark: Mark)? {
        guard let oldRing = serving.resources.values.first(where: { $0.kind == .keyring }) else { return nil }
        let newRing = desired.values.first(where: { $0.kind == .keyring })
        // An empty source is the empty-source rule's case (kept, or --allow-empty: nothing stays to decrypt).
        guard newRing != nil || !desired.isEmpty else { return nil }
        let oldIDs = Set(oldRing.keyring?.keys.map(\.id) ?? [])
        let newIDs = newRing.map { emptied.contains($0.key) ? [] : Set($0.keyring?.keys.map(\.id) ?? []) } ?? []
        let removed = oldIDs.subtracting(newIDs)
        guard !removed.isEmpty else { return nil }
        // Stored values: state.json's ciphertexts and the `$enc:` values of the manifests (each counted once).
        var ciphertexts = Set<String>()
        for (key, byPath) in stored where key.kind != .keyring { ciphertexts.formUnion(byPath.values) }
        for r in desired.values where r.kind != .keyring {
            guard let spec = r.specNode else { continue }
            SchemaWalker.sensitiveNodes(spec, KindSchemas.spec(r.kind), path: "spec") { _, node in
                if let enc = node["encrypted"]?.scalar?.text { ciphertexts.insert(enc) }
            }
        }
        var counts: [String: Int] = [:]
        for enc in ciphertexts {
            if let id = try? EncryptedValue.parse(enc).keyID, removed.contains(id) { counts[id, default: 0] += 1 }
        }
        guard !counts.isEmpty else { return nil }
        let detail = counts.sorted { $0.key < $1.key }.map { "key \"\($0.key)\" still protects \($0.value) stored value\($0.value == 1 ? "" : "s")" }
        let what = newRing == nil ? "deleting Keyring \(oldRing.key.namespace)/\(oldRing.key.name): " : newIDs.isEmpty ? "emptying the Keyring's keys: " : ""
        let message = what + "removing " + detail.joined(separator: ", ") + "; run `rampart reencrypt` first (the previous Keyring keeps serving)"
        let source = newRing ?? oldRing
        return (source.key, oldRing, message, source.origin.file, source.origin.mark)
    }

    private func persist(_ next: DesiredState) {
        let ring: Keyring?
        do { ring = try values.keyring(for: next) } catch {
            ring = nil
            log.error("cannot build the Keyring; inline secrets are not written to state.json", ["error": "\(error)"])
        }
        let encoded = StateFile.encode(next, values: values, keyring: ring, previous: stored, migrate: false, cache: &encodedCache)
        stored = encoded.ciphertexts
        do {
            try stateDir.writeAtomically(StateFile.name, StateFile.bounded(encoded.bytes))
        } catch {
            log.error("cannot write state.json", ["error": "\(error)"])
        }
    }

    /// One entry per changed resource; sensitive values as keyed fingerprints, a SecretRef as the digest
    /// (and version) of what it resolved to, so that a rotation is an audited change.
    private func auditEntries(_ next: DesiredState, previous: DesiredState) -> [AuditLog.Entry] {
        let keys = next.changedKeys(since: previous).sorted()
        let oldLabel = "generation \(previous.generation)", newLabel = "generation \(next.generation)"
        // One chunk's canonical texts and diffs; chunks are contiguous runs of the sorted keys, so their
        // changes put one after the other are the single pass's, in its order.
        let diff: @Sendable (ArraySlice<ResourceKey>) -> [ResourceChange] = { [self] chunk in
            var before: [ResourceKey: String] = [:], after: [ResourceKey: String] = [:]
            for key in chunk {
                before[key] = previous.resources[key].map { Canonical.yaml($0, sensitive: auditRenderer(previous.resolved[key] ?? [:])) }
                after[key] = next.resources[key].map { Canonical.yaml($0, sensitive: auditRenderer(next.resolved[key] ?? [:])) }
            }
            return StateDiff.changes(from: before, to: after, oldLabel: oldLabel, newLabel: newLabel)
        }
        let changes: [ResourceChange]
        let workers = Self.auditWorkers
        if keys.count < Self.parallelAuditThreshold || workers < 2 {
            changes = diff(keys[...])
        } else {
            // A first reconcile (or a relist) of thousands of resources renders each one as canonical YAML
            // for its audit entry: most of that reconcile's time, and independent per resource, so it is
            // shared among the cores (the gateway serves nothing new until this reconcile is applied).
            let size = (keys.count + workers - 1) / workers
            let results = Mutex([[ResourceChange]](repeating: [], count: workers))
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                let start = worker * size, end = min(start + size, keys.count)
                guard start < end else { return }
                let part = diff(keys[start..<end])
                results.withLock { $0[worker] = part }
            }
            changes = results.withLock { $0.flatMap { $0 } }
        }
        return changes.map {
            AuditLog.Entry(actor: next.origin, action: $0.action.rawValue, key: $0.key, generationFrom: previous.generation,
                           generationTo: next.generation, diff: $0.diff)
        }
    }

    /// Below this many changed resources the audit diffs are made on the reconcile thread alone.
    static let parallelAuditThreshold = 512
    /// Threads for a large change's audit diffs; read once (Foundation reads the cgroup files on every call).
    static let auditWorkers = min(ProcessInfo.processInfo.activeProcessorCount, 4)

    /// A sensitive value as the audit log shows it: `hmac-sha256:HEX` of the plaintext (a digest marker is
    /// that already); a SecretRef as its reference and the digest (and version) of what it resolved to,
    /// so a rotation is a change of that field.
    private func auditRenderer(_ resolved: [String: ResolvedValue]) -> Canonical.SensitiveRenderer {
        { [audit] path, raw in
            if let marker = raw["digest"]?.scalar?.text { return .string(marker) }
            if let plain = raw["value"]?.scalar?.text { return .string(audit.digest.fingerprint(Array(plain.utf8))) }
            if let ref = raw["secretRef"], let value = resolved[path] {
                var pairs = [Pair(key: .string("secretRef"), value: ref), Pair(key: .string("resolved"), value: .string(value.digest))]
                if let version = value.version { pairs.append(Pair(key: .string("version"), value: .string(version))) }
                return Node(.mapping(pairs))
            }
            return .string(audit.fingerprint(raw))
        }
    }

    /// The statuses of this reconcile, made only when read (an admin API request, the Kubernetes
    /// status writer): at 10,000 resources, making them costs more than the rest of a one-file change.
    private func statuses(serving: DesiredState, invalid: [ResourceKey: [String]], kept: Set<ResourceKey>) -> StatusTable {
        StatusTable(serving: serving, invalid: invalid, kept: kept, notServed: notServed)
    }

    /// Publishes the view and logs each problem once per change, not once per loop.
    private func report(_ diagnostics: [Diagnostic], statuses: StatusTable, ready: Bool = true) {
        let lines = Set(diagnostics.map(\.description))
        for d in diagnostics.sorted(by: Diagnostic.sourceOrder) where !loggedErrors.contains(d.description) {
            if d.severity == .error { log.error(d.description) } else { log.warn(d.description) }
        }
        loggedErrors = lines
        let serving = self.serving
        store.setStatuses(statuses)
        let view = viewBox.withLock {
            $0.serving = serving
            $0.statusTable = statuses
            $0.errors = diagnostics.filter { $0.severity == .error }
            if ready { $0.ready = true }
            return $0
        }
        for observer in reportObservers.withLock({ $0 }) { observer(view) }
    }
}
