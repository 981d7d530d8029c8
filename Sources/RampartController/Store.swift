import RampartModel
import RampartSources
import Synchronization

/// What the sources have said, held between reconciles: each source's partitions (files, API objects)
/// with their decoded resources and digests, what each partition last gave that served, and each
/// resource's status.
///
/// Sources write from their own threads; the reconciler reads a snapshot. Digests are computed when a
/// partition arrives and reused while its revision is unchanged, so a burst of one-file changes at
/// 10,000 routes hashes only what changed.
public final class Store: Sendable {
    /// One partition as the store holds it; immutable, so a snapshot of 10,000 is an array of references.
    public final class Entry: Sendable {
        public let source: String
        public let partition: SourcePartition
        /// Content digest of each resource the partition decoded (`DesiredState.digest`).
        public let digests: [ResourceKey: String]
        /// A readable partition without rejected documents: it gives its resources as they are (the
        /// reconciler's common case, and its last good resources are these).
        let isPlain: Bool

        init(source: String, partition: SourcePartition, digests: [ResourceKey: String]) {
            self.source = source
            self.partition = partition
            self.digests = digests
            let d = partition.decoded
            isPlain = !d.unreadable && d.rejected.isEmpty && d.rejectedOrigins.isEmpty && d.closedRoutes.isEmpty && d.diagnostics.isEmpty
        }
    }

    /// What each partition gave in the last generation that was applied or found unchanged: the
    /// entries walked then (a plain entry gave its own resources) and, for the others, what they gave.
    public struct LastGood: Sendable {
        var walked: [Entry] = []
        var given: [String: [Resource]] = [:]
        /// Partitions deleted since: they have no last good version.
        var forgotten: Set<String> = []

        /// The resources partition `id` gave (nil: none recorded).
        public subscript(_ id: String) -> [Resource]? {
            // Asked only for an unreadable partition: rare, so a walk instead of an index. The last
            // entry of that id is the one whose resources were recorded (as in a table filled in order).
            guard !forgotten.contains(id), let last = walked.last(where: { $0.partition.id == id }) else { return nil }
            return last.isPlain ? last.partition.decoded.resources : given[id]
        }
    }

    /// Everything the reconciler reads at once, in source then listing order (first wins on duplicates).
    public struct Snapshot: Sendable {
        public var entries: [Entry]
        /// Sources that cannot be read now, with why; their last partitions stay in `entries`.
        public var failures: [Diagnostic]
        public var lastGood: LastGood
        /// Sources that have given a listing (or an upsert) at least once.
        public var reported: Set<String>
    }

    private struct State {
        var sources: [String] = []
        var order: [String: [String]] = [:]
        var entries: [String: [String: Entry]] = [:]
        /// Every source's entries in source then listing order, as `snapshot` hands them out, and where
        /// each (source, id) sits in it: an upsert of a held partition replaces one element; anything
        /// that changes the order sets it to nil, and the next snapshot lays it out again.
        var ordered: [Entry]?
        var place: [String: [String: Int]] = [:]
        var failures: [String: Diagnostic] = [:]
        /// By source, then partition id: the resources a partition gave in the last generation that
        /// was applied or found unchanged; an unreadable partition serves these.
        var lastGood = LastGood()
        var statuses = StatusTable.empty
    }

    private let state = Mutex(State())

    public init() {}

    /// Takes a source's events; says whether anything changed (a listing identical to what is held is not a change).
    @discardableResult
    public func apply(source: String, _ events: [SourceEvent]) -> Bool {
        // Digests are computed outside the lock: a 10,000-route file does not stall the reconciler's snapshot.
        let held = state.withLock { $0.entries[source] ?? [:] }
        var prepared: [(event: SourceEvent, entries: [Entry])] = []
        for event in events {
            switch event {
            case .upsert(let p): prepared.append((event, [entry(source, p, previous: held[p.id])]))
            case .replaceAll(let ps): prepared.append((event, ps.map { entry(source, $0, previous: held[$0.id]) }))
            case .delete, .failed: prepared.append((event, []))
            }
        }
        return state.withLock { st in
            if !st.sources.contains(source) {
                st.sources.append(source)
                st.ordered = nil
            }
            var changed = false
            for (event, entries) in prepared {
                switch event {
                case .upsert(let p):
                    if st.entries[source]?[p.id] == nil {
                        st.order[source, default: []].append(p.id)
                        st.ordered = nil
                    } else if st.ordered != nil, let i = st.place[source]?[p.id] {
                        st.ordered?[i] = entries[0]
                    }
                    if st.entries[source]?[p.id]?.partition.revision != p.revision || p.revision.isEmpty { changed = true }
                    st.entries[source, default: [:]][p.id] = entries[0]
                    changed = st.failures.removeValue(forKey: source) != nil || changed
                case .delete(let id):
                    if st.entries[source]?.removeValue(forKey: id) != nil {
                        st.order[source]?.removeAll { $0 == id }
                        st.ordered = nil
                        st.lastGood.forgotten.insert(id)
                        changed = true
                    }
                case .replaceAll:
                    let ids = entries.map(\.partition.id)
                    let listed = Set(ids)
                    let old = st.entries[source] ?? [:]
                    // A source's first listing is news even when empty: it says "I have spoken".
                    if st.entries[source] == nil || ids != st.order[source] ?? [] || entries.contains(where: { old[$0.partition.id]?.partition.revision != $0.partition.revision || $0.partition.revision.isEmpty }) {
                        changed = true
                    }
                    for id in old.keys where !listed.contains(id) { st.lastGood.forgotten.insert(id) }
                    st.order[source] = ids
                    st.ordered = nil
                    st.entries[source] = Dictionary(entries.map { ($0.partition.id, $0) }, uniquingKeysWith: { _, last in last })
                    changed = st.failures.removeValue(forKey: source) != nil || changed
                case .failed(let d):
                    if st.failures[source]?.description != d.description { changed = true }
                    st.failures[source] = d
                }
            }
            return changed
        }
    }

    private func entry(_ source: String, _ p: SourcePartition, previous: Entry?) -> Entry {
        if let previous, !p.revision.isEmpty, previous.partition.revision == p.revision {
            // The same content decoded again (a relist): its new objects take the digests already made.
            // A source that hands over the same objects (an unchanged file) needs nothing: a pointer walk.
            let resources = p.decoded.resources, held = previous.partition.decoded.resources
            if resources.count != held.count || !zip(resources, held).allSatisfy({ $0 === $1 }) {
                for r in resources { if let d = previous.digests[r.key] { r.digestMemo.withLock { $0 = $0 ?? d } } }
            }
            return Entry(source: source, partition: p, digests: previous.digests)
        }
        var digests: [ResourceKey: String] = [:]
        for r in p.decoded.resources { digests[r.key] = DesiredState.digest(r) }
        return Entry(source: source, partition: p, digests: digests)
    }

    public func snapshot() -> Snapshot {
        state.withLock { st in
            let entries: [Entry]
            if let ordered = st.ordered {
                entries = ordered
            } else {
                var laidOut: [Entry] = []
                st.place = [:]
                for source in st.sources {
                    var places: [String: Int] = [:]
                    for id in st.order[source] ?? [] {
                        guard let e = st.entries[source]?[id] else { continue }
                        places[id] = laidOut.count
                        laidOut.append(e)
                    }
                    st.place[source] = places
                }
                st.ordered = laidOut
                entries = laidOut
            }
            return Snapshot(entries: entries, failures: st.sources.compactMap { st.failures[$0] }, lastGood: st.lastGood,
                            reported: Set(st.entries.keys))
        }
    }

    /// Records what each partition gave in the generation that now serves (the reconciler, after an
    /// apply or a no-op): `walked`, the snapshot's entries (a plain one gave its resources), and
    /// `given`, what each other partition gave.
    func setLastGood(walked: [Entry], given: [String: [Resource]]) {
        state.withLock { $0.lastGood = LastGood(walked: walked, given: given) }
    }

    func setStatuses(_ statuses: StatusTable) {
        state.withLock { $0.statuses = statuses }
    }

    /// A resource's status as last reconciled.
    public func status(_ key: ResourceKey) -> ResourceStatus? {
        state.withLock { $0.statuses }.byKey[key]
    }

    /// Every resource's status as last reconciled, in key order.
    public var statuses: [ResourceStatus] {
        state.withLock { $0.statuses }.ordered
    }
}
