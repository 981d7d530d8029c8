import CLinux
import Glibc
import Synchronization

/// An Upstream node's host name and port, as configured (the key of a resolution).
struct NodeName: Sendable, Hashable {
    let host: String
    let port: Int
}

/// Where a node's name stands: the address it is served at, or why it has none.
enum NodeResolution: Sendable, Equatable {
    case resolved(SocketAddress)
    case failed(String)
}

/// Resolves Upstream node host names with getaddrinfo on its own thread, never on a loop: the names
/// new to an applied snapshot first, then every name again, and every name each `intervalMs`. When an answer changes it
/// calls `onChange`, and the Gateway hands the loops a snapshot rebound to the new addresses through
/// their inbox; the loops never wait for, or lock around, a lookup.
///
/// A name with several addresses is served at one of them: the one it was served at while it is still
/// among the answers (round-robin DNS does not reshuffle the upstream each interval), else the first
/// getaddrinfo returns. A name that does not resolve keeps its node, unhealthy with the reason.
final class NameResolver: Sendable {
    private struct State {
        var wanted: Set<NodeName> = []
        var table: [NodeName: NodeResolution] = [:]
        /// Bumped on every change of `table`: a snapshot compiled at this version is current.
        var version = 0
        /// An apply asked for every name to be looked up again (not only the new ones).
        var fullPass = false
    }

    private let state = Mutex(State())
    private let wakeFd: Int32
    private let thread = Mutex<OSThread?>(nil)
    private let stopped = Atomic<Bool>(false)
    private let onChange = Mutex<(@Sendable () -> Void)?>(nil)
    private let lookup: @Sendable (NodeName) -> Result<[SocketAddress], NameLookupError>
    let intervalMs: Int64

    init(intervalMs: Int64 = 30_000,
         lookup: @escaping @Sendable (NodeName) -> Result<[SocketAddress], NameLookupError> = NameResolver.getaddrinfo) throws {
        let fd = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        if fd < 0 { throw GatewayError.system("eventfd", errno) }
        wakeFd = fd
        self.intervalMs = max(intervalMs, 10)
        self.lookup = lookup
    }

    deinit { close(wakeFd) }

    /// Called on the resolver thread after an answer changed.
    func setOnChange(_ body: @escaping @Sendable () -> Void) { onChange.withLock { $0 = body } }

    /// The node names of `snapshot` that are names (IP literals need no lookup).
    static func names(in snapshot: GatewaySnapshot) -> Set<NodeName> {
        var out = Set<NodeName>()
        for (_, u) in snapshot.upstreams {
            for n in u.nodes where n.weight > 0 && SocketAddress.literal(host: n.host, port: n.port) == nil {
                out.insert(NodeName(host: n.host, port: n.port))
            }
        }
        return out
    }

    /// Makes `names` the set to keep resolved (answers for other names are dropped) and wakes the thread
    /// to look them all up again; waits up to `waitMs` for the new ones, so a fresh snapshot is served
    /// with their addresses at once (known names keep theirs until the new answer rebinds them).
    func want(_ names: Set<NodeName>, waitMs: Int64) {
        let missing = state.withLock { st -> Bool in
            st.wanted = names
            st.fullPass = true
            let before = st.table.count
            st.table = st.table.filter { names.contains($0.key) }
            if st.table.count != before { st.version += 1 }
            return names.contains { st.table[$0] == nil }
        }
        wake()
        guard missing else { return }
        let deadline = monotonicMs() + waitMs
        while monotonicMs() < deadline, !stopped.load(ordering: .relaxed) {
            if state.withLock({ st in names.allSatisfy { st.table[$0] != nil } }) { return }
            usleep(1000)
        }
    }

    /// The answers so far and their version.
    func current() -> (table: [NodeName: NodeResolution], version: Int) {
        state.withLock { ($0.table, $0.version) }
    }

    func start() throws {
        let t = OSThread { [self] in self.run() }
        try t.start()
        thread.withLock { $0 = t }
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        wake()
        let t = thread.withLock { t -> OSThread? in
            let x = t
            t = nil
            return x
        }
        t?.join()
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFd, &one, 8)
    }

    private func run() {
        var nextFull = monotonicMs() + intervalMs
        while !stopped.load(ordering: .relaxed) {
            let now = monotonicMs()
            let full = now >= nextFull
            if full { nextFull = now + intervalMs }
            // The new names first: an apply may be waiting for them.
            let (new, again) = state.withLock { st -> ([NodeName], [NodeName]) in
                let new = st.wanted.filter { st.table[$0] == nil }
                let again = full || st.fullPass ? st.wanted.filter { st.table[$0] != nil } : []
                st.fullPass = false
                return (Array(new), Array(again))
            }
            let changedNew = resolve(new)
            if changedNew { onChange.withLock { $0 }?() }
            if resolve(again) { onChange.withLock { $0 }?() }
            let wait = Int32(max(0, min(nextFull - monotonicMs(), 1000)))
            var pfd = pollfd(fd: wakeFd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, wait) > 0 {
                var v: UInt64 = 0
                _ = read(wakeFd, &v, 8)
            }
        }
    }

    /// Looks the names up (no lock held meanwhile) and records the answers; true if any changed.
    private func resolve(_ names: [NodeName]) -> Bool {
        var changed = false
        for name in names.sorted(by: { ($0.host, $0.port) < ($1.host, $1.port) }) {
            if stopped.load(ordering: .relaxed) { break }
            let answer = lookup(name)
            state.withLock { st in
                guard st.wanted.contains(name) else { return }
                let next: NodeResolution
                switch answer {
                case .success(let addresses):
                    if case .resolved(let served)? = st.table[name], addresses.contains(served) {
                        next = .resolved(served)
                    } else if let first = addresses.first {
                        next = .resolved(first)
                    } else {
                        next = .failed("no IPv4 or IPv6 address")
                    }
                case .failure(let error):
                    next = .failed(error.reason)
                }
                if st.table[name] != next {
                    st.table[name] = next
                    st.version += 1
                    changed = true
                }
            }
        }
        return changed
    }

    /// getaddrinfo for stream sockets: every IPv4 and IPv6 address, in the order it returns them.
    @Sendable static func getaddrinfo(_ name: NodeName) -> Result<[SocketAddress], NameLookupError> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = Glibc.getaddrinfo(name.host, String(name.port), &hints, &res)
        guard rc == 0 else {
            let text = gai_strerror(rc).map { String(cString: $0) } ?? "error \(rc)"
            return .failure(NameLookupError(reason: "does not resolve: \(text)"))
        }
        defer { freeaddrinfo(res) }
        var out: [SocketAddress] = []
        var cur = res
        while let c = cur {
            if let sa = c.pointee.ai_addr, c.pointee.ai_family == AF_INET || c.pointee.ai_family == AF_INET6 {
                let a = SocketAddress(raw: sa, length: Int(c.pointee.ai_addrlen))
                if !out.contains(a) { out.append(a) }
            }
            cur = c.pointee.ai_next
        }
        return .success(out)
    }
}

/// Why a name lookup failed, as shown in the log and next to the node's health.
struct NameLookupError: Error, Sendable, Equatable {
    let reason: String
}
