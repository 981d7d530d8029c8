import Foundation

/// A moto_server (AWS emulation, peers/aws-secrets-manager.md) on a free 127.0.0.1 port, stopped by its PID.
public final class MotoServer: @unchecked Sendable {
    public let process: Background
    public let port: Int
    public var endpoint: String { "http://127.0.0.1:\(port)" }

    public init(env: [String: String] = [:]) throws {
        port = Ports.free()
        process = try Background("/usr/bin/env", ["moto_server", "-H", "127.0.0.1", "-p", String(port)], env: env)
        let url = "http://127.0.0.1:\(port)/moto-api/"
        guard Poll.until(timeout: 30, interval: 0.05, { Curl.get(url, timeout: 2)?.status == 200 }) else {
            process.stop()
            throw NSError(domain: "moto", code: 1, userInfo: [NSLocalizedDescriptionKey: "moto_server did not start: \(process.output)"])
        }
    }

    /// Runs a boto3 script; `sm` (secretsmanager) and `iam` clients for eu-west-1 are predefined. Returns stdout.
    @discardableResult
    public func python(_ body: String) throws -> String {
        let script = """
        import boto3, json, base64
        kw = dict(endpoint_url="\(endpoint)", region_name="eu-west-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")
        sm = boto3.client("secretsmanager", **kw)
        iam = boto3.client("iam", **kw)
        \(body)
        """
        let r = try Command.run("/usr/bin/env", ["python3", "-c", script], timeout: 60)
        guard r.code == 0 else { throw NSError(domain: "moto", code: 2, userInfo: [NSLocalizedDescriptionKey: "seed failed: \(r.stderr)"]) }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func stop() { process.stop() }
}
