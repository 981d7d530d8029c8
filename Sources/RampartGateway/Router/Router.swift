// Router compiled once per snapshot: a host table (exact, one-label wildcard, any), each host
// holding a byte trie over paths. Lookup cost depends on the path length, not the route count.

/// A byte trie being built (first-child / next-sibling arrays) whose nodes collect exact and prefix
/// routes; `frozen` turns it into the `PathTrie` the loops read.
struct PathTrieBuilder {
    var byte: [UInt8] = [0]
    var firstChild: [Int32] = [-1]
    var nextSibling: [Int32] = [-1]
    var exact: [[Int32]] = [[]]
    var prefix: [[Int32]] = [[]]

    mutating func insert(_ path: [UInt8], route: Int32, isPrefix: Bool) {
        var node: Int32 = 0
        for b in path {
            var c = firstChild[Int(node)]
            var found: Int32 = -1
            while c >= 0 {
                if byte[Int(c)] == b { found = c; break }
                c = nextSibling[Int(c)]
            }
            if found < 0 {
                found = Int32(byte.count)
                byte.append(b)
                firstChild.append(-1)
                nextSibling.append(firstChild[Int(node)])
                exact.append([])
                prefix.append([])
                firstChild[Int(node)] = found
            }
            node = found
        }
        if isPrefix { prefix[Int(node)].append(route) } else { exact[Int(node)].append(route) }
    }

    /// The immutable trie, each node's routes sorted by `less` (precedence) into one flat array.
    func frozen(_ less: (Int32, Int32) -> Bool) -> PathTrie {
        func flatten(_ lists: [[Int32]]) -> (start: [Int32], routes: [Int32]) {
            var start: [Int32] = [0]
            var routes: [Int32] = []
            start.reserveCapacity(lists.count + 1)
            for list in lists {
                routes.append(contentsOf: list.count > 1 ? list.sorted(by: less) : list)
                start.append(Int32(routes.count))
            }
            return (start, routes)
        }
        let e = flatten(exact), pr = flatten(prefix)
        return PathTrie(byte: byte, firstChild: firstChild, nextSibling: nextSibling,
                        exactStart: e.start, exactRoutes: e.routes, prefixStart: pr.start, prefixRoutes: pr.routes)
    }
}

/// A frozen byte trie over paths: node `i`'s exact routes are `exactRoutes[exactStart[i]..<exactStart[i+1]]`
/// in precedence order (prefix routes likewise). Built once per snapshot, only read afterwards.
struct PathTrie: Sendable {
    let byte: [UInt8]
    let firstChild: [Int32]
    let nextSibling: [Int32]
    let exactStart: [Int32]
    let exactRoutes: [Int32]
    let prefixStart: [Int32]
    let prefixRoutes: [Int32]

    @inline(__always) private func hasPrefixRoutes(_ node: Int32) -> Bool {
        prefixStart[Int(node) + 1] > prefixStart[Int(node)]
    }

    /// Visits candidate routes in precedence order until `accept` returns true.
    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>, _ n: Int, scratch: inout [Int32], accept: (Int32) -> Bool) -> Int32 {
        scratch.removeAll(keepingCapacity: true)
        var node: Int32 = 0
        if hasPrefixRoutes(0) { scratch.append(0) }
        var i = 0
        while i < n {
            let b = p[i]
            var c = firstChild[Int(node)]
            while c >= 0 && byte[Int(c)] != b { c = nextSibling[Int(c)] }
            if c < 0 { break }
            node = c
            i += 1
            if hasPrefixRoutes(node) { scratch.append(node) }
        }
        if i == n {
            for k in Int(exactStart[Int(node)])..<Int(exactStart[Int(node) + 1]) where accept(exactRoutes[k]) { return exactRoutes[k] }
        }
        var k = scratch.count - 1
        while k >= 0 {
            let at = Int(scratch[k])
            for j in Int(prefixStart[at])..<Int(prefixStart[at + 1]) where accept(prefixRoutes[j]) { return prefixRoutes[j] }
            k -= 1
        }
        return -1
    }
}

struct HostEntry: Sendable {
    let host: [UInt8]
    let trie: PathTrie
}

/// The route lookup of one snapshot: built once from its routes, then immutable (hosts exact, one-label
/// wildcard and any, each with a frozen `PathTrie`).
///
/// A snapshot that differs from the one before in a few routes' match keys (hosts, paths, priority,
/// id) at the same places rebuilds only the tries of the hosts those routes name, old and new; the
/// others are shared. Each trie is then exactly what a build from scratch makes.
struct Router: Sendable {
    let exactHosts: [UInt64: [HostEntry]]
    let wildcardHosts: [UInt64: [HostEntry]]
    let anyHost: PathTrie
    let hasAnyHost: Bool
    /// Each trie with the routes (indices, ascending) inserted into it: what the next build reuses.
    private let tries: [Slot: (trie: PathTrie, routes: [Int32])]

    /// Which trie a match key goes into.
    enum Slot: Hashable {
        case any
        case exact([UInt8])
        case wildcard([UInt8])
    }

    /// More changed routes than this: built from scratch.
    static let incrementalLimit = 64

    init(routes: [CompiledRoute]) {
        var builders: [Slot: (builder: PathTrieBuilder, routes: [Int32])] = [:]
        for (idx, r) in routes.enumerated() {
            let ri = Int32(idx)
            Router.inserts(r.config) { slot, bytes, isPrefix in
                builders[slot, default: (PathTrieBuilder(), [])].builder.insert(bytes, route: ri, isPrefix: isPrefix)
                if builders[slot]?.routes.last != ri { builders[slot]?.routes.append(ri) }
            }
        }
        let less = Router.precedence(routes)
        self.init(tries: builders.mapValues { ($0.builder.frozen(less), $0.routes) })
    }

    /// `routes` after `previous` (built from `previousRoutes`): the tries of unchanged hosts are kept.
    init(routes: [CompiledRoute], previous: Router, previousRoutes: [CompiledRoute]) {
        guard routes.count == previousRoutes.count else {
            self.init(routes: routes)
            return
        }
        var changed: [Int32] = []
        for i in routes.indices where routes[i] !== previousRoutes[i] && !Router.sameMatch(routes[i].config, previousRoutes[i].config) {
            changed.append(Int32(i))
            if changed.count > Router.incrementalLimit { break }
        }
        if changed.isEmpty {
            self.init(tries: previous.tries)
            return
        }
        guard changed.count <= Router.incrementalLimit else {
            self.init(routes: routes)
            return
        }
        var affected = Set<Slot>()
        for i in changed {
            Router.inserts(previousRoutes[Int(i)].config) { slot, _, _ in affected.insert(slot) }
            Router.inserts(routes[Int(i)].config) { slot, _, _ in affected.insert(slot) }
        }
        let less = Router.precedence(routes)
        let changedSet = Set(changed)
        var tries = previous.tries
        for slot in affected {
            var members = (tries[slot]?.routes ?? []).filter { !changedSet.contains($0) }
            for i in changed {
                var names = false
                Router.inserts(routes[Int(i)].config) { s, _, _ in names = names || s == slot }
                if names { members.append(i) }
            }
            members.sort()
            var builder = PathTrieBuilder()
            var inserted: [Int32] = []
            for ri in members {
                Router.inserts(routes[Int(ri)].config) { s, bytes, isPrefix in
                    guard s == slot else { return }
                    builder.insert(bytes, route: ri, isPrefix: isPrefix)
                    if inserted.last != ri { inserted.append(ri) }
                }
            }
            tries[slot] = inserted.isEmpty ? nil : (builder.frozen(less), inserted)
        }
        self.init(tries: tries)
    }

    private init(tries: [Slot: (trie: PathTrie, routes: [Int32])]) {
        self.tries = tries
        var exact: [UInt64: [HostEntry]] = [:]
        var wild: [UInt64: [HostEntry]] = [:]
        var any: PathTrie?
        for (slot, t) in tries {
            switch slot {
            case .any: any = t.trie
            case .exact(let h): exact[hashLower(h), default: []].append(HostEntry(host: h, trie: t.trie))
            case .wildcard(let h): wild[hashLower(h), default: []].append(HostEntry(host: h, trie: t.trie))
            }
        }
        exactHosts = exact
        wildcardHosts = wild
        hasAnyHost = any != nil
        anyHost = any ?? PathTrieBuilder().frozen { _, _ in false }
    }

    /// Higher priority first, then the route id.
    private static func precedence(_ routes: [CompiledRoute]) -> (Int32, Int32) -> Bool {
        { a, b in
            let ra = routes[Int(a)], rb = routes[Int(b)]
            if ra.config.priority != rb.config.priority { return ra.config.priority > rb.config.priority }
            return ra.config.id < rb.config.id
        }
    }

    /// What the router reads of a route.
    private static func sameMatch(_ a: RouteConfig, _ b: RouteConfig) -> Bool {
        a.isSameValue(as: b) || a.priority == b.priority && a.id == b.id && a.paths == b.paths && a.hosts == b.hosts
    }

    /// Each insertion a route makes: for each path, into the any-host trie (no hosts) or each host's.
    private static func inserts(_ config: RouteConfig, _ insert: (Slot, [UInt8], Bool) -> Void) {
        let slots: [Slot] = config.hosts.isEmpty ? [.any] : config.hosts.map { h in
            let hb = lowerBytes(h)
            if hb.count > 2, hb[0] == UInt8(ascii: "*"), hb[1] == UInt8(ascii: ".") { return .wildcard(Array(hb[2...])) }
            return .exact(hb)
        }
        for path in config.paths {
            var bytes = Array(path.utf8)
            var isPrefix = false
            if bytes.count >= 2, bytes[bytes.count - 1] == UInt8(ascii: "*"), bytes[bytes.count - 2] == ASCII.slash {
                bytes.removeLast()
                isPrefix = true
            } else if bytes == [UInt8(ascii: "*")] {
                bytes = [ASCII.slash]
                isPrefix = true
            }
            for slot in slots { insert(slot, bytes, isPrefix) }
        }
    }

    /// host: lowercase-insensitive bytes without port. Returns the route index or -1.
    func match(host: UnsafePointer<UInt8>, hostLen: Int, path: UnsafePointer<UInt8>, pathLen: Int,
               scratch: inout [Int32], accept: (Int32) -> Bool) -> Int32 {
        if hostLen > 0 {
            if !exactHosts.isEmpty, let list = exactHosts[hashLower(host, hostLen)] {
                for e in list where bytesEqualsLower(host, hostLen, e.host) {
                    let r = e.trie.lookup(path, pathLen, scratch: &scratch, accept: accept)
                    if r >= 0 { return r }
                }
            }
            if !wildcardHosts.isEmpty {
                var dot = 0
                while dot < hostLen && host[dot] != UInt8(ascii: ".") { dot += 1 }
                if dot > 0 && dot + 1 < hostLen {
                    let s = host + dot + 1
                    let sl = hostLen - dot - 1
                    if let list = wildcardHosts[hashLower(s, sl)] {
                        for e in list where bytesEqualsLower(s, sl, e.host) {
                            let r = e.trie.lookup(path, pathLen, scratch: &scratch, accept: accept)
                            if r >= 0 { return r }
                        }
                    }
                }
            }
        }
        if hasAnyHost {
            return anyHost.lookup(path, pathLen, scratch: &scratch, accept: accept)
        }
        return -1
    }
}
