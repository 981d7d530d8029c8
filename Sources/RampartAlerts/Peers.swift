import Foundation
import RampartHTTPClient
import Synchronization

/// Probes other instances' `/healthz` (directory mode, `--peers URL,...`), one thread per peer so a
/// peer that hangs delays no other; publishes when each was last seen alive.
public final class PeerProbe: Sendable {
    public let peers: [String]
    private let seen: Mutex<[String: HeartbeatFact]>
    private let stopped = Atomic<Bool>(false)
    private let intervalSeconds: Double
    private let caFile: String?

    public init(peers: [String], intervalSeconds: Double = 1, caFile: String? = nil, now: Double = Date().timeIntervalSince1970) {
        self.peers = peers
        self.intervalSeconds = intervalSeconds
        self.caFile = caFile
        seen = Mutex(Dictionary(uniqueKeysWithValues: peers.map { ($0, HeartbeatFact(peer: $0, lastSeen: nil, watchedSince: now, error: nil)) }))
    }

    /// `URL,URL`: each an http(s) base URL; refuses anything else.
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public static func parse(_ text: String) throws(Invalid) -> [String] {
        let urls = text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for u in urls where !(u.hasPrefix("http://") || u.hasPrefix("https://")) || u.count < 10 {
            throw Invalid(description: "--peers: \"\(u)\" is not an http:// or https:// URL")
        }
        return urls
    }

    public func start() {
        for peer in peers {
            let t = Thread { [self] in
                while !stopped.load(ordering: .relaxed) {
                    probe(peer)
                    Thread.sleep(forTimeInterval: intervalSeconds)
                }
            }
            t.name = "rampart-peer-probe"
            t.start()
        }
    }

    public func stop() { stopped.store(true, ordering: .relaxed) }

    func probe(_ peer: String) {
        var base = peer
        while base.hasSuffix("/") { base.removeLast() }
        let timeout = Int(max(0.2, min(intervalSeconds, 5)) * 1000) * 2
        var failure: String?
        do {
            let r = try HTTPClient.send(HTTPRequest(url: base + "/healthz", timeoutMs: timeout, caFile: caFile), maxBodyBytes: 4096)
            if r.status != 200 { failure = "HTTP \(r.status)" }
        } catch {
            failure = "\(error)"
        }
        let now = Date().timeIntervalSince1970
        seen.withLock { s in
            guard var h = s[peer] else { return }
            if failure == nil { h.lastSeen = now }
            h.error = failure
            s[peer] = h
        }
    }

    public func heartbeats() -> [HeartbeatFact] {
        seen.withLock { s in peers.compactMap { s[$0] } }
    }
}
