import Foundation
import RampartCrypto
import RampartModel
import RampartYAML

/// The append-only, hash-chained audit log (API.md 4.2): one fsynced JSON line per change.
public final class AuditLog: @unchecked Sendable {
    public static let fileName = "audit.log"
    public static let keyFileName = "audit.key"

    private let dir: StateDir
    /// Keys the HMAC that stands in for sensitive values, so equal values match without being revealed.
    private let key: [UInt8]
    private let lock = NSLock()
    private var seq: Int
    private var prev: String

    public init(dir: StateDir) throws {
        self.dir = dir
        if let k = dir.read(Self.keyFileName), k.count == 32 {
            key = k
        } else {
            key = Random.bytes(32)
            try dir.writeAtomically(Self.keyFileName, key)
        }
        let last = AuditLog.lastEntry(dir.read(Self.fileName) ?? [])
        seq = last?.seq ?? 0
        prev = last?.hash ?? ""
    }

    /// The same key over plaintexts: resolved secrets in a generation's identity, digest markers in `state.json`.
    public var digest: SecretDigest { SecretDigest(key: key) }

    /// `hmac-sha256:HEX` of a sensitive value's raw text.
    public func fingerprint(_ raw: Node) -> String {
        "hmac-sha256:" + Hex.encode(HMAC.sha256(key: key, message: Array(Emitter.emit([raw]).utf8)))
    }

    public struct Entry {
        public var actor: String
        public var action: String
        public var key: ResourceKey?
        public var generationFrom: Int
        public var generationTo: Int
        public var diff: String

        public init(actor: String, action: String, key: ResourceKey?, generationFrom: Int, generationTo: Int, diff: String) {
            self.actor = actor
            self.action = action
            self.key = key
            self.generationFrom = generationFrom
            self.generationTo = generationTo
            self.diff = diff
        }
    }

    public func append(_ e: Entry) throws {
        try append([e])
    }

    /// Appends the entries of one change with one write and one fsync (group commit): a change of
    /// 10,000 resources costs one disk flush, and every entry is durable before this returns.
    public func append(_ entries: [Entry]) throws {
        guard !entries.isEmpty else { return }
        lock.lock()
        defer { lock.unlock() }
        var text = ""
        var seq = self.seq, prev = self.prev
        for e in entries {
            let line = Self.line(e, seq: seq + 1, prev: prev)
            text += line.text
            seq += 1
            prev = line.hash
        }
        try dir.appendSynced(Self.fileName, Array(text.utf8))
        self.seq = seq
        self.prev = prev
    }

    private static func line(_ e: Entry, seq next: Int, prev: String) -> (text: String, hash: String) {
        var body = "{\"seq\":\(next),\"time\":\(JSONWriter.quote(Log.timestamp())),\"actor\":\(JSONWriter.quote(e.actor)),"
        body += "\"action\":\(JSONWriter.quote(e.action)),\"kind\":\(JSONWriter.quote(e.key?.kind.rawValue ?? "")),"
        body += "\"namespace\":\(JSONWriter.quote(e.key?.namespace ?? "")),\"name\":\(JSONWriter.quote(e.key?.name ?? "")),"
        body += "\"generationFrom\":\(e.generationFrom),\"generationTo\":\(e.generationTo),\"diff\":\(JSONWriter.quote(e.diff)),"
        body += "\"prev\":\(JSONWriter.quote(prev))}"
        let hash = Hex.encode(SHA256.hash(Array(body.utf8)))
        return (String(body.dropLast()) + ",\"hash\":\"\(hash)\"}\n", hash)
    }

    /// The outcome of checking the chain.
    public struct Verification: Sendable {
        public var entries: Int
        /// The first bad entry's seq (or line number when the seq cannot be read) and why.
        public var firstBad: (seq: Int, reason: String)?
    }

    /// Checks every line: its own hash, the link to the previous hash, and consecutive seq numbers.
    public static func verify(_ bytes: [UInt8]) -> Verification {
        var prev = ""
        var expectedSeq = 1
        var count = 0
        for (i, raw) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if raw.isEmpty { continue }
            let line = String(decoding: raw, as: UTF8.self)
            guard let p = parse(line) else { return Verification(entries: count, firstBad: (expectedSeq, "line \(i + 1) is not an audit entry")) }
            if p.seq != expectedSeq {
                return Verification(entries: count, firstBad: (p.seq, "seq \(p.seq) where \(expectedSeq) was expected (an entry was deleted, inserted or moved)"))
            }
            if p.prev != prev { return Verification(entries: count, firstBad: (p.seq, "prev does not match the previous entry's hash")) }
            if Hex.encode(SHA256.hash(Array(p.body.utf8))) != p.hash {
                return Verification(entries: count, firstBad: (p.seq, "hash does not match the entry's content (edited)"))
            }
            prev = p.hash
            expectedSeq += 1
            count += 1
        }
        return Verification(entries: count, firstBad: nil)
    }

    struct ParsedQuantity {
        var seq: Int
        var prev: String
        var hash: String
        var body: String
    }

    static func parse(_ line: String) -> ParsedQuantity? {
        // The hash covers the line without its trailing `,"hash":"…"` member.
        let marker = ",\"hash\":\""
        guard line.hasSuffix("\"}"), let r = line.range(of: marker, options: .backwards) else { return nil }
        let hash = String(line[r.upperBound..<line.index(line.endIndex, offsetBy: -2)])
        let body = String(line[..<r.lowerBound]) + "}"
        guard let doc = try? Parser().parse(body).first, let seq = doc.int("seq"), let prev = doc.str("prev") else { return nil }
        return ParsedQuantity(seq: seq, prev: prev, hash: hash, body: body)
    }

    static func lastEntry(_ bytes: [UInt8]) -> (seq: Int, hash: String)? {
        guard let raw = bytes.split(separator: UInt8(ascii: "\n")).last else { return nil }
        guard let p = parse(String(decoding: raw, as: UTF8.self)) else { return nil }
        return (p.seq, p.hash)
    }
}

extension Node {
    func int(_ key: String) -> Int? {
        guard let n = self[key], case .int(let v) = n.resolved else { return nil }
        return Int(exactly: v)
    }

    func str(_ key: String) -> String? {
        guard let n = self[key], case .string(let s) = n.resolved else { return nil }
        return s
    }
}
