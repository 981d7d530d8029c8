import CLinux
import Glibc
import Synchronization

public struct AdminRequest: Sendable {
    public var method: String
    public var path: String
    public var query: String
    public var headers: [HeaderPair]
    public var body: [UInt8]
    public var remoteAddress: String

    public init(method: String, path: String, query: String = "", headers: [HeaderPair] = [], body: [UInt8] = [],
                remoteAddress: String = "") {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
    }

    /// First value of a header, case-insensitive name.
    public func header(_ name: String) -> String? {
        let l = name.lowercased()
        return headers.first { $0.name.lowercased() == l }?.value
    }
}

public struct AdminResponse: Sendable {
    public var status: Int
    public var headers: [HeaderPair]
    public var body: [UInt8]

    public init(status: Int, headers: [HeaderPair] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ status: Int, _ s: String) -> AdminResponse {
        AdminResponse(status: status, headers: [HeaderPair(name: "Content-Type", value: "application/json")], body: Array(s.utf8))
    }

    public static func text(_ status: Int, _ s: String, contentType: String = "text/plain; charset=utf-8") -> AdminResponse {
        AdminResponse(status: status, headers: [HeaderPair(name: "Content-Type", value: contentType)], body: Array(s.utf8))
    }
}

/// A byte stream under an admin connection: plain TCP or TLS (`TLSAdminStream`).
protocol AdminStream {
    /// Reads into p; >0 bytes, 0 EOF, <0 error or timeout.
    func read(_ p: UnsafeMutableRawPointer, _ n: Int) -> Int
    func writeAll(_ bytes: [UInt8]) -> Bool
    func close()
}

struct PlainAdminStream: AdminStream {
    let fd: Int32
    func read(_ p: UnsafeMutableRawPointer, _ n: Int) -> Int { Glibc.read(fd, p, n) }
    func writeAll(_ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            off += n
        }
        return true
    }
    func close() { _ = Glibc.close(fd) }
}

/// The admin listener: a small HTTP/1.1 server on its own thread, one request per connection.
/// Low volume by design: simplicity over speed.
public final class AdminServer: Sendable {
    let address: SocketAddress
    let handler: @Sendable (AdminRequest) -> AdminResponse
    let stopFd: Int32
    let tls: AdminTLSContext?
    private let state = Mutex<(fd: Int32, bound: String, thread: OSThread?)>((-1, "", nil))
    static let maxHead = 64 * 1024
    static let maxBody = 16 * 1024 * 1024
    static let ioTimeoutSeconds = 10

    /// `tls`: serve HTTPS only (a plain HTTP request fails the handshake and is closed); nil: plain HTTP.
    public init(listen: String, tls: AdminTLSConfig? = nil, handler: @escaping @Sendable (AdminRequest) -> AdminResponse) throws {
        guard let a = SocketAddress.parseListen(listen) else { throw GatewayError.invalidAddress(listen) }
        address = a
        self.tls = try tls.map { try AdminTLSContext($0) }
        self.handler = handler
        let fd = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        if fd < 0 { throw GatewayError.system("eventfd", errno) }
        stopFd = fd
    }

    deinit {
        close(stopFd)
        let fd = state.withLock { $0.fd }
        if fd >= 0 { close(fd) }
    }

    public func start() throws {
        let fd = try Net.listen(address, backlog: 128)
        let bound = Net.localAddress(fd)?.description ?? address.description
        let t = OSThread { [self] in self.run(fd) }
        state.withLock { $0 = (fd, bound, t) }
        try t.start()
    }

    public var boundAddress: String { state.withLock { $0.bound } }

    public func stop() {
        var one: UInt64 = 1
        _ = write(stopFd, &one, 8)
        let t = state.withLock { s -> OSThread? in
            let t = s.thread
            s.thread = nil
            return t
        }
        t?.join()
        state.withLock { s in
            if s.fd >= 0 { close(s.fd) }
            s.fd = -1
        }
    }

    private func run(_ lfd: Int32) {
        while true {
            var pfds = [pollfd(fd: lfd, events: Int16(POLLIN), revents: 0), pollfd(fd: stopFd, events: Int16(POLLIN), revents: 0)]
            if poll(&pfds, 2, -1) < 0 { if errno == EINTR { continue } else { return } }
            if pfds[1].revents != 0 { return }
            var ss = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let cfd = withUnsafeMutablePointer(to: &ss) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept4(lfd, $0, &len, Int32(SOCK_CLOEXEC.rawValue)) }
            }
            if cfd < 0 { continue }
            var tv = timeval(tv_sec: AdminServer.ioTimeoutSeconds, tv_usec: 0)
            _ = setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            _ = setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let peer = withUnsafeBytes(of: &ss) { SocketAddress(raw: $0.baseAddress!, length: Int(len)) }
            if let tls {
                if let stream = TLSAdminStream(fd: cfd, context: tls) {
                    serve(stream, remote: peer.ipString)
                    stream.close()
                }
                _ = Glibc.close(cfd)
            } else {
                let stream = PlainAdminStream(fd: cfd)
                serve(stream, remote: peer.ipString)
                stream.close()
            }
        }
    }

    private func respond(_ s: AdminStream, _ r: AdminResponse, head: Bool = false) {
        var out = "HTTP/1.1 \(r.status) \(String(describing: EventLoop.reason(r.status)))\r\n"
        for h in r.headers where !h.name.contains("\r") && !h.name.contains("\n") && !h.value.contains("\r") && !h.value.contains("\n") {
            out += "\(h.name): \(h.value)\r\n"
        }
        out += "Content-Length: \(r.body.count)\r\nConnection: close\r\n\r\n"
        _ = s.writeAll(Array(out.utf8) + (head ? [] : r.body))
    }

    func serve(_ s: AdminStream, remote: String) {
        let buf = ByteBuffer(capacity: 8192)
        var scanner = HeadScanner()
        var headLen = 0
        while true {
            buf.reserve(8192)
            let n = s.read(buf.writePointer, buf.writable)
            if n <= 0 { return }
            buf.writeIndex += n
            let r = scanner.scan(buf.readPointer, buf.readable, maxHead: AdminServer.maxHead, maxStartLine: 8192)
            if r < 0 { return respond(s, .json(-r, String(describing: EventLoop.errorBody(-r)))) }
            if r > 0 { headLen = r; break }
        }
        var head = RequestHead()
        if case .error(let st) = HeadParser.parseRequest(buf.base, base: 0, len: headLen, into: &head) {
            return respond(s, .json(st, String(describing: EventLoop.errorBody(st))))
        }
        let method = buf.string(head.methodStart, head.methodLen)
        let target = buf.string(head.targetStart, head.targetLen)
        var headers: [HeaderPair] = []
        for h in head.headers {
            headers.append(HeaderPair(name: buf.string(Int(h.nameStart), Int(h.nameLen)),
                                      value: buf.string(Int(h.valueStart), Int(h.valueLen))))
        }
        buf.consume(headLen)
        var body: [UInt8] = []
        switch head.framing {
        case .length(let n):
            if n > AdminServer.maxBody { return respond(s, .json(413, "{\"error\":\"body too large\"}")) }
            if head.expectContinue { _ = s.writeAll(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
            while buf.readable < n {
                buf.reserve(min(65536, n - buf.readable))
                let k = s.read(buf.writePointer, buf.writable)
                if k <= 0 { return }
                buf.writeIndex += k
            }
            body = buf.bytes(buf.readIndex, n)
        case .chunked:
            if head.expectContinue { _ = s.writeAll(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
            var parser = ChunkedParser()
            while !parser.isDone {
                if buf.isEmpty {
                    buf.reserve(65536)
                    let k = s.read(buf.writePointer, buf.writable)
                    if k <= 0 { return }
                    buf.writeIndex += k
                }
                switch parser.next(buf.readPointer, buf.readable) {
                case .error: return respond(s, .json(400, "{\"error\":\"bad request\"}"))
                case .framing(let k): buf.consume(k)
                case .data(let k):
                    body.append(contentsOf: UnsafeBufferPointer(start: buf.readPointer, count: k))
                    buf.consume(k)
                    if body.count > AdminServer.maxBody { return respond(s, .json(413, "{\"error\":\"body too large\"}")) }
                }
            }
        default:
            break
        }
        var path = target
        var query = ""
        if let q = target.firstIndex(of: "?") {
            path = String(target[..<q])
            query = String(target[target.index(after: q)...])
        }
        let req = AdminRequest(method: method, path: path, query: query, headers: headers, body: body, remoteAddress: remote)
        respond(s, handler(req), head: method == "HEAD")
    }
}
