import CCurl
import CShims
import Foundation

/// The linked libcurl's version, for `rampart version`.
public enum HTTPClientInfo {
    public static var curlVersion: String {
        guard let v = curl_version() else { return "unknown" }
        return String(cString: v)
    }
}

/// One HTTP request for the control plane (admin API clients, later Vault, AWS, Kubernetes, webhooks).
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var timeoutMs: Int
    /// PEM CA bundle file to verify the server with (nil: the system store).
    public var caFile: String?
    public var insecureSkipVerify: Bool

    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8] = [], timeoutMs: Int = 10_000,
                caFile: String? = nil, insecureSkipVerify: Bool = false) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutMs = timeoutMs
        self.caFile = caFile
        self.insecureSkipVerify = insecureSkipVerify
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var body: [UInt8]

    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// A blocking libcurl easy-handle client; one handle per request, so it is safe from any thread.
public enum HTTPClient {
    private static let initOnce: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// Collects a response body; reached from libcurl's C callback through `Unmanaged`.
    private final class Sink {
        var bytes: [UInt8] = []
        let limit: Int
        init(limit: Int) { self.limit = limit }
    }

    public static func send(_ req: HTTPRequest, maxBodyBytes: Int = 64 << 20) throws -> HTTPResponse {
        _ = initOnce
        guard let h = curl_easy_init() else { throw HTTPClientError(description: "curl_easy_init failed") }
        defer { curl_easy_cleanup(h) }
        let sink = Sink(limit: maxBodyBytes)
        let ctx = Unmanaged.passUnretained(sink).toOpaque()
        var list: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(list) }
        for (k, v) in req.headers { list = curl_slist_append(list, "\(k): \(v)") }
        var errbuf = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code: CURLcode = req.url.withCString { url in
            req.method.withCString { method in
                req.body.withUnsafeBytes { body in
                    errbuf.withUnsafeMutableBufferPointer { eb in
                        _ = rampart_curl_setopt_ptr(h, CURLOPT_URL, url)
                        _ = rampart_curl_setopt_ptr(h, CURLOPT_CUSTOMREQUEST, method)
                        _ = rampart_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
                        _ = rampart_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, req.timeoutMs)
                        _ = rampart_curl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)
                        _ = rampart_curl_setopt_ptr(h, CURLOPT_ERRORBUFFER, eb.baseAddress)
                        if let list { _ = rampart_curl_setopt_ptr(h, CURLOPT_HTTPHEADER, list) }
                        if !req.body.isEmpty || req.method == "POST" || req.method == "PUT" {
                            _ = rampart_curl_setopt_ptr(h, CURLOPT_POSTFIELDS, body.baseAddress)
                            _ = rampart_curl_setopt_long(h, CURLOPT_POSTFIELDSIZE, body.count)
                        }
                        if req.insecureSkipVerify {
                            _ = rampart_curl_setopt_long(h, CURLOPT_SSL_VERIFYPEER, 0)
                            _ = rampart_curl_setopt_long(h, CURLOPT_SSL_VERIFYHOST, 0)
                        }
                        if let ca = req.caFile { _ = ca.withCString { rampart_curl_setopt_ptr(h, CURLOPT_CAINFO, $0) } }
                        _ = rampart_curl_setopt_ptr(h, CURLOPT_WRITEDATA, ctx)
                        _ = rampart_curl_setopt_write(h) { data, size, n, user in
                            guard let data, let user else { return 0 }
                            let sink = Unmanaged<Sink>.fromOpaque(user).takeUnretainedValue()
                            let count = size * n
                            if sink.bytes.count + count > sink.limit { return 0 }
                            data.withMemoryRebound(to: UInt8.self, capacity: count) { sink.bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: count)) }
                            return count
                        }
                        return curl_easy_perform(h)
                    }
                }
            }
        }
        guard code == CURLE_OK else {
            let detail = String(decoding: errbuf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw HTTPClientError(description: "\(req.method) \(req.url): \(detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)")
        }
        var status = 0
        _ = rampart_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, body: sink.bytes)
    }
}
