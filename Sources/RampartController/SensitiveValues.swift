import Foundation
import RampartCrypto
import RampartModel
import RampartYAML
import Synchronization

/// Turns sensitive values into plaintext in memory: inline values, `$enc:` ciphertext (the group's
/// Keyring, or the master key for the Keyring's own material in `state.json`) and SecretRefs (through
/// the secrets module). Nothing it returns is ever logged or written.
public final class SensitiveValues: Sendable {
    /// Key id reserved for the `--master-key-file` key, which encrypts the Keyring's material at rest.
    public static let masterKeyID = "master"

    /// Reads a SecretRef (by reference and optional JSON key).
    public typealias SecretLookup = @Sendable (Reference, String?) throws -> [UInt8]

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private let master: Keyring?
    private let lookup: SecretLookup?
    /// Makes the digest markers that stand in `state.json` for values that cannot be stored encrypted.
    public let digest: SecretDigest?
    /// The group Keyring, rebuilt only when the Keyring resource's digest or its resolved material changes (passphrases cost 600,000 PBKDF2 rounds).
    private let cache = Mutex<(digest: String, keyring: Keyring)?>(nil)

    /// `digest`: without it, a resource whose inline secret cannot be encrypted is left out of `state.json`.
    public init(master: Keyring?, lookup: SecretLookup?, digest: SecretDigest? = nil) {
        self.master = master
        self.lookup = lookup
        self.digest = digest
    }

    /// The master keyring from `--master-key-file` (32 random bytes in base64, or a passphrase).
    public static func loadMaster(path: String?) throws -> Keyring? {
        guard let path else { return nil }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Failure(description: "cannot read --master-key-file \(path)")
        }
        let material = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !material.isEmpty else { throw Failure(description: "--master-key-file \(path) is empty") }
        return try Keyring(materials: [(id: masterKeyID, material: material)])
    }

    /// `spec.plugins.key-auth.keys[3]` → `spec.plugins.key-auth.keys[]`: ciphertext is bound to its field,
    /// not to a list position, so reordering a list does not break decryption.
    public static func boundPath(_ path: String) -> String {
        var out = ""
        var inIndex = false
        for c in path {
            if c == "[" { inIndex = true; out.append("[") } else if c == "]" { inIndex = false; out.append("]") } else if !inIndex { out.append(c) }
        }
        return out
    }

    /// What a ciphertext in field `path` of resource `key` is bound to (list positions dropped).
    public static func binding(_ key: ResourceKey, _ path: String) -> EncryptionBinding {
        EncryptionBinding(kind: key.kind.rawValue, namespace: key.namespace, name: key.name, fieldPath: boundPath(path))
    }

    /// The state's Keyring, if its group has one.
    public func keyring(for state: DesiredState) throws -> Keyring? {
        guard let res = state.sorted.first(where: { $0.kind == .keyring }), let spec = res.keyring else { return nil }
        var materials: [(id: String, material: String)] = []
        var identity: [UInt8] = []
        for (i, k) in spec.keys.enumerated() {
            if k.id == Self.masterKeyID { throw Failure(description: "\(res.key) spec.keys[\(i)].id: \"\(Self.masterKeyID)\" is reserved for --master-key-file") }
            let bytes = try plaintext(k.material, key: res.key, path: "spec.keys[\(i)].material", keyring: nil)
            materials.append((k.id, String(decoding: bytes, as: UTF8.self)))
            for part in [Array(k.id.utf8), bytes] { identity += withUnsafeBytes(of: UInt64(part.count).bigEndian, Array.init) + part }
        }
        // Keyed by the materials themselves (not the resource's digest): a SecretRef material that rotates
        // leaves the resource unchanged, and must still give a new Keyring.
        let digest = Hex.encode(HMAC.sha256(key: DesiredState.digestKey, message: identity))
        if let c = cache.withLock({ $0 }), c.digest == digest { return c.keyring }
        let ring = try Keyring(materials: materials)
        cache.withLock { $0 = (digest, ring) }
        return ring
    }

    /// A resolver for the snapshot builder and the secret providers, bound to this state's Keyring.
    /// The Keyring is built at the first `$enc:` value and kept once built; a failure is tried again,
    /// because a provider keeps its resolver while the Keyring's own SecretRefs are still being registered.
    public func resolver(for state: DesiredState) -> @Sendable (Sensitive, ResourceKey, String) throws -> [UInt8] {
        let built = KeyringMemo()
        return { [self] value, key, path in
            guard case .encrypted = value.source else { return try plaintext(value, key: key, path: path, keyring: nil) }
            let ring: Keyring?
            if let done = built.value.withLock({ $0 }) { ring = done } else {
                ring = try keyring(for: state)
                built.value.withLock { $0 = .some(ring) }
            }
            return try plaintext(value, key: key, path: path, keyring: ring)
        }
    }

    /// The Keyring one resolver built (nil until built; `.some(nil)`: the state has none).
    private final class KeyringMemo: Sendable {
        let value = Mutex<Keyring??>(nil)
    }

    func plaintext(_ value: Sensitive, key: ResourceKey, path: String, keyring: Keyring?) throws -> [UInt8] {
        switch value.source {
        case .inline(let s):
            return Array(s.utf8)
        case .encrypted(let enc):
            let id = (try? EncryptedValue.parse(enc).keyID) ?? ""
            let binding = Self.binding(key, path)
            let ring: Keyring
            if id == Self.masterKeyID {
                guard let master else { throw Failure(description: "\(key) \(path): encrypted with the master key; start with --master-key-file") }
                ring = master
            } else {
                guard let keyring else { throw Failure(description: "\(key) \(path): encrypted with key \"\(id)\" but the gateway group has no Keyring") }
                ring = keyring
            }
            do {
                return try ring.decrypt(enc, binding: binding)
            } catch {
                throw Failure(description: "\(key) \(path): cannot decrypt with key \"\(id)\": \(error)")
            }
        case .digest:
            throw Failure(description: "\(key) \(path): \(Self.pendingReason)")
        case .secretRef(let ref, let field):
            guard let lookup else { throw Failure(description: "\(key) \(path): SecretRef \(ref) cannot be resolved (no secret providers)") }
            do {
                return try lookup(ref, field)
            } catch {
                throw Failure(description: "\(key) \(path): SecretRef \(ref): \(error)")
            }
        }
    }

    /// The resource's document for `state.json`: inline secrets encrypted (the group Keyring; the master
    /// key for the Keyring's own material); without a key to encrypt with, a digest marker in the value's
    /// place (`digest`); nil when neither can be made (then the resource is not written).
    ///
    /// `previous` holds the ciphertexts last written for this resource by field path: one that still
    /// decrypts to the same plaintext is kept as it is, so stored values stay under the key that made
    /// them until `reencrypt` moves them (`migrate`), and a rotation can be checked against them.
    func persistable(_ r: Resource, keyring: Keyring?, previous: [String: String] = [:], migrate: Bool = false)
        -> (document: Node, ciphertexts: [String: String])? {
        guard let spec = r.specNode else { return (r.document, [:]) }
        let ring = r.kind == .keyring ? master : keyring
        var failed = false
        var written: [String: String] = [:]
        let newSpec = Self.mapSensitive(spec, KindSchemas.spec(r.kind), path: "spec") { path, node in
            let bound = Self.binding(r.key, path)
            if let enc = node["encrypted"]?.scalar?.text {
                guard migrate, let value = try? EncryptedValue.parse(enc) else {
                    written[path] = enc
                    return node
                }
                let owner = value.keyID == Self.masterKeyID ? master : keyring
                let moved: String?
                if value.version == .v1 {
                    // Only Rampart's own stored values reach here (manifests refuse v1), so re-binding them is safe.
                    moved = try? owner?.rebindLegacy(enc, binding: bound, toPrimary: value.keyID != Self.masterKeyID)
                } else if value.keyID != Self.masterKeyID, let keyring, value.keyID != keyring.primaryKeyID {
                    moved = try? keyring.reencrypt(enc, binding: bound)
                } else {
                    written[path] = enc
                    return node
                }
                guard let moved else {
                    failed = true
                    return node
                }
                written[path] = moved
                return Node(.mapping([Pair(key: .string("encrypted"), value: .string(moved))]))
            }
            guard let plain = node["value"]?.scalar?.text else {
                if node["value"] != nil { failed = true }
                return node
            }
            guard let ring else {
                // No key to encrypt with: keep the resource, store only what tells an equal value from a changed one.
                guard let digest else {
                    failed = true
                    return node
                }
                return Self.digestMarker(digest.fingerprint(Array(plain.utf8)))
            }
            let bytes = Array(plain.utf8)
            var enc: String?
            if !migrate, let old = previous[path], let opened = try? ring.decrypt(old, binding: bound), ConstantTime.equals(opened, bytes) {
                enc = old
            } else {
                enc = try? ring.encrypt(plaintext: bytes, binding: bound)
            }
            guard let enc else {
                failed = true
                return node
            }
            written[path] = enc
            return Node(.mapping([Pair(key: .string("encrypted"), value: .string(enc))]))
        }
        if failed { return nil }
        guard case .mapping(let pairs) = r.document.value else { return nil }
        let doc = Node(.mapping(pairs.map { $0.key.scalar?.text == "spec" ? Pair(key: $0.key, value: newSpec) : $0 }), mark: r.document.mark)
        return (doc, written)
    }

    /// Rebuilds a tree with each sensitive node replaced by `transform(path, node)`.
    static func mapSensitive(_ node: Node, _ schema: Schema, path: String, _ transform: (String, Node) -> Node) -> Node {
        switch schema {
        case .sensitive:
            return transform(path, node)
        case .object(let fields):
            guard case .mapping(let pairs) = node.value else { return node }
            return Node(.mapping(pairs.map { p in
                guard let k = p.key.scalar?.text, let f = fields.first(where: { $0.name == k }), f.holdsSensitive else { return p }
                return Pair(key: p.key, value: mapSensitive(p.value, f.schema, path: path.isEmpty ? k : "\(path).\(k)", transform))
            }), mark: node.mark, tag: node.tag)
        case .array(let item, _):
            guard case .sequence(let items) = node.value else { return node }
            return Node(.sequence(items.enumerated().map { mapSensitive($1, item, path: "\(path)[\($0)]", transform) }), mark: node.mark, tag: node.tag)
        case .map(let value):
            guard case .mapping(let pairs) = node.value else { return node }
            return Node(.mapping(pairs.map { Pair(key: $0.key, value: mapSensitive($0.value, value, path: "\(path).\($0.key.scalar?.text ?? "")", transform)) }),
                        mark: node.mark, tag: node.tag)
        default:
            return node
        }
    }
}

extension SensitiveValues {
    /// How many `$enc:` values (either version) each key protects in a stored text (`state.json`).
    public static func ciphertextCounts(_ text: String) -> [String: Int] {
        var counts: [String: Int] = [:]
        var rest = Substring(text)
        while let r = rest.range(of: "$enc:v") {
            var after = rest[r.upperBound...]
            if let versionEnd = after.firstIndex(of: ":") {
                after = after[after.index(after: versionEnd)...]
                if let colon = after.firstIndex(of: ":") { counts[String(after[..<colon]), default: 0] += 1 }
            }
            rest = after
        }
        return counts
    }

    /// A resource read from an older `state.json` with its legacy `$enc:v1:` values (bound to the field
    /// only) opened and sealed again as `$enc:v2:` bound to this resource, each under the key that made
    /// it. `rebound`: the field paths moved; `failed`: those that could not be (by path, why; never data).
    func reboundLegacy(_ r: Resource, keyring: Keyring?) -> (resource: Resource, rebound: [String], failed: [String: String]) {
        guard let spec = r.specNode else { return (r, [], [:]) }
        var rebound: [String] = []
        var failed: [String: String] = [:]
        let newSpec = Self.mapSensitive(spec, KindSchemas.spec(r.kind), path: "spec") { path, node in
            guard let enc = node["encrypted"]?.scalar?.text, let value = try? EncryptedValue.parse(enc), value.version == .v1 else { return node }
            guard let ring = value.keyID == Self.masterKeyID ? master : keyring else {
                failed[path] = value.keyID == Self.masterKeyID ? "encrypted with the master key; start with --master-key-file" : "no Keyring to open it"
                return node
            }
            do {
                let moved = try ring.rebindLegacy(enc, binding: Self.binding(r.key, path))
                rebound.append(path)
                return Node(.mapping([Pair(key: .string("encrypted"), value: .string(moved))]), mark: node.mark)
            } catch {
                failed[path] = "\(error)"
                return node
            }
        }
        return (rebound.isEmpty ? r : r.replacingSpec(newSpec), rebound, failed)
    }
}

/// The keyed digest (HMAC-SHA256 under the state dir's audit key) that identifies a sensitive value
/// without revealing it: in the desired state's hash, in `state.json`'s digest markers, in the audit log.
/// Equal values match; a guess cannot be checked without the key.
public struct SecretDigest: Sendable {
    private let key: [UInt8]

    public init(key: [UInt8]) {
        self.key = key
    }

    /// The key of a state dir (`audit.key`), if it has one; `rampart diff` reads markers with it.
    public static func load(stateDir: String) -> SecretDigest? {
        guard let bytes = FileManager.default.contents(atPath: stateDir + "/" + AuditLog.keyFileName), bytes.count == 32 else { return nil }
        return SecretDigest(key: [UInt8](bytes))
    }

    /// `hmac-sha256:HEX` of a plaintext.
    public func fingerprint(_ plaintext: [UInt8]) -> String {
        "hmac-sha256:" + Hex.encode(HMAC.sha256(key: key, message: plaintext))
    }
}

/// A SecretRef field's resolved value as a generation knows it: its keyed digest and the store's version id.
public struct ResolvedValue: Sendable, Equatable {
    public var digest: String
    public var version: String?

    public init(digest: String, version: String?) {
        self.digest = digest
        self.version = version
    }

    /// What the generation's hash covers.
    var identity: String { version.map { "\(digest) version=\($0)" } ?? digest }
}

extension SensitiveValues {
    /// Why a resource restored with a digest marker is not served yet (its status reason is `SecretPending`).
    public static let pendingReason = "the value was not stored (no Keyring to encrypt it); served once the source provides it again"

    /// `{digest: "hmac-sha256:HEX"}`: a value's place in `state.json` when it cannot be stored encrypted.
    static func digestMarker(_ fingerprint: String) -> Node {
        Node(.mapping([Pair(key: .string("digest"), value: .string(fingerprint))]))
    }

    /// Whether the resource holds a digest marker (restored from `state.json`, its value not yet provided again).
    public static func holdsDigestMarker(_ r: Resource) -> Bool {
        guard let spec = r.specNode else { return false }
        var found = false
        SchemaWalker.sensitiveNodes(spec, KindSchemas.spec(r.kind), path: "spec") { _, node in
            if node["digest"] != nil { found = true }
        }
        return found
    }

    /// `local` with each inline value replaced by its digest marker where `stored` (read from `state.json`)
    /// holds a marker at the same path, so that a diff compares digests: equal is unchanged, unequal is changed.
    public static func digestMarked(_ local: Resource, like stored: Resource, digest: SecretDigest) -> Resource {
        guard let spec = local.specNode, let storedSpec = stored.specNode else { return local }
        var markers = Set<String>()
        SchemaWalker.sensitiveNodes(storedSpec, KindSchemas.spec(stored.kind), path: "spec") { path, node in
            if node["digest"] != nil { markers.insert(path) }
        }
        guard !markers.isEmpty else { return local }
        let marked = mapSensitive(spec, KindSchemas.spec(local.kind), path: "spec") { path, node in
            guard markers.contains(path), let plain = node["value"]?.scalar?.text else { return node }
            return digestMarker(digest.fingerprint(Array(plain.utf8)))
        }
        return local.replacingSpec(marked)
    }
}
