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
    /// What start-up repaired in the file (a torn last line), for the caller to log; nil when it was whole.
    public private(set) var repaired: String?

    public init(dir: StateDir) throws {
        self.dir = dir
        if let k = dir.read(Self.keyFileName), k.count == 32 {
            key = k
        } else {
            key = Random.bytes(32)
            try dir.writeAtomically(Self.keyFileName, key)
        }
        var bytes = dir.read(Self.fileName) ?? []
        let repair = try Self.repairTornTail(&bytes, path: dir.file(Self.fileName))
        let last = AuditLog.lastEntry(bytes)
        seq = last?.seq ?? 0
        prev = last?.hash ?? ""
        if let repair {
            try append(Entry(actor: "rampart", action: "repair", key: nil, generationFrom: last?.generation ?? 0,
                             generationTo: last?.generation ?? 0, diff: repair))
            repaired = repair
        }
    }

    /// A crash mid-write leaves a last line without its newline. Left there, the next entry would be
    /// glued onto it and the chain restart at seq 1; instead the torn bytes are cut off (their digest
    /// kept in the repair entry) so the chain continues from the last whole entry. A tail that is a
    /// whole entry missing only its newline is kept and completed.
    static func repairTornTail(_ bytes: inout [UInt8], path: String) throws -> String? {
        guard let lastByte = bytes.last, lastByte != UInt8(ascii: "\n") else { return nil }
        let keep = bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        let tail = Array(bytes[keep...])
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StateDir.Failure(description: "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let previous = lastEntry(Array(bytes[..<keep]))
        if let whole = parse(String(decoding: tail, as: UTF8.self)), whole.seq == (previous?.seq ?? 0) + 1, whole.prev == (previous?.hash ?? "") {
            let newline: [UInt8] = [UInt8(ascii: "\n")]
            guard lseek(fd, 0, SEEK_END) >= 0, StateDir.writeAll(fd, newline), fsync(fd) == 0 else {
                throw StateDir.Failure(description: "repair \(path): \(String(cString: strerror(errno)))")
            }
            bytes += newline
            return "completed entry seq \(whole.seq), whose newline an interrupted write left out"
        }
        guard ftruncate(fd, off_t(keep)) == 0, fsync(fd) == 0 else {
            throw StateDir.Failure(description: "repair \(path): \(String(cString: strerror(errno)))")
        }
        bytes.removeSubrange(keep...)
        return "removed a torn last line left by an interrupted write (\(tail.count) bytes, sha256 \(Hex.encode(SHA256.hash(tail)))); "
            + "the chain continues from seq \(previous?.seq ?? 0)"
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
        // One change, one moment: formatting the time once keeps a first reconcile of 10,000 entries
        // from spending tens of milliseconds on the same timestamp.
        let time = JSONWriter.quote(Log.timestamp())
        for e in entries {
            let line = Self.line(e, seq: seq + 1, prev: prev, time: time)
            text += line.text
            seq += 1
            prev = line.hash
        }
        try dir.appendSynced(Self.fileName, Array(text.utf8))
        self.seq = seq
        self.prev = prev
    }

    /// `time`: the entry's timestamp, already quoted.
    private static func line(_ e: Entry, seq next: Int, prev: String, time: String) -> (text: String, hash: String) {
        var body = "{\"seq\":\(next),\"time\":\(time),\"actor\":\(JSONWriter.quote(e.actor)),"
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
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (i, raw) in lines.enumerated() {
            if raw.isEmpty { continue }
            let line = String(decoding: raw, as: UTF8.self)
            guard let p = parse(line) else {
                let torn = i == lines.count - 1 ? " (torn by an interrupted write; `rampart run` repairs it at start)" : ""
                return Verification(entries: count, firstBad: (expectedSeq, "line \(i + 1) is not an audit entry" + torn))
            }
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
        var generation: Int
    }

    static func parse(_ line: String) -> ParsedQuantity? {
        // The hash covers the line without its trailing `,"hash":"…"` member.
        let marker = ",\"hash\":\""
        guard line.hasSuffix("\"}"), let r = line.range(of: marker, options: .backwards) else { return nil }
        let hash = String(line[r.upperBound..<line.index(line.endIndex, offsetBy: -2)])
        let body = String(line[..<r.lowerBound]) + "}"
        guard let doc = try? Parser().parse(body).first, let seq = doc.int("seq"), let prev = doc.str("prev") else { return nil }
        return ParsedQuantity(seq: seq, prev: prev, hash: hash, body: body, generation: doc.int("generationTo") ?? 0)
    }

    static func lastEntry(_ bytes: [UInt8]) -> (seq: Int, hash: String, generation: Int)? {
        guard let raw = bytes.split(separator: UInt8(ascii: "\n")).last else { return nil }
        guard let p = parse(String(decoding: raw, as: UTF8.self)) else { return nil }
        return (p.seq, p.hash, p.generation)
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
