import CCurl
import CShims
import Foundation
import Synchronization

/// The linked libcurl's version, for `rampart version`.
public enum HTTPClientInfo {
    public static var curlVersion: String {
        guard let v = curl_version() else { return "unknown" }
        return String(cString: v)
    }
}

/// PEM material for TLS: a file libcurl reads itself (so a rotated file is picked up on the next
/// connection) or bytes handed to libcurl as a blob (never written to disk).
public enum TLSMaterial: Sendable, CustomStringConvertible, CustomReflectable {
    case file(String)
    case pem([UInt8])

    // The bytes may be a private key: neither printing nor reflection shows them.
    public var description: String {
        switch self {
        case .file(let path): return "file \(path)"
        case .pem(let bytes): return "PEM data (\(bytes.count) bytes)"
        }
    }

    public var customMirror: Mirror { Mirror(self, children: []) }
}

/// One HTTP request for the control plane (admin API clients, Vault, AWS, Kubernetes, webhooks).
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// The whole transfer's time limit (0: none; a stream then relies on its idle timeout).
    public var timeoutMs: Int
    /// PEM CA bundle file to verify the server with (nil: the system store, unless `ca` is set).
    public var caFile: String?
    /// CA bundle to verify the server with; wins over `caFile`.
    public var ca: TLSMaterial?
    /// A client certificate and its key, PEM.
    public var clientCertificate: TLSMaterial?
    public var clientKey: TLSMaterial?
    public var insecureSkipVerify: Bool

    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8] = [], timeoutMs: Int = 10_000,
                caFile: String? = nil, insecureSkipVerify: Bool = false,
                ca: TLSMaterial? = nil, clientCertificate: TLSMaterial? = nil, clientKey: TLSMaterial? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutMs = timeoutMs
        self.caFile = caFile
        self.insecureSkipVerify = insecureSkipVerify
        self.ca = ca
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
    }
}

// Headers carry bearer tokens and bodies credentials: printing or dumping a request shows neither.
extension HTTPRequest: CustomStringConvertible, CustomReflectable {
    public var description: String { "\(method) \(url)" }
    public var customMirror: Mirror { Mirror(self, children: ["method": method, "url": url]) }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// The response's `Retry-After` in seconds, when it is a delay-seconds value (RFC 9110 10.2.3).
    public var retryAfterSeconds: Int?
    public var text: String { String(decoding: body, as: UTF8.self) }

    public init(status: Int, body: [UInt8], retryAfterSeconds: Int? = nil) {
        self.status = status
        self.body = body
        self.retryAfterSeconds = retryAfterSeconds
    }
}

public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(description: String) { self.description = description }
}

/// Limits of a streamed transfer beyond `HTTPRequest.timeoutMs`.
public struct HTTPStreamOptions: Sendable {
    public var connectTimeoutMs: Int
    /// Abort when no byte arrives for this many seconds (nil: never). A watch that may stay quiet
    /// for minutes sets this above the server's own timeout so that only a dead peer trips it.
    public var idleTimeoutSeconds: Int?

    public init(connectTimeoutMs: Int = 10_000, idleTimeoutSeconds: Int? = nil) {
        self.connectTimeoutMs = connectTimeoutMs
        self.idleTimeoutSeconds = idleTimeoutSeconds
    }
}

/// Why a stream ended without a transport error.
public enum HTTPStreamEnd: Sendable, Equatable {
    /// The server finished the response.
    case complete
    /// `HTTPCancellation.cancel()` was called.
    case cancelled
    /// The receive closure returned false.
    case stoppedByReceiver
}

public struct HTTPStreamResult: Sendable {
    public var status: Int
    public var end: HTTPStreamEnd
    public var retryAfterSeconds: Int? = nil
}

/// Lets another thread end a transfer at once: it wakes libcurl's poll, so cancelling does not wait
/// for the next byte or a timeout. One cancellation may serve several transfers in turn; once
/// cancelled it stays cancelled.
public final class HTTPCancellation: Sendable {
    /// The multi handle of the transfer running now, as an address (libcurl handles are not Sendable).
    private let state = Mutex<(cancelled: Bool, multi: UInt)>((false, 0))

    public init() {}

    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    public func cancel() {
        state.withLock { s in
            s.cancelled = true
            // Under the lock: the transfer detaches (and only then frees the handle) under it too.
            if s.multi != 0, let multi = UnsafeMutableRawPointer(bitPattern: s.multi) { _ = curl_multi_wakeup(multi) }
        }
    }

    /// False when already cancelled: the transfer must not start.
    fileprivate func attach(_ multi: UnsafeMutableRawPointer) -> Bool {
        state.withLock { s in
            if s.cancelled { return false }
            s.multi = UInt(bitPattern: multi)
            return true
        }
    }

    fileprivate func detach() { state.withLock { $0.multi = 0 } }
}

/// A libcurl client for the control plane: one easy handle per request, so it is safe from any thread.
public enum HTTPClient {
    private static let initOnce: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// Collects a response body up to a limit.
    public static func send(_ req: HTTPRequest, maxBodyBytes: Int = 64 << 20, cancellation: HTTPCancellation? = nil) throws -> HTTPResponse {
        var body: [UInt8] = []
        let result = try stream(req, cancellation: cancellation) { _, chunk in
            if chunk.count > maxBodyBytes - body.count { return false }
            body.append(contentsOf: chunk)
            return true
        }
        switch result.end {
        case .complete: return HTTPResponse(status: result.status, body: body, retryAfterSeconds: result.retryAfterSeconds)
        case .cancelled: throw HTTPClientError(description: "\(req.method) \(req.url): cancelled")
        case .stoppedByReceiver: throw HTTPClientError(description: "\(req.method) \(req.url): response body over \(maxBodyBytes) bytes")
        }
    }

    /// Hands the response body to `receive` chunk by chunk as libcurl reads it, with the response's
    /// status code; `receive` returns false to end the transfer. Blocks until the transfer ends.
    /// A transport failure (connect, TLS, timeout, reset) throws.
    public static func stream(_ req: HTTPRequest, options: HTTPStreamOptions = HTTPStreamOptions(), cancellation: HTTPCancellation? = nil,
                              receive: (_ status: Int, _ chunk: UnsafeRawBufferPointer) -> Bool) throws -> HTTPStreamResult {
        _ = initOnce
        let transfer = try Transfer(req, options: options)
        return try withoutActuallyEscaping(receive) { receive in
            let receiver = Receiver(handle: transfer.handle, receive: receive)
            return try transfer.run(receiver: receiver, cancellation: cancellation ?? HTTPCancellation())
        }
    }

    /// The write callback's context, reached from C through `Unmanaged`.
    private final class Receiver {
        let handle: UnsafeMutableRawPointer
        let receive: (Int, UnsafeRawBufferPointer) -> Bool
        var stopped = false

        init(handle: UnsafeMutableRawPointer, receive: @escaping (Int, UnsafeRawBufferPointer) -> Bool) {
            self.handle = handle
            self.receive = receive
        }
    }

    /// One configured easy handle and every piece of memory its options point to, freed together.
    private final class Transfer {
        let handle: UnsafeMutableRawPointer
        let request: HTTPRequest
        private var headerList: UnsafeMutablePointer<curl_slist>?
        private let errorBuffer: UnsafeMutablePointer<CChar>

        init(_ req: HTTPRequest, options: HTTPStreamOptions) throws {
            guard let h = curl_easy_init() else { throw HTTPClientError(description: "curl_easy_init failed") }
            handle = h
            request = req
            errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
            errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
            for (name, value) in req.headers { headerList = curl_slist_append(headerList, "\(name): \(value)") }
            // libcurl copies string options and blobs flagged CURL_BLOB_COPY; the header list and
            // the error buffer live as long as this object.
            _ = req.url.withCString { rampart_curl_setopt_ptr(h, CURLOPT_URL, $0) }
            _ = req.method.withCString { rampart_curl_setopt_ptr(h, CURLOPT_CUSTOMREQUEST, $0) }
            _ = rampart_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
            _ = rampart_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, max(0, req.timeoutMs))
            _ = rampart_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, max(1, options.connectTimeoutMs))
            if let idle = options.idleTimeoutSeconds {
                _ = rampart_curl_setopt_long(h, CURLOPT_LOW_SPEED_LIMIT, 1)
                _ = rampart_curl_setopt_long(h, CURLOPT_LOW_SPEED_TIME, max(1, idle))
            }
            _ = rampart_curl_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1)
            _ = rampart_curl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)
            _ = rampart_curl_setopt_ptr(h, CURLOPT_ERRORBUFFER, errorBuffer)
            if let headerList { _ = rampart_curl_setopt_ptr(h, CURLOPT_HTTPHEADER, headerList) }
            if !req.body.isEmpty || req.method == "POST" || req.method == "PUT" || req.method == "PATCH" {
                _ = rampart_curl_setopt_long(h, CURLOPT_POSTFIELDSIZE, req.body.count)
                _ = req.body.withUnsafeBytes { rampart_curl_setopt_ptr(h, CURLOPT_COPYPOSTFIELDS, $0.baseAddress ?? UnsafeRawPointer(errorBuffer)) }
            }
            if req.insecureSkipVerify {
                _ = rampart_curl_setopt_long(h, CURLOPT_SSL_VERIFYPEER, 0)
                _ = rampart_curl_setopt_long(h, CURLOPT_SSL_VERIFYHOST, 0)
            }
            if let ca = req.ca {
                try set(ca, file: CURLOPT_CAINFO, blob: CURLOPT_CAINFO_BLOB, what: "CA")
            } else if let ca = req.caFile {
                _ = ca.withCString { rampart_curl_setopt_ptr(h, CURLOPT_CAINFO, $0) }
            }
            if let cert = req.clientCertificate {
                _ = "PEM".withCString { rampart_curl_setopt_ptr(h, CURLOPT_SSLCERTTYPE, $0) }
                try set(cert, file: CURLOPT_SSLCERT, blob: CURLOPT_SSLCERT_BLOB, what: "client certificate")
            }
            if let key = req.clientKey {
                _ = "PEM".withCString { rampart_curl_setopt_ptr(h, CURLOPT_SSLKEYTYPE, $0) }
                try set(key, file: CURLOPT_SSLKEY, blob: CURLOPT_SSLKEY_BLOB, what: "client key")
            }
        }

        deinit {
            curl_easy_cleanup(handle)
            curl_slist_free_all(headerList)
            errorBuffer.deallocate()
        }

        private func set(_ material: TLSMaterial, file: CURLoption, blob: CURLoption, what: String) throws {
            let code: CURLcode
            switch material {
            case .file(let path):
                code = path.withCString { rampart_curl_setopt_ptr(handle, file, $0) }
            case .pem(let bytes):
                code = bytes.withUnsafeBytes { raw in
                    var b = curl_blob(data: UnsafeMutableRawPointer(mutating: raw.baseAddress), len: raw.count, flags: UInt32(CURL_BLOB_COPY))
                    return rampart_curl_setopt_ptr(handle, blob, &b)
                }
            }
            guard code == CURLE_OK else {
                throw HTTPClientError(description: "\(request.method) \(request.url): cannot set the \(what): \(String(cString: curl_easy_strerror(code)))")
            }
        }

        /// Drives the transfer through a multi handle so that `cancellation` can wake it from another thread.
        func run(receiver: Receiver, cancellation: HTTPCancellation) throws -> HTTPStreamResult {
            let context = Unmanaged.passUnretained(receiver).toOpaque()
            _ = rampart_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, context)
            _ = rampart_curl_setopt_write(handle) { data, size, count, user in
                guard let data, let user else { return 0 }
                let receiver = Unmanaged<Receiver>.fromOpaque(user).takeUnretainedValue()
                let (total, overflow) = size.multipliedReportingOverflow(by: count)
                if overflow { return 0 }
                var status = 0
                _ = rampart_curl_getinfo_long(receiver.handle, CURLINFO_RESPONSE_CODE, &status)
                if receiver.receive(status, UnsafeRawBufferPointer(start: data, count: total)) { return total }
                receiver.stopped = true
                return 0
            }
            guard let multi = curl_multi_init() else { throw HTTPClientError(description: "curl_multi_init failed") }
            defer { curl_multi_cleanup(multi) }
            _ = curl_multi_add_handle(multi, handle)
            defer { _ = curl_multi_remove_handle(multi, handle) }
            guard cancellation.attach(multi) else { return HTTPStreamResult(status: 0, end: .cancelled) }
            defer { cancellation.detach() }
            var running: Int32 = 1
            while true {
                let mc = curl_multi_perform(multi, &running)
                guard mc == CURLM_OK else {
                    throw HTTPClientError(description: "\(request.method) \(request.url): \(String(cString: curl_multi_strerror(mc)))")
                }
                if running == 0 { break }
                if cancellation.isCancelled { return HTTPStreamResult(status: status, end: .cancelled) }
                _ = curl_multi_poll(multi, nil, 0, 1000, nil)
                if cancellation.isCancelled { return HTTPStreamResult(status: status, end: .cancelled) }
            }
            var code = CURLE_OK
            var left: Int32 = 0
            while let message = curl_multi_info_read(multi, &left) {
                if message.pointee.msg == CURLMSG_DONE { code = message.pointee.data.result }
            }
            if receiver.stopped { return HTTPStreamResult(status: status, end: .stoppedByReceiver) }
            guard code == CURLE_OK else {
                let detail = String(cString: errorBuffer)
                throw HTTPClientError(description: "\(request.method) \(request.url): \(detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)")
            }
            return HTTPStreamResult(status: status, end: .complete, retryAfterSeconds: retryAfterSeconds)
        }

        /// `Retry-After` of the last response as delay-seconds: 1 to 9 digits, nothing else (an
        /// HTTP-date or a garbled value is ignored, and the caller's own backoff applies).
        private var retryAfterSeconds: Int? {
            var header: UnsafeMutablePointer<curl_header>?
            guard curl_easy_header(handle, "Retry-After", 0, UInt32(CURLH_HEADER), -1, &header) == CURLHE_OK,
                  let value = header?.pointee.value else { return nil }
            let text = String(cString: value).trimmingCharacters(in: .whitespaces)
            guard (1...9).contains(text.utf8.count), text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return Int(text)
        }

        private var status: Int {
            var status = 0
            _ = rampart_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
            return status
        }
    }
}
