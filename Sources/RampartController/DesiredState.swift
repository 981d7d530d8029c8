import Foundation
import RampartCrypto
import RampartModel
import RampartYAML

/// One immutable desired state: the resources that serve, their generation and content hash.
public struct DesiredState: Sendable {
    public let generation: Int
    public let hash: String
    /// Where this generation came from: `dir`, `git:<sha>`, `state.json`.
    public let origin: String
    public let resources: [ResourceKey: Resource]
    /// Each resource's content digest; the state's hash is made from these.
    public let digests: [ResourceKey: String]

    /// Routes that failed validation and have no earlier version, by their match keys only: not
    /// served, they answer 503 where they would match (never written to `state.json`).
    public let heldClosed: [ResourceKey: RouteSpec]

    /// What each resource's SecretRef fields resolved to, by field path, as keyed digests: part of the
    /// generation's identity, so a rotated secret is a new generation although no manifest changed.
    public let resolved: [ResourceKey: [String: ResolvedValue]]

    /// `known`: digests already computed (unchanged files), so only new resources are hashed.
    /// `base`: the state this one follows (the serving one): the hash, the key order and
    /// `changedKeys(since: base)` are then updated from the keys that differ instead of made from all.
    public init(generation: Int, origin: String, resources: [ResourceKey: Resource], known: [ResourceKey: String] = [:],
                heldClosed: [ResourceKey: RouteSpec] = [:], resolved: [ResourceKey: [String: ResolvedValue]] = [:],
                base: DesiredState? = nil) {
        var digests: [ResourceKey: String] = [:]
        digests.reserveCapacity(resources.count)
        var sum = base?.resourceSum ?? StateSum()
        let sorted: [Resource]
        var changed: [ResourceKey] = []
        if let base {
            var replaced: [Resource] = [], added: [Resource] = [], removed: [ResourceKey] = []
            // Base's digests, then only the keys that differ: the same object has the same digest, so
            // the resources of unchanged files cost one lookup each.
            digests = base.digests
            for (k, r) in resources {
                let old = base.resources[k]
                if old === r { continue }
                let d = known[k] ?? DesiredState.digest(r)
                let oldDigest = digests.updateValue(d, forKey: k)
                if old != nil {
                    replaced.append(r)
                    if let oldDigest, oldDigest != d {
                        sum.subtract(StateSum.resource(k, digest: oldDigest))
                        sum.add(StateSum.resource(k, digest: d))
                        changed.append(k)
                    }
                } else {
                    sum.add(StateSum.resource(k, digest: d))
                    added.append(r)
                    changed.append(k)
                }
            }
            if resources.count - added.count != base.resources.count {
                for (k, d) in base.digests where resources[k] == nil {
                    sum.subtract(StateSum.resource(k, digest: d))
                    digests[k] = nil
                    removed.append(k)
                    changed.append(k)
                }
            }
            sorted = DesiredState.edited(base.sorted, replacing: replaced, inserting: added, removing: removed)
                ?? resources.keys.sorted().compactMap { resources[$0] }
        } else {
            for (k, r) in resources {
                let d = known[k] ?? DesiredState.digest(r)
                digests[k] = d
                sum.add(StateSum.resource(k, digest: d))
            }
            sorted = resources.keys.sorted().compactMap { resources[$0] }
        }
        self.init(generation: generation, origin: origin, resources: resources, digests: digests, sorted: sorted, resourceSum: sum,
                  baseSum: base?.resourceSum, changedFromBase: changed, heldClosed: heldClosed, resolved: resolved)
    }

    private init(generation: Int, origin: String, resources: [ResourceKey: Resource], digests: [ResourceKey: String], sorted: [Resource],
                 resourceSum: StateSum, baseSum: StateSum?, changedFromBase: [ResourceKey],
                 heldClosed: [ResourceKey: RouteSpec], resolved: [ResourceKey: [String: ResolvedValue]]) {
        self.generation = generation
        self.origin = origin
        self.resources = resources
        self.heldClosed = heldClosed
        self.digests = digests
        self.sorted = sorted
        self.resourceSum = resourceSum
        self.baseSum = baseSum
        self.changedFromBase = changedFromBase
        // Only the values of resources in this state count (a SecretRef's value outlives no resource).
        let resolved = resolved.filter { resources[$0.key] != nil && !$0.value.isEmpty }
        self.resolved = resolved
        // Resolved values and held Routes are few: summed afresh each time.
        var extra = StateSum()
        for (k, byPath) in resolved { for (path, value) in byPath { extra.add(StateSum.resolved(k, path: path, value: value)) } }
        for (k, spec) in heldClosed { extra.add(StateSum.held(k, signature: spec.matchSignature)) }
        hash = resourceSum.adding(extra).hash
    }

    /// `base` with a few resources replaced, inserted and removed, still in key order; nil when so
    /// many changed that sorting afresh is cheaper.
    static func edited(_ base: [Resource], replacing: [Resource], inserting: [Resource], removing: [ResourceKey]) -> [Resource]? {
        let edits = replacing.count + inserting.count + removing.count
        if edits == 0 { return base }
        guard edits <= 64 else { return nil }
        var out = base
        func position(_ key: ResourceKey) -> Int {
            var lo = 0, hi = out.count
            while lo < hi {
                let mid = lo + (hi - lo) / 2
                if out[mid].key < key { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        for r in replacing {
            let i = position(r.key)
            guard i < out.count, out[i].key == r.key else { return nil }
            out[i] = r
        }
        for k in removing {
            let i = position(k)
            guard i < out.count, out[i].key == k else { return nil }
            out.remove(at: i)
        }
        for r in inserting { out.insert(r, at: position(r.key)) }
        return out
    }

    /// The same state with its SecretRef fields' resolved digests (resource digests are kept, not recomputed).
    public func resolving(_ values: [ResourceKey: [String: ResolvedValue]]) -> DesiredState {
        DesiredState(generation: generation, origin: origin, resources: resources, digests: digests, sorted: sorted, resourceSum: resourceSum,
                     baseSum: baseSum, changedFromBase: changedFromBase, heldClosed: heldClosed, resolved: values)
    }

    public static let empty = DesiredState(generation: 0, origin: "empty", resources: [:])

    /// The resources in key order (computed once: snapshots, state files and views all walk it).
    public let sorted: [Resource]

    /// The resources' part of the hash (`StateSum`), kept so the next state can update it.
    let resourceSum: StateSum
    /// The `resourceSum` of the state this one was made from, and the keys whose digest differs from it.
    let baseSum: StateSum?
    let changedFromBase: [ResourceKey]

    /// Keys the digest of each sensitive value inside a resource digest. Random per process: a state's
    /// hash (written to `state.json`) is then no oracle for guessing an inline secret offline.
    static let digestKey = Random.bytes(32)

    /// SHA-256 of a resource's canonical form; sensitive values enter as their HMAC, so a changed
    /// secret changes the hash without the hash input ever being stored.
    public static func digest(_ r: Resource) -> String {
        if let known = r.digestMemo.withLock({ $0 }) { return known }
        let text = Canonical.yaml(r) { _, raw in .string(Hex.encode(HMAC.sha256(key: digestKey, message: Array(Emitter.emit([raw]).utf8)))) }
        let digest = Hex.encode(SHA256.hash(Array(text.utf8)))
        r.digestMemo.withLock { $0 = digest }
        return digest
    }

    /// Keys whose content differs between two states (added, removed or changed, a resolved secret included).
    public func changedKeys(since old: DesiredState) -> [ResourceKey] {
        if let baseSum, baseSum == old.resourceSum {
            // Made from `old`'s resources: the digests that differ are known; resolved values are few.
            var keys = Set(changedFromBase)
            for k in Set(resolved.keys).union(old.resolved.keys) where resolved[k] != old.resolved[k] { keys.insert(k) }
            return keys.sorted()
        }
        return Set(digests.keys).union(old.digests.keys).filter { digests[$0] != old.digests[$0] || resolved[$0] != old.resolved[$0] }.sorted()
    }

    /// The masked JSON view for `GET /api/v1/config`.
    public func configJSON() -> String {
        var out = "{\"generation\":\(generation),\"hash\":\(JSONWriter.quote(hash)),\"origin\":\(JSONWriter.quote(origin)),\"resources\":["
        out += sorted.map { JSONWriter.write(Canonical.node($0)) }.joined(separator: ",")
        return out + "]}"
    }
}

/// `state.json`: the last serving desired state, so a restart serves at once (API.md 4.1).
public enum StateFile {
    public static let name = "state.json"
    /// The generations a state file may hold (2^53: still exact in every JSON reader).
    static let generations = 0...(1 << 53)
    /// The largest `state.json` written and read back: one bound for both sides, so what is written
    /// can always be read at start. JSON spends at least 2 bytes per node, hence the node bound.
    public static let maxBytes = 32 << 20
    static let limits = Limits(maxBytes: maxBytes, maxNodes: maxBytes / 2)

    public struct TooLarge: Error, CustomStringConvertible {
        public var size: Int
        public var description: String { "state.json would be \(size) bytes, over the \(StateFile.maxBytes)-byte limit it is read back with; not written" }
    }

    /// `bytes` if start-up can read them back, else `TooLarge`.
    static func bounded(_ bytes: [UInt8]) throws(TooLarge) -> [UInt8] {
        guard bytes.count <= maxBytes else { throw TooLarge(size: bytes.count) }
        return bytes
    }

    /// The desired state saved in a state dir, if any.
    public static func load(stateDir: String) -> DesiredState? {
        let path = stateDir + "/" + name
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return decode([UInt8](data), path: path)
    }

    /// Inline secrets are written encrypted with the group's Keyring (the Keyring's own material with
    /// the master key); one that cannot be encrypted is written as a digest marker (`SensitiveValues.digest`),
    /// so the resource is there and its value comes back from the source at start.
    /// A resource's encoded document, reused while the same resource object and Keyring are in use.
    struct Encoded {
        let resource: Resource
        let json: String
        let ciphertexts: [String: String]
    }

    /// Last time's encodings in key order, with the Keyring they were made with: a write after a
    /// one-file change encodes that file's resources and copies the rest.
    struct EncodeCache {
        var ring = ""
        var entries: [Encoded] = []
    }

    static func encode(_ s: DesiredState, values: SensitiveValues, keyring: Keyring?, previous: [ResourceKey: [String: String]] = [:],
                       migrate: Bool = false) -> (bytes: [UInt8], skipped: [ResourceKey], ciphertexts: [ResourceKey: [String: String]]) {
        var cache = EncodeCache()
        return encode(s, values: values, keyring: keyring, previous: previous, migrate: migrate, cache: &cache)
    }

    /// `cache` holds last time's encodings: only new or changed resources are encoded again. The
    /// resources are in key order both times, so the unchanged ones are the common prefix and suffix
    /// (same objects); between them, an unchanged object is found by identity.
    static func encode(_ s: DesiredState, values: SensitiveValues, keyring: Keyring?, previous: [ResourceKey: [String: String]],
                       migrate: Bool, cache: inout EncodeCache)
        -> (bytes: [UInt8], skipped: [ResourceKey], ciphertexts: [ResourceKey: [String: String]]) {
        let ring = keyring.map { $0.keyIDs.joined(separator: ",") } ?? ""
        let old = migrate || cache.ring != ring ? [] : cache.entries
        let sorted = s.sorted
        let shorter = min(old.count, sorted.count)
        var prefix = 0
        while prefix < shorter && old[prefix].resource === sorted[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < shorter - prefix && old[old.count - 1 - suffix].resource === sorted[sorted.count - 1 - suffix] { suffix += 1 }
        var between: [ObjectIdentifier: Encoded] = [:]
        for e in old[prefix..<(old.count - suffix)] { between[ObjectIdentifier(e.resource)] = e }

        var entries: [Encoded] = []
        entries.reserveCapacity(sorted.count)
        entries += old[0..<prefix]
        var skipped: [ResourceKey] = []
        for r in sorted[prefix..<(sorted.count - suffix)] {
            if let e = between[ObjectIdentifier(r)] {
                entries.append(e)
                continue
            }
            // Not kept: a resource that cannot be encoded is tried again on the next write.
            guard let out = values.persistable(r, keyring: keyring, previous: previous[r.key] ?? [:], migrate: migrate) else {
                skipped.append(r.key)
                continue
            }
            entries.append(Encoded(resource: r, json: JSONWriter.write(out.document), ciphertexts: out.ciphertexts))
        }
        entries += old[(old.count - suffix)...]
        cache = EncodeCache(ring: ring, entries: entries)

        var ciphertexts: [ResourceKey: [String: String]] = [:]
        for e in entries where !e.ciphertexts.isEmpty { ciphertexts[e.resource.key] = e.ciphertexts }
        let head = "{\"generation\":\(s.generation),\"hash\":\(JSONWriter.quote(s.hash)),\"origin\":\(JSONWriter.quote(s.origin)),"
            + "\"resolved\":[" + resolvedJSON(s).joined(separator: ",\n") + "],\"resources\":[\n"
        var bytes: [UInt8] = []
        bytes.reserveCapacity(head.utf8.count + entries.reduce(0) { $0 + $1.json.utf8.count + 2 } + 4)
        bytes += head.utf8
        for (i, e) in entries.enumerated() {
            if i > 0 { bytes += ",\n".utf8 }
            bytes += e.json.utf8
        }
        bytes += "\n]}\n".utf8
        return (bytes, skipped, ciphertexts)
    }

    /// The SecretRef fields' keyed digests and versions, so a restart knows which values the last generation served.
    static func resolvedJSON(_ s: DesiredState) -> [String] {
        s.resolved.sorted { $0.key < $1.key }.flatMap { key, byPath in
            byPath.sorted { $0.key < $1.key }.map { path, value in
                "{\"kind\":\(JSONWriter.quote(key.kind.rawValue)),\"namespace\":\(JSONWriter.quote(key.namespace)),\"name\":\(JSONWriter.quote(key.name)),"
                    + "\"path\":\(JSONWriter.quote(path)),\"digest\":\(JSONWriter.quote(value.digest))"
                    + (value.version.map { ",\"version\":\(JSONWriter.quote($0))" } ?? "") + "}"
            }
        }
    }

    /// The ciphertexts a state holds by resource and field path (a state read back from `state.json`).
    static func ciphertexts(_ s: DesiredState) -> [ResourceKey: [String: String]] {
        var out: [ResourceKey: [String: String]] = [:]
        for r in s.sorted {
            guard let spec = r.specNode else { continue }
            SchemaWalker.sensitiveNodes(spec, KindSchemas.spec(r.kind), path: "spec") { path, node in
                if let enc = node["encrypted"]?.scalar?.text { out[r.key, default: [:]][path] = enc }
            }
        }
        return out
    }

    /// `state.json` with every ciphertext moved to the keyring's primary key; fails rather than drop a value.
    public static func reencrypted(_ s: DesiredState, values: SensitiveValues, keyring: Keyring) throws -> [UInt8] {
        let out = encode(s, values: values, keyring: keyring, migrate: true)
        if !out.skipped.isEmpty {
            throw SensitiveValues.Failure(description: "cannot re-encrypt \(out.skipped.map(\.description).joined(separator: ", ")) (is the old key still in the Keyring?); state.json unchanged")
        }
        return try bounded(out.bytes)
    }

    /// What `reboundLegacy` did: the field paths moved from `$enc:v1:` to `$enc:v2:` and those that could not be.
    public struct Rebinding: Sendable {
        public var rebound: [ResourceKey: [String]] = [:]
        public var failed: [ResourceKey: [String: String]] = [:]
    }

    /// A state read from an older `state.json` with every legacy `$enc:v1:` value re-bound to the resource
    /// that holds it (`$enc:v2:`, same key): first the Keyring's material (master key), then the rest with
    /// that Keyring. Values that cannot be opened stay as they are (they do not decrypt, so do not serve).
    static func reboundLegacy(_ s: DesiredState, values: SensitiveValues) -> (state: DesiredState, report: Rebinding) {
        var report = Rebinding()
        var resources = s.resources
        func rebind(_ r: Resource, _ ring: Keyring?) {
            let out = values.reboundLegacy(r, keyring: ring)
            resources[r.key] = out.resource
            if !out.rebound.isEmpty { report.rebound[r.key] = out.rebound }
            if !out.failed.isEmpty { report.failed[r.key] = out.failed }
        }
        for r in s.sorted where r.kind == .keyring { rebind(r, nil) }
        let ring = try? values.keyring(for: DesiredState(generation: s.generation, origin: s.origin, resources: resources))
        for r in s.sorted where r.kind != .keyring { rebind(r, ring) }
        guard !report.rebound.isEmpty else { return (s, report) }
        return (DesiredState(generation: s.generation, origin: s.origin, resources: resources, resolved: s.resolved), report)
    }

    static func decode(_ bytes: [UInt8], path: String) -> DesiredState? {
        // A generation Rampart wrote is a small count; one near Int.max would trap the next `+ 1`.
        guard let root = try? Parser(limits: limits).parse(bytes: bytes).first, let gen = root.int("generation"), StateFile.generations.contains(gen) else { return nil }
        var resources: [ResourceKey: Resource] = [:]
        let decoder = ManifestDecoder(dev: true, acceptsLegacyEncrypted: true, acceptsDigestMarkers: true)
        for doc in root["resources"]?.sequence ?? [] {
            let text = JSONWriter.write(doc)
            for r in decoder.decode(file: path, bytes: Array(text.utf8)).resources { resources[r.key] = r }
        }
        var resolved: [ResourceKey: [String: ResolvedValue]] = [:]
        for item in root["resolved"]?.sequence ?? [] {
            guard let kind = item.str("kind").flatMap(Kind.init(rawValue:)), let ns = item.str("namespace"), let name = item.str("name"),
                  let field = item.str("path"), let digest = item.str("digest") else { continue }
            resolved[ResourceKey(kind, ns, name), default: [:]][field] = ResolvedValue(digest: digest, version: item.str("version"))
        }
        return DesiredState(generation: gen, origin: StateFile.name, resources: resources, resolved: resolved)
    }
}
