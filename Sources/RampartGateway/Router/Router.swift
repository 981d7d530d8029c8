// Router compiled once per snapshot: a host table (exact, one-label wildcard, any), each host
// holding a byte trie over paths. Lookup cost depends on the path length, not the route count.

/// A byte trie (first-child / next-sibling arrays) whose nodes carry exact and prefix routes.
struct PathTrie: Sendable {
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

    mutating func sortEntries(_ less: (Int32, Int32) -> Bool) {
        for i in 0..<exact.count {
            if exact[i].count > 1 { exact[i].sort(by: less) }
            if prefix[i].count > 1 { prefix[i].sort(by: less) }
        }
    }

    /// Visits candidate routes in precedence order until `accept` returns true.
    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>, _ n: Int, scratch: inout [Int32], accept: (Int32) -> Bool) -> Int32 {
        scratch.removeAll(keepingCapacity: true)
        var node: Int32 = 0
        if !prefix[0].isEmpty { scratch.append(0) }
        var i = 0
        while i < n {
            let b = p[i]
            var c = firstChild[Int(node)]
            while c >= 0 && byte[Int(c)] != b { c = nextSibling[Int(c)] }
            if c < 0 { break }
            node = c
            i += 1
            if !prefix[Int(node)].isEmpty { scratch.append(node) }
        }
        if i == n {
            for r in exact[Int(node)] where accept(r) { return r }
        }
        var k = scratch.count - 1
        while k >= 0 {
            for r in prefix[Int(scratch[k])] where accept(r) { return r }
            k -= 1
        }
        return -1
    }
}

struct HostEntry: Sendable {
    var host: [UInt8]
    var trie: PathTrie
}

struct Router: Sendable {
    var exactHosts: [UInt64: [HostEntry]] = [:]
    var wildcardHosts: [UInt64: [HostEntry]] = [:]
    var anyHost = PathTrie()
    var hasAnyHost = false

    init(routes: [CompiledRoute]) {
        var exactTries: [[UInt8]: PathTrie] = [:]
        var wildTries: [[UInt8]: PathTrie] = [:]
        for (idx, r) in routes.enumerated() {
            let ri = Int32(idx)
            for path in r.config.paths {
                var bytes = Array(path.utf8)
                var isPrefix = false
                if bytes.count >= 2, bytes[bytes.count - 1] == UInt8(ascii: "*"), bytes[bytes.count - 2] == ASCII.slash {
                    bytes.removeLast()
                    isPrefix = true
                } else if bytes == [UInt8(ascii: "*")] {
                    bytes = [ASCII.slash]
                    isPrefix = true
                }
                if r.config.hosts.isEmpty {
                    anyHost.insert(bytes, route: ri, isPrefix: isPrefix)
                    hasAnyHost = true
                }
                for h in r.config.hosts {
                    let hb = lowerBytes(h)
                    if hb.count > 2, hb[0] == UInt8(ascii: "*"), hb[1] == UInt8(ascii: ".") {
                        let suffix = Array(hb[2...])
                        wildTries[suffix, default: PathTrie()].insert(bytes, route: ri, isPrefix: isPrefix)
                    } else {
                        exactTries[hb, default: PathTrie()].insert(bytes, route: ri, isPrefix: isPrefix)
                    }
                }
            }
        }
        let less: (Int32, Int32) -> Bool = { a, b in
            let ra = routes[Int(a)], rb = routes[Int(b)]
            if ra.config.priority != rb.config.priority { return ra.config.priority > rb.config.priority }
            return ra.config.id < rb.config.id
        }
        anyHost.sortEntries(less)
        for (h, var t) in exactTries {
            t.sortEntries(less)
            exactHosts[hashLower(h), default: []].append(HostEntry(host: h, trie: t))
        }
        for (h, var t) in wildTries {
            t.sortEntries(less)
            wildcardHosts[hashLower(h), default: []].append(HostEntry(host: h, trie: t))
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
