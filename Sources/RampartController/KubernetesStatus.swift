import Foundation
import RampartKubernetes
import RampartModel
import RampartSources
import Synchronization

/// Writes each reconcile's conditions back to the objects of the Kubernetes source (status
/// subresource, merge patch) and a `Warning` Event per rejection, on its own thread, while this
/// instance leads; the newest view replaces one not yet written, so a burst of reconciles is one pass.
public final class KubernetesStatus: Sendable {
    private let writer: StatusWriter
    private let events: EventRecorder
    private let source: KubernetesSource
    private let isLeader: @Sendable () -> Bool
    private let log: Log
    private let pending = Mutex<(view: ControllerView?, stopped: Bool)>((nil, false))
    /// What was last brought to each object (its generation and conditions), on the writer thread only:
    /// a pass over 10,000 unchanged resources compares, it does not parse or send.
    private let written = Mutex<[ResourceKey: (generation: Int64, uid: String, conditions: [ConditionSpec])]>([:])
    private let wake = DispatchSemaphore(value: 0)

    public init(client: KubernetesClient, source: KubernetesSource, identity: String, isLeader: @escaping @Sendable () -> Bool, log: Log) {
        writer = StatusWriter(client: client)
        events = EventRecorder(client: client, instance: identity)
        self.source = source
        self.isLeader = isLeader
        self.log = log
    }

    /// Follows the reconciler's reports from now on.
    public func attach(to reconciler: Reconciler) {
        reconciler.onReport { [weak self] view in self?.submit(view) }
        let thread = Thread { [self] in run() }
        thread.name = "rampart-k8s-status"
        thread.start()
    }

    /// Writes the last view again (leadership just began: the previous leader's writes may be stale).
    public func rewrite(_ view: ControllerView) {
        written.withLock { $0 = [:] }
        submit(view)
    }

    public func stop() {
        pending.withLock { $0.stopped = true }
        wake.signal()
    }

    private func submit(_ view: ControllerView) {
        pending.withLock { $0.view = view }
        wake.signal()
    }

    /// Writes each new view; a view with writes that failed (the API server down, a timeout) is
    /// written again after a backoff of 1 s doubling to 30 s, unless a newer view replaces it, so a
    /// status is not left stale until the next reconcile.
    private func run() {
        var retry: (view: ControllerView, delay: Double)?
        while true {
            if let retry { _ = wake.wait(timeout: .now() + retry.delay) } else { wake.wait() }
            let (fresh, stopped) = pending.withLock { state -> (ControllerView?, Bool) in
                defer { state.view = nil }
                return (state.view, state.stopped)
            }
            if stopped { return }
            guard let view = fresh ?? retry?.view, isLeader() else {
                retry = nil
                continue
            }
            let failed = write(view)
            retry = failed == 0 ? nil : (view, min((retry?.delay ?? 0.5) * 2, 30))
        }
    }

    /// Returns how many objects' writes failed.
    private func write(_ view: ControllerView) -> Int {
        var failed = 0
        var done = written.withLock { $0 }
        // Deleted objects are forgotten: what is remembered is bounded by what exists.
        let present = Set(view.statuses.map(\.key))
        done = done.filter { present.contains($0.key) }
        defer { written.withLock { $0 = done } }
        for status in view.statuses {
            guard isLeader() else { return 0 }
            let key = status.key
            guard let object = source.object(key.kind, namespace: key.namespace, name: key.name) else { continue }
            let type = KubernetesSource.resourceType(key.kind)
            let conditions = Self.conditions(status)
            let generation = object.metadata.generation ?? 0
            if let last = done[key], last.generation == generation, last.uid == object.metadata.uid, last.conditions == conditions { continue }
            // The status as the watch last saw it, so a restarted leader does not rewrite what is already there.
            let observed = done[key] == nil ? (try? object.json()).map { ObservedStatus(object: $0) } : nil
            do {
                try writer.update(type, namespace: key.namespace, name: key.name, observedGeneration: generation,
                                  conditions: conditions, observed: observed)
                done[key] = (generation, object.metadata.uid, conditions)
                if let accepted = status.conditions.first(where: { $0.type == "Accepted" }), !accepted.status {
                    _ = try events.warning(InvolvedObject(object.metadata), reason: accepted.reason, message: accepted.message)
                }
            } catch {
                failed += 1
                log.warn("kubernetes: cannot write status", ["resource": "\(key)", "error": "\(error)"])
            }
        }
        return failed
    }

    /// The admin view's conditions as Kubernetes conditions, with `ResolvedRefs` (API.md 1.8):
    /// false when a reference (another resource, a secret) is what keeps the resource out.
    static func conditions(_ status: ResourceStatus) -> [ConditionSpec] {
        var out: [ConditionSpec] = []
        var refs = ConditionSpec(type: "ResolvedRefs", status: .true, reason: "Resolved")
        for condition in status.conditions {
            out.append(ConditionSpec(type: condition.type, status: condition.status ? .true : .false, reason: condition.reason, message: condition.message))
            if !condition.status, condition.reason == "SecretPending" || condition.message.contains("SecretRef") {
                refs = ConditionSpec(type: "ResolvedRefs", status: .false, reason: "SecretUnavailable", message: condition.message)
            } else if !condition.status, condition.message.contains("does not exist") {
                refs = ConditionSpec(type: "ResolvedRefs", status: .false, reason: "RefNotFound", message: condition.message)
            }
        }
        out.insert(refs, at: min(1, out.count))
        return out
    }
}
