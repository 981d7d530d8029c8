import Foundation
import RampartHTTPClient

/// Sends one contact point's notifications on its own thread: a bounded queue (the oldest is dropped
/// when full, counted), a timeout per attempt, retries with backoff. A contact point that hangs or fails
/// only ever holds up its own queue.
final class DeliveryQueue: @unchecked Sendable {
    /// Notifications waiting per contact point; past this the oldest goes (a dead receiver must not hold memory).
    static let capacity = 256
    /// Attempts per notification, and the pause before each retry (seconds, doubling).
    static let attempts = 4
    static let firstBackoff = 0.5

    struct Counts: Equatable {
        var sent = 0
        var failed = 0
        var dropped = 0
    }

    let config: ContactPointConfig
    private let cond = NSCondition()
    // Guarded by `cond`.
    private var items: [AlertNotification] = []
    private var stopped = false
    private var counts = Counts()
    private let hmac: HMACSHA256
    private let send: @Sendable (HTTPRequest) throws -> HTTPResponse
    private let clock: @Sendable () -> Double
    private let log: @Sendable (String, [String: String]) -> Void
    private let backoff: Double

    init(_ config: ContactPointConfig, hmac: @escaping HMACSHA256, clock: @escaping @Sendable () -> Double,
         send: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse, backoff: Double = DeliveryQueue.firstBackoff,
         log: @escaping @Sendable (String, [String: String]) -> Void) {
        self.config = config
        self.hmac = hmac
        self.send = send
        self.clock = clock
        self.log = log
        self.backoff = backoff
    }

    func start() {
        let t = Thread { [self] in run() }
        t.name = "rampart-alerts-\(config.kind.rawValue)"
        t.start()
    }

    /// Never blocks: a full queue drops its oldest notification.
    func enqueue(_ n: AlertNotification) {
        cond.lock()
        defer { cond.unlock() }
        guard !stopped else { return }
        if items.count >= Self.capacity {
            items.removeFirst()
            counts.dropped += 1
        }
        items.append(n)
        cond.signal()
    }

    /// What is still queued (handed to the queue that replaces this one).
    func stop() -> [AlertNotification] {
        cond.lock()
        defer { cond.unlock() }
        stopped = true
        let left = items
        items = []
        cond.broadcast()
        return left
    }

    var snapshot: Counts {
        cond.lock()
        defer { cond.unlock() }
        return counts
    }

    private func run() {
        while true {
            cond.lock()
            while items.isEmpty && !stopped { cond.wait() }
            if stopped {
                cond.unlock()
                return
            }
            let n = items.removeFirst()
            cond.unlock()
            let ok = deliver(n)
            cond.lock()
            if ok { counts.sent += 1 } else { counts.failed += 1 }
            cond.unlock()
        }
    }

    /// One notification with its retries; false when every attempt failed or the answer was final (4xx).
    func deliver(_ n: AlertNotification) -> Bool {
        var pause = backoff
        for attempt in 1...Self.attempts {
            let outcome = Self.attempt(ContactPointRequest.make(n, for: config, now: clock(), hmac: hmac), send: send)
            switch outcome {
            case .delivered:
                return true
            case .final(let why):
                log("alert notification refused", ["contactPoint": config.id, "rule": n.rule, "reason": why])
                return false
            case .retry(let why):
                if attempt == Self.attempts {
                    log("alert notification failed", ["contactPoint": config.id, "rule": n.rule, "reason": why, "attempts": "\(attempt)"])
                    return false
                }
                // Waits on the queue's condition, so a stop ends the wait.
                cond.lock()
                let deadline = Date().addingTimeInterval(pause)
                while !stopped && Date() < deadline { _ = cond.wait(until: deadline) }
                let stopping = stopped
                cond.unlock()
                if stopping { return false }
                pause *= 2
            }
        }
        return false
    }

    enum Outcome: Equatable {
        case delivered
        case retry(String)
        case final(String)
    }

    /// One send. The reason never holds the URL (a Slack URL is a credential) or a header.
    static func attempt(_ req: HTTPRequest, send: (HTTPRequest) throws -> HTTPResponse) -> Outcome {
        do {
            let r = try send(req)
            switch r.status {
            case 200...299: return .delivered
            case 408, 425, 429, 500...599: return .retry("HTTP \(r.status)")
            default: return .final("HTTP \(r.status)")
            }
        } catch let e as HTTPClientError {
            let prefix = "\(req.method) \(req.url): "
            return .retry(e.description.hasPrefix(prefix) ? String(e.description.dropFirst(prefix.count)) : "transport error")
        } catch {
            return .retry("transport error")
        }
    }
}
