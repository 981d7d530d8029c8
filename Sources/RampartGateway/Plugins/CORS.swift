/// cors: answers preflights itself and adds Access-Control-* to responses for allowed origins.
/// Request hook (origin check, preflight), response hook (headers), per-exchange state (the origin).
final class CORSPlugin: Sendable {
    let anyOrigin: Bool
    let allowCredentials: Bool
    let origins: [[UInt8]]
    let allowMethods: [UInt8]
    let allowHeaders: [UInt8]
    let exposeHeaders: [UInt8]
    let maxAgeSeconds: Int

    /// What an exchange keeps between the hooks: the Access-Control-Allow-Origin value (empty: none).
    struct Exchange {
        var origin: [UInt8] = []
    }

    static let wildcard: [UInt8] = Array("*".utf8)
    static let optionsMethod: [UInt8] = Array("OPTIONS".utf8)

    init(_ c: CORSConfig) throws {
        if c.allowCredentials && (c.allowOrigins.isEmpty || c.allowOrigins.contains("*")) {
            throw GatewayError.invalidConfig("cors: allowCredentials needs the allowed origins listed, not \"*\"")
        }
        anyOrigin = c.allowOrigins.contains("*")
        allowCredentials = c.allowCredentials
        origins = c.allowOrigins.map { Array($0.utf8) }
        allowMethods = Array((c.allowMethods.isEmpty ? "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS" : c.allowMethods.joined(separator: ", ")).utf8)
        allowHeaders = Array(c.allowHeaders.joined(separator: ", ").utf8)
        exposeHeaders = Array(c.exposeHeaders.joined(separator: ", ").utf8)
        maxAgeSeconds = c.maxAgeSeconds
    }

    /// The response hook (also the preflight's lines).
    func writeHeaders(_ state: Exchange, _ o: ByteBuffer, preflight: Bool) {
        guard !state.origin.isEmpty else { return }
        o.append("Access-Control-Allow-Origin: ")
        o.append(state.origin)
        o.append("\r\nVary: Origin\r\n")
        if allowCredentials { o.append("Access-Control-Allow-Credentials: true\r\n") }
        if preflight {
            o.append("Access-Control-Allow-Methods: ")
            o.append(allowMethods)
            o.append("\r\n")
            if !allowHeaders.isEmpty {
                o.append("Access-Control-Allow-Headers: ")
                o.append(allowHeaders)
                o.append("\r\n")
            }
            o.append("Access-Control-Max-Age: ")
            o.appendDecimal(maxAgeSeconds)
            o.append("\r\n")
        } else if !exposeHeaders.isEmpty {
            o.append("Access-Control-Expose-Headers: ")
            o.append(exposeHeaders)
            o.append("\r\n")
        }
    }
}

extension EventLoop {
    /// cors's request hook: remembers an allowed origin; answers a preflight (204) itself, then false.
    func corsRequest(_ c: ClientConn, _ cors: CORSPlugin, _ req: IncomingRequest) -> Bool {
        let h = req.head, p = req.p
        guard let (start, length) = headerValue(h, p, .origin) else { return true }
        guard cors.anyOrigin || cors.origins.contains(where: { bytesEqual(p + start, length, $0) }) else { return true }
        c.plugins.cors.origin = cors.anyOrigin && !cors.allowCredentials
            ? CORSPlugin.wildcard : Array(UnsafeBufferPointer(start: p + start, count: length))
        if bytesEqual(p + h.methodStart, h.methodLen, CORSPlugin.optionsMethod), findHeader(h, p, "access-control-request-method") {
            let state = c.plugins.cors
            rejectHead(c, 204, keepAlive: true) { o in cors.writeHeaders(state, o, preflight: true) }
            return false
        }
        return true
    }
}
