import Foundation

/// Certificates made for a test with the `openssl` CLI in a temporary directory:
/// a CA, server certificates for exact and wildcard names, a client certificate, an expired
/// certificate, a second CA (for "wrong CA" cases) and a key that matches no certificate.
public final class TestPKI: @unchecked Sendable {
    public let dir: String

    public init() throws {
        dir = try TempDir.make("pki")
        let script = #"""
        set -e
        cd "$1"
        gen() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
        ca() {  # name CN
          gen "$1.key"
          openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 30 -out "$1.crt" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
        }
        leaf() {  # name CN SAN EKU [CA]
          local issuer="${5:-ca}"
          gen "$1.key"
          openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
          printf "subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n" "$3" "$4" > "$1.ext"
          openssl x509 -req -in "$1.csr" -CA "$issuer.crt" -CAkey "$issuer.key" -CAcreateserial -days 20 \
            -extfile "$1.ext" -out "$1.crt" 2>/dev/null
        }
        ca ca "Rampart Test CA"
        ca otherca "Other Test CA"
        leaf exact "api.example.com" "DNS:api.example.com" serverAuth
        leaf wild "wildcard.example.com" "DNS:*.example.com" serverAuth
        leaf fallback "default.test" "DNS:default.test" serverAuth
        leaf localhost "localhost" "DNS:localhost,IP:127.0.0.1" serverAuth
        leaf client "client-one" "DNS:client.test" clientAuth
        leaf otherclient "intruder" "DNS:intruder.test" clientAuth otherca
        leaf upstream "upstream.internal" "DNS:upstream.internal,IP:127.0.0.1" serverAuth
        gen wrong.key
        # An expired certificate: `openssl ca` takes explicit dates.
        gen expired.key
        mkdir -p cadb && : > cadb/index.txt && echo 1000 > cadb/serial
        cat > ca.cnf <<CNF
        [ca]
        default_ca = d
        [d]
        dir = cadb
        database = cadb/index.txt
        serial = cadb/serial
        new_certs_dir = cadb
        default_md = sha256
        policy = p
        copy_extensions = copy
        [p]
        commonName = supplied
        CNF
        openssl req -new -key expired.key -subj "/CN=old.example.com" -addext "subjectAltName=DNS:old.example.com" -out expired.csr 2>/dev/null
        openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in expired.csr -out expired.crt \
          -startdate 20200101000000Z -enddate 20200201000000Z -notext 2>/dev/null
        cat client.crt ca.crt > client-chain.crt
        """#
        let r = try Command.run("/bin/bash", ["-c", script, "pki", dir])
        guard r.code == 0 else {
            throw NSError(domain: "TestPKI", code: Int(r.code), userInfo: [NSLocalizedDescriptionKey: "openssl failed: \(r.stderr)"])
        }
    }

    public func path(_ name: String) -> String { dir + "/" + name }

    /// File contents (PEM text).
    public func pem(_ name: String) -> String { (try? String(contentsOfFile: path(name), encoding: .utf8)) ?? "" }

    /// A YAML block scalar of `name`'s PEM, indented by `indent` spaces.
    public func yamlBlock(_ name: String, indent: Int) -> String {
        let pad = String(repeating: " ", count: indent)
        return "|\n" + pem(name).split(separator: "\n").map { pad + $0 }.joined(separator: "\n")
    }

    /// An SSL manifest with inline PEM values.
    public func sslManifest(_ name: String, cert: String, key: String?, snis: [String], type: String = "server",
                            isDefault: Bool = false, clientAuth: (ca: String, mode: String)? = nil, minVersion: String? = nil) -> String {
        var y = "apiVersion: rampart.io/v1alpha1\nkind: SSL\nmetadata:\n  name: \(name)\n"
        if isDefault { y += "  labels: {rampart.io/default-cert: \"true\"}\n" }
        y += "spec:\n  type: \(type)\n"
        if !snis.isEmpty { y += "  snis: [\(snis.map { "\"\($0)\"" }.joined(separator: ", "))]\n" }
        y += "  certificate:\n    value: \(yamlBlock(cert, indent: 6))\n"
        if let key { y += "  privateKey:\n    value: \(yamlBlock(key, indent: 6))\n" }
        if let ca = clientAuth {
            y += "  clientAuth:\n    mode: \(ca.mode)\n    ca:\n      value: \(yamlBlock(ca.ca, indent: 8))\n"
        }
        if let minVersion { y += "  minVersion: \(minVersion)\n" }
        return y
    }
}

/// TLS clients run as real processes: `openssl s_client`, `curl`, python `ssl`.
public enum TLSClient {
    public struct Handshake: Sendable {
        public var ok: Bool
        public var subject: String   // the server certificate's subject line, if any
        public var output: String
    }

    /// `openssl s_client` handshake only; `sni: nil` sends no SNI.
    public static func handshake(port: Int, sni: String?, extra: [String] = [], timeout: Double = 10) -> Handshake {
        var args = ["s_client", "-connect", "127.0.0.1:\(port)", "-brief"]
        if let sni { args += ["-servername", sni] } else { args.append("-noservername") }
        args += extra
        let r = (try? Command.run("/usr/bin/openssl", args, stdin: "", timeout: timeout))
        let out = (r?.stdout ?? "") + (r?.stderr ?? "")
        var subject = ""
        for line in out.split(separator: "\n") where line.hasPrefix("Peer certificate:") {
            subject = String(line.dropFirst("Peer certificate:".count)).trimmingCharacters(in: .whitespaces)
        }
        let ok = out.contains("CONNECTION ESTABLISHED") && !out.contains("alert")
        return Handshake(ok: ok, subject: subject, output: out)
    }

    /// curl over HTTPS to 127.0.0.1:port as `host` (--resolve); nil if curl failed (exit code in `error`).
    public static func curl(port: Int, host: String, path: String = "/", cacert: String?, cert: String? = nil, key: String? = nil,
                            headers: [String] = [], extra: [String] = []) -> (status: Int, body: String, error: String)? {
        var args = ["-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", "--resolve", "\(host):\(port):127.0.0.1"]
        if let cacert { args += ["--cacert", cacert] } else { args.append("-k") }
        if let cert { args += ["--cert", cert] }
        if let key { args += ["--key", key] }
        for h in headers { args += ["-H", h] }
        args += extra
        args.append("https://\(host):\(port)\(path)")
        guard let r = try? Command.run("/usr/bin/curl", args, timeout: 20) else { return nil }
        guard r.code == 0, let nl = r.stdout.lastIndex(of: "\n"), let status = Int(r.stdout[r.stdout.index(after: nl)...]) else {
            return (0, "", "curl exit \(r.code): \(r.stderr)")
        }
        return (status, String(r.stdout[..<nl]), "")
    }
}
