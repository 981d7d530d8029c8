/// Where a downstream connection is in its life.
enum ClientPhase: UInt8 {
    case readingHead   // waiting for / reading a request head
    case proxying      // an exchange with an upstream is in flight
    case tunnel        // WebSocket (or other 101) tunnel
    case closing       // flushing the last bytes, then close
}

enum ResponsePhase: UInt8 {
    case head, body, done
}

enum DeadlineKind: UInt8 {
    case idle, header, body, connect, upstream, tunnel, closing
}

/// A downstream (client) connection. Owned by one loop.
final class ClientConn {
    let fd: Int32
    let serial: UInt32
    let peer: SocketAddress
    let peerIP: [UInt8]        // raw 4/16 bytes
    let peerIPText: [UInt8]    // "1.2.3.4"
    let peerTrusted: Bool
    let inBuf: ByteBuffer
    let outBuf: ByteBuffer
    let reqHead: ByteBuffer     // the head sent upstream, kept for a replay on a stale pooled connection
    var listIndex = -1
    var interest: UInt32 = 0
    var closed = false
    /// In the loop's `tlsPending`: OpenSSL holds records read ahead that epoll will not report.
    var queuedTLSRead = false

    var phase: ClientPhase = .readingHead
    var deadline: Int64 = 0
    var deadlineKind: DeadlineKind = .header
    var closeAfterWrite = false
    var sawFirstByte = false

    var scanner = HeadScanner()
    var head = RequestHead()

    // The exchange in flight.
    var snapshot: CompiledSnapshot?
    var route: CompiledRoute?
    var upstream: UpstreamConn?
    var node: CompiledNode?
    var startNs: UInt64 = 0
    var isHeadMethod = false
    var minor = 1
    var keepAlive = true
    var websocket = false
    var reqFraming: Framing = .none
    var reqRemaining = 0
    var reqChunk = ChunkedParser()
    var reqBodyDone = true
    var respPhase: ResponsePhase = .head
    var respStarted = false
    var respStatus = 0
    var respFraming: Framing = .none
    var respRemaining = 0
    var respChunk = ChunkedParser()
    var respDecodeChunks = false
    var attempts = 0
    var excluded: UInt64 = 0
    var hashKey: UInt64 = 0
    var bytesSent = 0
    var requestId: [UInt8] = []
    var logLine: [UInt8] = []   // method + target, only when access logging is on
    /// The plugins' state of this exchange (Plugins/Plugins.swift).
    var plugins = PluginExchange()
    /// Parked until a thread answers (redis for limit-count, PBKDF2 for basic-auth: Access.swift).
    var parked = false

    // TLS (a connection accepted on a --listen-tls listener).
    var ssl: OpaquePointer?
    var tls: ServerTLS?          // keeps the contexts the SSL was made from alive
    var tlsState = TLSIOState()
    var isTLS = false
    var clientCertSubject: [UInt8] = []   // verified client certificate subject (mTLS), or empty
    var verifiedPolicy: [UInt8] = []      // TLSPolicy.identity of the SSL the client certificate verified under, or empty

    init(fd: Int32, serial: UInt32, peer: SocketAddress, trusted: Bool, bufferSize: Int) {
        self.fd = fd
        self.serial = serial
        self.peer = peer
        peerIP = peer.ipBytes
        peerIPText = Array(peer.ipString.utf8)
        peerTrusted = trusted
        inBuf = ByteBuffer(capacity: bufferSize)
        outBuf = ByteBuffer(capacity: bufferSize)
        reqHead = ByteBuffer(capacity: 1024)
    }
}

/// An upstream connection: in use by one exchange, or idle in the loop's pool.
final class UpstreamConn {
    let fd: Int32
    let serial: UInt32
    let node: CompiledNode
    let upstream: CompiledUpstream
    var inBuf: ByteBuffer
    var outBuf: ByteBuffer
    var interest: UInt32 = 0
    var connecting = false
    var reused = false
    var closed = false
    var countedActive = false
    weak var client: ClientConn?
    var idleDeadline: Int64 = 0
    /// While request bytes wait for the upstream to take them: when the exchange fails if it takes
    /// none (`timeout.send` after the last progress); `Int64.max` when nothing is waiting.
    var sendDeadline: Int64 = .max
    var scanner = HeadScanner()
    var head = ResponseHead()
    var startNs: UInt64 = 0
    var ssl: OpaquePointer?
    var tlsState = TLSIOState()

    init(fd: Int32, serial: UInt32, node: CompiledNode, upstream: CompiledUpstream) {
        self.fd = fd
        self.serial = serial
        self.node = node
        self.upstream = upstream
        inBuf = ByteBuffer(capacity: 16 * 1024)
        outBuf = ByteBuffer(capacity: 4 * 1024)
    }
}
