import Foundation
import XCTest
@testable import RampartGateway
import TestSupport

/// A running in-process gateway on 127.0.0.1:0.
final class TestGateway {
    let gateway: Gateway
    let port: Int

    init(_ snapshot: GatewaySnapshot, config: GatewayConfig = GatewayConfig(listen: ["127.0.0.1:0"], workers: 2)) throws {
        var cfg = config
        cfg.listen = ["127.0.0.1:0"]
        gateway = try Gateway(config: cfg)
        gateway.apply(snapshot)
        try gateway.start()
        guard let a = gateway.boundAddresses.first, let p = Int(a.split(separator: ":").last ?? "") else {
            throw NSError(domain: "TestGateway", code: 1)
        }
        port = p
    }

    func get(_ path: String, host: String = "example.com", headers: [String] = []) -> TestResponse? {
        var raw = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\n"
        for h in headers { raw += h + "\r\n" }
        raw += "Connection: close\r\n\r\n"
        return httpRequest(port: port, raw)
    }

    func stop() { gateway.stop(drainTimeoutMs: 1000) }
}

func upstreamConfig(_ key: String, _ ups: [TestUpstream], weights: [Int]? = nil, retries: Int = 1,
                    lb: LoadBalancerType = .roundrobin, health: HealthCheckConfig? = nil,
                    timeout: Timeouts = Timeouts(connectMs: 1000, sendMs: 5000, readMs: 5000)) -> UpstreamConfig {
    UpstreamConfig(id: key, nodes: ups.enumerated().map { i, u in
        UpstreamNode(host: "127.0.0.1", port: u.port, weight: weights?[i] ?? 1)
    }, loadBalancer: lb, healthCheck: health, retries: retries, timeout: timeout)
}

func route(_ id: String, hosts: [String] = [], paths: [String] = ["/*"], methods: [String] = [],
           headers: [HeaderPair] = [], priority: Int = 0, upstream: String = "default/up",
           timeout: Timeouts? = nil, websocket: Bool = false, plugins: [PluginConfig] = []) -> RouteConfig {
    RouteConfig(id: id, hosts: hosts, paths: paths, methods: methods, headers: headers, priority: priority,
                upstream: upstream, timeout: timeout, websocket: websocket, plugins: plugins)
}

extension TestResponse {
    /// The echo upstream's view of the request.
    var echoHeaders: [(String, String)] {
        guard let j = json, let hs = j["headers"] as? [[String]] else { return [] }
        return hs.compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil }
    }
    func echoHeader(_ name: String) -> String? {
        echoHeaders.first { $0.0.lowercased() == name.lowercased() }?.1
    }
    var echoServer: String? { json?["server"] as? String }
    var echoTarget: String? { json?["target"] as? String }
    var echoBody: String? { json?["body"] as? String }
}
