import Foundation
import RampartHTTPClient
import Synchronization

/// A reflector for one collection: LIST (paged), then WATCH from the list's resourceVersion,
/// reporting `WatchEvent`s in order on its own thread.
///
/// - A watch that ends (the server's `timeoutSeconds`) or drops is resumed from the last
///   resourceVersion seen (events and bookmarks), without a relist; failures back off
///   exponentially with jitter (0.5 s to 30 s).
/// - `410 Gone`, as the watch's HTTP status or as an `ERROR` event with code 410, means that
///   version is compacted away: list again and report `.replaced` (the consumer diffs; see `ObjectCache`).
/// - A hostile server cannot exhaust memory or crash it: an event over `maxEventBytes`, a line that
///   never ends or bad JSON restarts the watch (logged); an object of another kind is ignored (logged).
///
/// ```swift
/// let reflector = ListWatch(client: client, config: .init(path: "/apis/rampart.io/v1alpha1/routes", kind: "Route"))
/// reflector.start { event in store.apply(event) }   // runs on the reflector's thread
/// reflector.stop()                                  // returns once the thread has ended
/// ```
public final class ListWatch: Sendable {
    public struct Config: Sendable {
        /// The collection: `/apis/rampart.io/v1alpha1/routes` (all namespaces) or `…/namespaces/NS/routes`.
        public var path: String
        /// The objects' kind (`Route`); an object of another kind is refused.
        public var kind: String
        public var labelSelector: String?
        public var fieldSelector: String?
        public var pageSize: Int
        /// Asked of the server per watch; it ends the stream cleanly after that.
        public var watchTimeoutSeconds: Int
        /// A single event (one line) larger than this is refused and the watch restarted.
        public var maxEventBytes: Int
        /// A list with more objects, or more bytes over all its pages, is refused (a server paging forever).
        public var maxListObjects: Int
        public var maxListBytes: Int
        public var backoffInitial: Double
        public var backoffMax: Double

        public init(path: String, kind: String, labelSelector: String? = nil, fieldSelector: String? = nil, pageSize: Int = 500,
                    watchTimeoutSeconds: Int = 300, maxEventBytes: Int = 16 << 20, maxListObjects: Int = 1_000_000,
                    maxListBytes: Int = 1 << 30, backoffInitial: Double = 0.5, backoffMax: Double = 30) {
            self.path = path
            self.kind = kind
            self.labelSelector = labelSelector
            self.fieldSelector = fieldSelector
            self.pageSize = pageSize
            self.watchTimeoutSeconds = watchTimeoutSeconds
            self.maxEventBytes = maxEventBytes
            self.maxListObjects = maxListObjects
            self.maxListBytes = maxListBytes
            self.backoffInitial = backoffInitial
            self.backoffMax = backoffMax
        }
    }

    /// What the reflector has done so far (for metrics and tests).
    public struct Counters: Sendable, Equatable {
        public var lists = 0
        public var watches = 0
        /// Relists caused by 410 Gone (either shape).
        public var expired = 0
        /// Watches that ended in an error (transport, bad event, non-200 answer).
        public var watchFailures = 0
    }

    public let client: KubernetesClient
    public let config: Config
    private let log: @Sendable (String) -> Void
    private let signal = StopSignal()
    private let state = Mutex<(resourceVersion: String?, counters: Counters, started: Bool)>((nil, Counters(), false))
    private let finished = DispatchSemaphore(value: 0)
    private let threadName: String

    public init(client: KubernetesClient, config: Config, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.client = client
        self.config = config
        self.log = log
        threadName = "rampart-watch-\(config.kind)-\(UUID().uuidString.prefix(8))"
    }

    /// The last resourceVersion seen (list, event or bookmark).
    public var resourceVersion: String? { state.withLock { $0.resourceVersion } }
    public var counters: Counters { state.withLock { $0.counters } }

    /// Starts the reflector's thread; `handler` is called on it for every event, in order. A slow
    /// handler slows reading the stream (the server buffers), it loses nothing. Starts once.
    public func start(_ handler: @escaping @Sendable (WatchEvent) -> Void) {
        let first = state.withLock { s -> Bool in
            defer { s.started = true }
            return !s.started
        }
        guard first else { return }
        let thread = Thread { [self] in
            run(handler)
            finished.signal()
        }
        thread.name = threadName
        thread.start()
    }

    /// Ends the reflector: cancels the transfer in flight and waits for the thread to finish
    /// (unless called from the handler, on that thread). No event is delivered after it returns.
    public func stop() {
        signal.stop()
        let started = state.withLock { $0.started }
        guard started, Thread.current.name != threadName else { return }
        finished.wait()
        finished.signal()
    }

    private func run(_ handler: @Sendable (WatchEvent) -> Void) {
        var backoff = Backoff(initial: config.backoffInitial, max: config.backoffMax)
        var needList = true
        while !signal.isStopped {
            if needList {
                do {
                    let (objects, version) = try list()
                    if signal.isStopped { return }
                    state.withLock { $0.resourceVersion = version }
                    handler(.replaced(objects))
                    needList = false
                } catch {
                    if signal.isStopped { return }
                    log("kubernetes \(config.kind): list \(config.path) failed: \(error)")
                    if signal.wait(seconds: backoff.next()) { return }
                    continue
                }
            }
            let started = ContinuousClock.now
            let outcome = watch(handler)
            switch outcome.end {
            case .stopped:
                return
            case .expired:
                state.withLock { $0.counters.expired += 1 }
                log("kubernetes \(config.kind): resourceVersion \(printable(resourceVersion ?? "", max: 64)) expired (410); listing again")
                needList = true
                // An immediate 410 after a fresh list is the server's fault: do not hammer it.
                if outcome.events == 0, signal.wait(seconds: backoff.next()) { return }
            case .ended:
                if outcome.events > 0 || ContinuousClock.now - started > .seconds(5) {
                    backoff.reset()
                } else if signal.wait(seconds: backoff.next()) {
                    return
                }
            case .failed(let reason):
                state.withLock { $0.counters.watchFailures += 1 }
                if outcome.events > 0 { backoff.reset() }
                let delay = backoff.next()
                log("kubernetes \(config.kind): watch \(config.path) failed: \(reason); resuming from resourceVersion \(printable(resourceVersion ?? "", max: 64)) in \(String(format: "%.1f", delay))s")
                if signal.wait(seconds: delay) { return }
            }
        }
    }

    /// Every page of the collection: the objects and the list's resourceVersion.
    public func list() throws -> ([KubeObject], String) {
        state.withLock { $0.counters.lists += 1 }
        var objects: [KubeObject] = []
        var token: String?
        var restarts = 0
        var bytes = 0
        while true {
            var query = [("limit", String(max(1, config.pageSize)))]
            query += selectors
            if let token { query.append(("continue", token)) }
            let body: [UInt8]
            do {
                body = try client.send("GET", config.path, query: query, maxBodyBytes: max(1, min(256 << 20, config.maxListBytes - bytes)), stop: signal)
            } catch let error as APIStatusError where error.code == 410 && token != nil && restarts < 3 {
                // The continue token expired mid-list: start over for one consistent snapshot.
                restarts += 1
                objects = []
                token = nil
                bytes = 0
                continue
            }
            bytes += body.count
            let page = try KubeJSON.object(body, maxBytes: 256 << 20)
            guard let meta = page["metadata"] as? [String: Any], let version = KubeJSON.string(meta["resourceVersion"]), !version.isEmpty else {
                throw KubeJSON.Failure(description: "list answer without metadata.resourceVersion")
            }
            guard let items = page["items"] as? [Any] ?? (page["items"] is NSNull ? [] : nil) else {
                throw KubeJSON.Failure(description: "list answer without items")
            }
            guard items.count <= config.maxListObjects - objects.count else {
                throw KubeJSON.Failure(description: "list has over \(config.maxListObjects) objects")
            }
            let listVersion = KubeJSON.string(page["apiVersion"])
            for item in items {
                guard let item = item as? [String: Any] else { throw KubeJSON.Failure(description: "list item is not an object") }
                guard let object = try accept(item, defaultAPIVersion: listVersion) else { continue }
                objects.append(object)
            }
            if let next = KubeJSON.string(meta["continue"]), !next.isEmpty {
                guard next != token else { throw KubeJSON.Failure(description: "list continue token repeats") }
                token = next
            } else {
                return (objects, version)
            }
        }
    }

    /// An object of the configured kind, or nil (logged) for one of another kind.
    private func accept(_ item: [String: Any], defaultAPIVersion: String?) throws -> KubeObject? {
        let object = try KubeObject(json: item, defaultKind: config.kind, defaultAPIVersion: defaultAPIVersion)
        guard object.metadata.kind == config.kind else {
            log("kubernetes \(config.kind): ignored an object of kind \(printable(object.metadata.kind, max: 64)) from \(config.path)")
            return nil
        }
        return object
    }

    private var selectors: [(String, String)] {
        var query: [(String, String)] = []
        if let labels = config.labelSelector { query.append(("labelSelector", labels)) }
        if let fields = config.fieldSelector { query.append(("fieldSelector", fields)) }
        return query
    }

    enum WatchEnd {
        case stopped, expired, ended
        case failed(String)
    }

    /// One watch request, read to its end. Events counts events and bookmarks received.
    func watch(_ handler: @Sendable (WatchEvent) -> Void) -> (end: WatchEnd, events: Int) {
        guard let version = resourceVersion else { return (.expired, 0) }
        state.withLock { $0.counters.watches += 1 }
        let timeout = max(1, config.watchTimeoutSeconds)
        var query = [("watch", "1"), ("resourceVersion", version), ("allowWatchBookmarks", "true"), ("timeoutSeconds", String(timeout))]
        query += selectors
        let request: HTTPRequest
        do {
            // The whole transfer is bounded too, so that a server dribbling bytes cannot hold it forever.
            request = try client.httpRequest("GET", config.path, query: query, timeoutMs: (timeout + 60) * 1000)
        } catch {
            return (.failed("\(error)"), 0)
        }
        var splitter = LineSplitter(maxLineBytes: config.maxEventBytes)
        var errorBody: [UInt8] = []
        var events = 0
        var end: WatchEnd?
        let result: HTTPStreamResult
        do {
            result = try HTTPClient.stream(request, options: HTTPStreamOptions(idleTimeoutSeconds: timeout + 30),
                                           cancellation: signal.cancellation) { status, chunk in
                guard status == 200 else {
                    // An error answer is a Status object; keep enough of it to decode.
                    guard errorBody.count + chunk.count <= 1 << 20 else { return false }
                    errorBody.append(contentsOf: chunk)
                    return true
                }
                do {
                    try splitter.feed(chunk) { line in
                        events += 1
                        if let stop = try handle(line: line, handler) {
                            end = stop
                            throw StopReading()
                        }
                    }
                } catch is StopReading {
                    return false
                } catch {
                    end = .failed("\(error)")
                    return false
                }
                return !signal.isStopped
            }
        } catch {
            if signal.isStopped { return (.stopped, events) }
            return (.failed("\(error)"), events)
        }
        if signal.isStopped || result.end == .cancelled { return (.stopped, events) }
        if let end { return (end, events) }
        if result.status == 410 { return (.expired, events) }
        guard result.status == 200 else {
            let error = APIStatusError.decode(status: result.status, body: errorBody, verb: "GET", path: config.path)
            if error.code == 410 { return (.expired, events) }
            return (.failed("\(error)"), events)
        }
        if splitter.finish() != nil { return (.failed("the stream ended inside an event"), events) }
        return (.ended, events)
    }

    private struct StopReading: Error {}

    /// Acts on one event line; a non-nil answer ends this watch.
    private func handle(line: [UInt8], _ handler: @Sendable (WatchEvent) -> Void) throws -> WatchEnd? {
        switch WatchLine.decode(line, maxBytes: config.maxEventBytes, path: config.path) {
        case .event(let event, let item):
            guard item.metadata.kind == config.kind else {
                log("kubernetes \(config.kind): ignored an event for an object of kind \(printable(item.metadata.kind, max: 64)) from \(config.path)")
                return nil
            }
            if !item.metadata.resourceVersion.isEmpty { state.withLock { $0.resourceVersion = item.metadata.resourceVersion } }
            handler(event)
            return nil
        case .bookmark(let version):
            if let version { state.withLock { $0.resourceVersion = version } }
            return nil
        case .expired:
            return .expired
        case .invalid(let reason):
            return .failed(reason)
        }
    }
}

/// One line of a watch stream, decoded: the single parser of watch events (the reflector and the fuzz target use it).
public enum WatchLine: Sendable {
    /// ADDED, MODIFIED or DELETED, with the object.
    case event(WatchEvent, KubeObject)
    /// A BOOKMARK and the resourceVersion it carries (nil: none usable).
    case bookmark(String?)
    /// An ERROR event meaning 410: the resourceVersion is too old.
    case expired
    /// Not a usable event (bad JSON, unknown type, another ERROR): the watch is restarted.
    case invalid(String)

    public static func decode(_ line: [UInt8], maxBytes: Int = 16 << 20, path: String = "") -> WatchLine {
        let event: [String: Any]
        do { event = try KubeJSON.object(line, maxBytes: maxBytes) } catch {
            return .invalid("a watch event is not a JSON object (\(error))")
        }
        guard let type = KubeJSON.string(event["type"]), let object = event["object"] as? [String: Any] else {
            return .invalid("a watch event without type or object")
        }
        switch type {
        case "ADDED", "MODIFIED", "DELETED":
            let item: KubeObject
            do { item = try KubeObject(json: object) } catch { return .invalid("\(type) event: \(error)") }
            return .event(type == "ADDED" ? .added(item) : type == "MODIFIED" ? .modified(item) : .deleted(item), item)
        case "BOOKMARK":
            let meta = object["metadata"] as? [String: Any]
            return .bookmark(KubeJSON.string(meta?["resourceVersion"]).flatMap { $0.isEmpty ? nil : $0 })
        case "ERROR":
            let status = APIStatusError.decode(status: 0, object: object, verb: "WATCH", path: path)
            if status.code == 410 || status.reason == "Expired" || status.reason == "Gone" { return .expired }
            return .invalid("ERROR event: \(status)")
        default:
            return .invalid("a watch event of unknown type \(printable(type, max: 32))")
        }
    }
}
