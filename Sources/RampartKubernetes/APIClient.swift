import Foundation
import RampartHTTPClient

/// An error answer of the API server, decoded from its `Status` object (or made from the HTTP
/// status when the body is not one). `message` is the server's, sanitised for logs.
public struct APIStatusError: Error, Sendable, CustomStringConvertible {
    public var code: Int
    /// `NotFound`, `Conflict`, `Forbidden`, `Unauthorized`, `Expired`, `Gone`, `TooManyRequests`, ...
    public var reason: String
    public var message: String
    public var verb: String
    public var path: String

    public init(code: Int, reason: String, message: String, verb: String = "", path: String = "") {
        self.code = code
        self.reason = reason
        self.message = message
        self.verb = verb
        self.path = path
    }

    public var description: String {
        let what = verb.isEmpty ? "" : "\(verb) \(path): "
        return "\(what)\(code) \(reason)\(message.isEmpty ? "" : ": \(message)")"
    }

    /// Reads a `Status` object; a body that is not one still gives the HTTP code and a reason named after it.
    public static func decode(status: Int, body: some Collection<UInt8>, verb: String = "", path: String = "") -> APIStatusError {
        let object = try? KubeJSON.object(body, maxBytes: 1 << 20)
        return decode(status: status, object: object, verb: verb, path: path)
    }

    static func decode(status: Int, object: [String: Any]?, verb: String, path: String) -> APIStatusError {
        var code = status
        var reason = defaultReason(status)
        var message = ""
        if let object, KubeJSON.string(object["kind"]) == "Status" {
            if let c = KubeJSON.int64(object["code"]), (100...599).contains(c) { code = Int(c) }
            if let r = KubeJSON.string(object["reason"]), !r.isEmpty { reason = printable(r, max: 64) }
            message = printable(KubeJSON.string(object["message"]) ?? "")
        }
        return APIStatusError(code: code, reason: reason, message: message, verb: verb, path: path)
    }

    static func defaultReason(_ status: Int) -> String {
        switch status {
        case 400: return "BadRequest"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "NotFound"
        case 405: return "MethodNotAllowed"
        case 409: return "Conflict"
        case 410: return "Expired"
        case 415: return "UnsupportedMediaType"
        case 422: return "Invalid"
        case 429: return "TooManyRequests"
        case 500: return "InternalError"
        case 503: return "ServiceUnavailable"
        case 504: return "Timeout"
        default: return "HTTP\(status)"
        }
    }
}

/// Which failures a request retries, and how often.
public struct RetryPolicy: Sendable {
    public var attempts: Int
    /// Retry 500-599 answers and transport failures (a request that may have been applied
    /// already is only retried when doing it twice is harmless).
    public var retryServerErrors: Bool
    public var initialDelay: Double
    public var maxDelay: Double

    public init(attempts: Int, retryServerErrors: Bool, initialDelay: Double = 0.2, maxDelay: Double = 2) {
        self.attempts = attempts
        self.retryServerErrors = retryServerErrors
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
    }

    public static let none = RetryPolicy(attempts: 1, retryServerErrors: false)
    /// The longest server-asked `Retry-After` honoured before a retry.
    static let maxRetryAfterSeconds = 30
    /// GET, PUT with a resourceVersion, merge PATCH, DELETE: doing them twice is harmless.
    public static let idempotent = RetryPolicy(attempts: 4, retryServerErrors: true)
    /// POST: 429 means "not done", a 5xx may have created the object already.
    public static let create = RetryPolicy(attempts: 4, retryServerErrors: false)

    static func forVerb(_ verb: String) -> RetryPolicy { verb == "POST" ? .create : .idempotent }
}

/// The Kubernetes API over libcurl: JSON requests with the configured auth, CA and client
/// certificate. Safe from any thread; each request is its own libcurl transfer.
public final class KubernetesClient: Sendable {
    public let config: KubeConfig

    public init(config: KubeConfig) { self.config = config }

    /// `server + path + ?query`, each query name and value percent-encoded.
    public func url(_ path: String, query: [(String, String)] = []) -> String {
        var url = config.server + path
        if !query.isEmpty {
            url += "?" + query.map { "\(Self.percentEncoded($0.0))=\(Self.percentEncoded($0.1))" }.joined(separator: "&")
        }
        return url
    }

    /// A libcurl request with this cluster's TLS settings and credentials.
    public func httpRequest(_ method: String, _ path: String, query: [(String, String)] = [], body: [UInt8] = [],
                            contentType: String? = nil, accept: String = "application/json", timeoutMs: Int = 30_000) throws -> HTTPRequest {
        var headers = [("Accept", accept), ("User-Agent", "rampart")]
        if let contentType { headers.append(("Content-Type", contentType)) }
        if let token = try config.token?.current() { headers.append(("Authorization", "Bearer " + token.revealed)) }
        return HTTPRequest(method: method, url: url(path, query: query), headers: headers, body: body, timeoutMs: timeoutMs,
                           insecureSkipVerify: config.insecureSkipTLSVerify, ca: config.ca,
                           clientCertificate: config.clientCertificate, clientKey: config.clientKey)
    }

    /// Sends one request and returns the body of a 2xx answer; any other answer throws
    /// `APIStatusError`, a transport failure `HTTPClientError`. 429 is retried, and 5xx or a
    /// transport failure too when `retry` allows it; a 401 re-reads a token file once (it may
    /// have rotated). `stop` ends waits and the transfer in flight.
    @discardableResult
    public func send(_ method: String, _ path: String, query: [(String, String)] = [], body: [UInt8] = [],
                     contentType: String? = nil, timeoutMs: Int = 30_000, retry: RetryPolicy? = nil,
                     maxBodyBytes: Int = 64 << 20, stop: StopSignal? = nil) throws -> [UInt8] {
        let policy = retry ?? RetryPolicy.forVerb(method)
        var backoff = Backoff(initial: policy.initialDelay, max: policy.maxDelay)
        var reauthenticated = false
        var attempt = 0
        while true {
            attempt += 1
            let request = try httpRequest(method, path, query: query, body: body,
                                          contentType: contentType ?? (body.isEmpty ? nil : "application/json"), timeoutMs: timeoutMs)
            let retryable: Error
            var serverDelay: Double?
            do {
                let response = try HTTPClient.send(request, maxBodyBytes: maxBodyBytes, cancellation: stop?.cancellation)
                if (200...299).contains(response.status) { return response.body }
                let error = APIStatusError.decode(status: response.status, body: response.body, verb: method, path: path)
                if response.status == 401, !reauthenticated, let token = config.token, case .file = token.source {
                    reauthenticated = true
                    token.invalidate()
                    attempt -= 1
                    continue
                }
                guard response.status == 429 || (policy.retryServerErrors && (500...599).contains(response.status)) else { throw error }
                retryable = error
                // API Priority and Fairness answers 429 with Retry-After, as client-go honours it;
                // capped so that a hostile server cannot park the client for long.
                serverDelay = response.retryAfterSeconds.map { Double(min($0, RetryPolicy.maxRetryAfterSeconds)) }
            } catch let error as HTTPClientError {
                guard policy.retryServerErrors, stop?.isStopped != true else { throw error }
                retryable = error
            }
            guard attempt < policy.attempts else { throw retryable }
            let delay = max(serverDelay ?? 0, backoff.next())
            if let stop { if stop.wait(seconds: delay) { throw retryable } } else { Thread.sleep(forTimeInterval: delay) }
        }
    }

    /// GET and parse a JSON object.
    public func getObject(_ path: String, query: [(String, String)] = [], stop: StopSignal? = nil) throws -> [String: Any] {
        try KubeJSON.object(try send("GET", path, query: query, stop: stop))
    }

    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2D, 0x2E, 0x5F, 0x7E:
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%"
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0xF)]))
            }
        }
        return out
    }
}
