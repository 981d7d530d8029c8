import CLinux
import Glibc

/// A resolved socket address (IPv4 or IPv6), value type, Sendable.
struct SocketAddress: Sendable, Hashable {
    var storage: [UInt8]   // raw sockaddr bytes
    var family: Int32

    init?(ip: String, port: Int) {
        guard port >= 0, port <= 65535 else { return nil }
        var a4 = sockaddr_in()
        if inet_pton(AF_INET, ip, &a4.sin_addr) == 1 {
            a4.sin_family = sa_family_t(AF_INET)
            a4.sin_port = in_port_t(UInt16(port).bigEndian)
            storage = withUnsafeBytes(of: &a4) { Array($0) }
            family = AF_INET
            return
        }
        var a6 = sockaddr_in6()
        if inet_pton(AF_INET6, ip, &a6.sin6_addr) == 1 {
            a6.sin6_family = sa_family_t(AF_INET6)
            a6.sin6_port = in_port_t(UInt16(port).bigEndian)
            storage = withUnsafeBytes(of: &a6) { Array($0) }
            family = AF_INET6
            return
        }
        return nil
    }

    init(raw: UnsafeRawPointer, length: Int) {
        storage = Array(UnsafeRawBufferPointer(start: raw, count: length))
        family = Int32(raw.load(as: sa_family_t.self))
    }

    /// An IP literal host (`10.0.0.1`, `::1`, `[::1]`), parsed without any lookup; nil for a name.
    static func literal(host: String, port: Int) -> SocketAddress? {
        var h = host
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        return SocketAddress(ip: h, port: port)
    }

    /// Resolves a host (IP literal or name) once via getaddrinfo, on the calling thread.
    static func resolve(host: String, port: Int) -> SocketAddress? {
        if let a = literal(host: host, port: port) { return a }
        var h = host
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(h, String(port), &hints, &res) == 0, let first = res else { return nil }
        defer { freeaddrinfo(res) }
        var cur: UnsafeMutablePointer<addrinfo>? = first
        while let c = cur {
            if let sa = c.pointee.ai_addr, c.pointee.ai_family == AF_INET || c.pointee.ai_family == AF_INET6 {
                return SocketAddress(raw: sa, length: Int(c.pointee.ai_addrlen))
            }
            cur = c.pointee.ai_next
        }
        return nil
    }

    /// Parses "host:port", "[v6]:port".
    static func parseListen(_ s: String) -> SocketAddress? {
        guard let colon = s.lastIndex(of: ":") else { return nil }
        var host = String(s[..<colon])
        guard let port = Int(s[s.index(after: colon)...]) else { return nil }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty || host == "*" { host = "0.0.0.0" }
        return SocketAddress(ip: host, port: port)
    }

    var port: Int {
        storage.withUnsafeBytes { raw in
            if family == AF_INET {
                return Int(UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)))
            }
            return Int(UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)))
        }
    }

    var ipString: String {
        storage.withUnsafeBytes { raw -> String in
            guard let base = raw.baseAddress else { return "?" }
            var buf = [CChar](repeating: 0, count: 64)
            if family == AF_INET {
                let p = base.advanced(by: 4)
                _ = inet_ntop(AF_INET, p, &buf, 64)
            } else {
                let p = base.advanced(by: 8)
                _ = inet_ntop(AF_INET6, p, &buf, 64)
            }
            return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// "1.2.3.4:80" or "[::1]:80".
    var description: String {
        family == AF_INET6 ? "[\(ipString)]:\(port)" : "\(ipString):\(port)"
    }

    /// Raw address bytes (4 or 16) for CIDR matching.
    var ipBytes: [UInt8] {
        storage.withUnsafeBytes { raw in
            if family == AF_INET { return Array(raw[4..<8]) }
            return Array(raw[8..<24])
        }
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        storage.withUnsafeBytes { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
    }
}

enum Net {
    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    static func setInt(_ fd: Int32, _ level: Int32, _ opt: Int32, _ v: Int32) {
        var v = v
        _ = setsockopt(fd, level, opt, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    /// A non-blocking listening socket with SO_REUSEADDR + SO_REUSEPORT.
    static func listen(_ addr: SocketAddress, backlog: Int32 = 1024) throws -> Int32 {
        let fd = socket(addr.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw GatewayError.system("socket", errno) }
        setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        setInt(fd, SOL_SOCKET, SO_REUSEPORT, 1)
        if addr.family == AF_INET6 { setInt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
        let rc = addr.withSockaddr { bind(fd, $0, $1) }
        if rc != 0 {
            let e = errno
            close(fd)
            throw GatewayError.system("bind \(addr.description)", e)
        }
        if Glibc.listen(fd, backlog) != 0 {
            let e = errno
            close(fd)
            throw GatewayError.system("listen", e)
        }
        return fd
    }

    static func localAddress(_ fd: Int32) -> SocketAddress? {
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &ss) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard rc == 0 else { return nil }
        return withUnsafeBytes(of: &ss) { SocketAddress(raw: $0.baseAddress!, length: Int(len)) }
    }

    /// Starts a non-blocking connect. Returns fd and whether it completed at once, or an errno.
    static func connect(_ addr: SocketAddress) -> (fd: Int32, done: Bool, err: Int32) {
        let fd = socket(addr.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { return (-1, false, errno) }
        setInt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        let rc = addr.withSockaddr { Glibc.connect(fd, $0, $1) }
        if rc == 0 { return (fd, true, 0) }
        let e = errno
        if e == EINPROGRESS { return (fd, false, 0) }
        close(fd)
        return (-1, false, e)
    }

    static func socketError(_ fd: Int32) -> Int32 {
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 { return errno }
        return err
    }
}

/// A joinable OS thread.
final class OSThread: @unchecked Sendable {
    private var handle = pthread_t()
    private let body: @Sendable () -> Void

    init(body: @escaping @Sendable () -> Void) {
        self.body = body
    }

    func start() throws {
        let ctx = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&handle, nil, { raw in
            guard let raw else { return nil }
            let t = Unmanaged<OSThread>.fromOpaque(raw).takeRetainedValue()
            t.body()
            return nil
        }, ctx)
        if rc != 0 {
            Unmanaged<OSThread>.fromOpaque(ctx).release()
            throw GatewayError.system("pthread_create", rc)
        }
    }

    func join() {
        pthread_join(handle, nil)
    }
}
