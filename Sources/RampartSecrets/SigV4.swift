import Foundation
import RampartCrypto

/// AWS credentials for signing; printing shows only `***`.
public struct AWSCredentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// When temporary (STS) credentials stop working; nil = long-lived.
    public var expiration: Date?

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    public var description: String { "AWSCredentials(***)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["credentials": "***"], displayStyle: .struct) }
}

/// AWS Signature Version 4 (header form) for non-S3 services, on RampartCrypto's SHA-256 and HMAC.
public enum SigV4 {
    /// The signer's intermediate and final results; `headers` are the request's headers plus the added
    /// `X-Amz-Date`, `X-Amz-Security-Token` and `Authorization`. Printing masks everything that can carry a token.
    public struct Result: Sendable, CustomStringConvertible {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        public var authorization: String
        public var headers: [(String, String)]
        public var description: String { "SigV4.Result(signature: \(signature))" }
    }

    public static let algorithm = "AWS4-HMAC-SHA256"

    /// Signs a request. `target` is the request target (path and optional `?query`), as on the request line.
    /// Every header given is signed; `X-Amz-Date` (from `date`) and the session token are added when absent.
    public static func sign(method: String, target: String, headers: [(String, String)], body: [UInt8],
                            credentials: AWSCredentials, region: String, service: String, date: Date) -> Result {
        var headers = headers
        let amzDate: String
        if let given = headers.first(where: { $0.0.lowercased() == "x-amz-date" })?.1 {
            amzDate = given.trimmingCharacters(in: .whitespaces)
        } else {
            amzDate = Self.amzDate(date)
            headers.append(("X-Amz-Date", amzDate))
        }
        if let token = credentials.sessionToken, !token.isEmpty,
           !headers.contains(where: { $0.0.lowercased() == "x-amz-security-token" }) {
            headers.append(("X-Amz-Security-Token", token))
        }
        let day = String(amzDate.prefix(8))
        let scope = "\(day)/\(region)/\(service)/aws4_request"

        let (path, query) = splitTarget(target)
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(headers)
        let payloadHash = Hex.encode(SHA256.hash(body))
        let creq = [method.uppercased(), canonicalURI(path), canonicalQuery(query), canonicalHeaders, signedHeaders, payloadHash]
            .joined(separator: "\n")
        let sts = [algorithm, amzDate, scope, Hex.encode(SHA256.hash(creq))].joined(separator: "\n")
        let key = signingKey(secret: credentials.secretAccessKey, day: day, region: region, service: service)
        let signature = Hex.encode(HMAC.sha256(key: key, message: sts))
        let authz = "\(algorithm) Credential=\(credentials.accessKeyId)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        headers.append(("Authorization", authz))
        return Result(canonicalRequest: creq, stringToSign: sts, signature: signature, authorization: authz, headers: headers)
    }

    /// `YYYYMMDDTHHMMSSZ` in UTC.
    public static func amzDate(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        func p(_ v: Int32, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return p(tm.tm_year + 1900, 4) + p(tm.tm_mon + 1, 2) + p(tm.tm_mday, 2) + "T" + p(tm.tm_hour, 2) + p(tm.tm_min, 2) + p(tm.tm_sec, 2) + "Z"
    }

    static func signingKey(secret: String, day: String, region: String, service: String) -> [UInt8] {
        let kDate = HMAC.sha256(key: Array("AWS4\(secret)".utf8), message: day)
        let kRegion = HMAC.sha256(key: kDate, message: region)
        let kService = HMAC.sha256(key: kRegion, message: service)
        return HMAC.sha256(key: kService, message: "aws4_request")
    }

    static func splitTarget(_ target: String) -> (String, String) {
        guard let q = target.firstIndex(of: "?") else { return (target, "") }
        return (String(target[..<q]), String(target[target.index(after: q)...]))
    }

    /// The path with dot segments and empty segments removed (the non-S3 rule), each segment URI-encoded.
    static func canonicalURI(_ path: String) -> String {
        var out: [Substring] = []
        for seg in path.split(separator: "/", omittingEmptySubsequences: true) {
            if seg == "." { continue }
            if seg == ".." { if !out.isEmpty { out.removeLast() }; continue }
            out.append(seg)
        }
        var s = "/" + out.map { uriEncode(Array($0.utf8)) }.joined(separator: "/")
        if path.hasSuffix("/") && !out.isEmpty { s += "/" }
        return s
    }

    /// Query parameters decoded, re-encoded, and sorted by name then value.
    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        var pairs: [(String, String)] = []
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let k = uriEncode(percentDecode(kv[0]))
            let v = kv.count > 1 ? uriEncode(percentDecode(kv[1])) : ""
            pairs.append((k, v))
        }
        pairs.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        return pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// Lowercased names sorted, repeated headers joined with commas, values trimmed with inner whitespace runs folded to one space.
    static func canonicalHeaders(_ headers: [(String, String)]) -> (String, String) {
        var order: [String] = []
        var values: [String: [String]] = [:]
        for (name, value) in headers {
            let n = name.lowercased().trimmingCharacters(in: .whitespaces)
            if values[n] == nil { order.append(n) }
            values[n, default: []].append(foldWhitespace(value))
        }
        let names = order.sorted()
        let text = names.map { "\($0):\(values[$0, default: []].joined(separator: ","))\n" }.joined()
        return (text, names.joined(separator: ";"))
    }

    static func foldWhitespace(_ s: String) -> String {
        var out = ""
        var pendingSpace = false
        for ch in s {
            if ch == " " || ch == "\t" || ch == "\n" || ch == "\r" {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" "); pendingSpace = false }
                out.append(ch)
            }
        }
        return out
    }

    static func isUnreserved(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
    }

    static func uriEncode(_ bytes: [UInt8]) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for b in bytes {
            if isUnreserved(b) { out.append(b) } else { out += [0x25, hex[Int(b >> 4)], hex[Int(b & 15)]] }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func percentDecode<S: StringProtocol>(_ s: S) -> [UInt8] {
        let b = Array(s.utf8)
        var out: [UInt8] = []
        var i = 0
        func hv(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        while i < b.count {
            if b[i] == 0x25, i + 2 < b.count, let h = hv(b[i + 1]), let l = hv(b[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return out
    }
}
