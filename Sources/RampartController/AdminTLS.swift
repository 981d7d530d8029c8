import Foundation
import RampartCrypto
import RampartGateway

/// `--admin-tls auto|off|CERT,KEY`: the admin API's certificate.
public enum AdminTLS {
    public static let certFile = "admin-tls.crt"
    public static let keyFile = "admin-tls.key"
    /// The key encrypted with the master key (`--master-key-file`); then no plaintext key is kept.
    public static let encryptedKeyFile = "admin-tls.key.enc"
    static let keyField = "admin-tls.key"
    /// The encrypted key file's binding: a state-dir file, not a resource, so a pseudo kind no resource has.
    static let keyBinding = EncryptionBinding(kind: "StateDir", namespace: "", name: encryptedKeyFile, fieldPath: keyField)

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// nil for `off` (plain HTTP, with a warning). `auto` makes an ECDSA P-256 key and a self-signed
    /// certificate in the state dir on first start (key 0600) and logs the certificate's SHA-256
    /// fingerprint so clients can pin it.
    public static func load(mode: String, stateDir: StateDir, log: Log, master: Keyring? = nil,
                            hostname: String = AdminTLS.systemHostname()) throws -> AdminTLSConfig? {
        switch mode {
        case "off":
            log.warn("admin API TLS is off (--admin-tls off): tokens travel in plaintext; keep the admin listener on loopback")
            return nil
        case "auto", "":
            let haveKey = stateDir.read(keyFile) != nil || (master != nil && stateDir.read(encryptedKeyFile) != nil)
            if stateDir.read(certFile) == nil || !haveKey {
                var names = ["localhost"]
                let h = hostname.trimmingCharacters(in: .whitespaces)
                if !h.isEmpty, h != "localhost", Certificate.isHostName(h) { names.append(h) }
                var g = try SelfSignedCertificate.generate(commonName: "rampart admin API", dnsNames: names, ipAddresses: ["127.0.0.1", "::1"])
                defer { for i in g.privateKeyPEM.indices { g.privateKeyPEM[i] = 0 } }
                try storeKey(g.privateKeyPEM, stateDir: stateDir, master: master)
                try stateDir.writeAtomically(certFile, Array(g.certificatePEM.utf8))
                log.info("generated a self-signed admin API certificate", ["file": stateDir.file(certFile), "names": names.joined(separator: ",")])
            }
            if let master, var plain = stateDir.read(keyFile) {
                // A key written before --master-key-file was given: encrypt it and drop the plaintext.
                defer { for i in plain.indices { plain[i] = 0 } }
                try storeKey(plain, stateDir: stateDir, master: master)
                log.info("admin API TLS key is now stored encrypted with the master key", ["file": stateDir.file(encryptedKeyFile)])
            }
            var keyPEM = try storedKey(stateDir: stateDir, master: master)
            defer { for i in keyPEM.indices { keyPEM[i] = 0 } }
            guard let certPEM = stateDir.read(certFile) else { throw Failure(description: "--admin-tls: cannot read \(stateDir.file(certFile))") }
            let cfg = try parse(cert: certPEM, key: keyPEM, certName: stateDir.file(certFile), keyName: stateDir.file(keyFile))
            log.info("admin API TLS certificate", ["sha256": cfg.chain.first?.sha256Fingerprint ?? "", "file": stateDir.file(certFile)])
            return cfg
        default:
            let parts = mode.split(separator: ",", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw Failure(description: "--admin-tls: auto, off or CERT_FILE,KEY_FILE")
            }
            let cfg = try read(cert: parts[0], key: parts[1])
            log.info("admin API TLS certificate", ["sha256": cfg.chain.first?.sha256Fingerprint ?? "", "file": parts[0]])
            return cfg
        }
    }

    public static func systemHostname() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Writes the key encrypted with the master key when there is one (removing any plaintext copy), else 0600 plaintext.
    static func storeKey(_ pem: [UInt8], stateDir: StateDir, master: Keyring?) throws {
        guard let master else {
            try stateDir.writeAtomically(keyFile, pem)
            return
        }
        let enc = try master.encrypt(plaintext: pem, binding: keyBinding)
        try stateDir.writeAtomically(encryptedKeyFile, Array((enc + "\n").utf8))
        unlink(stateDir.file(keyFile))
    }

    static func storedKey(stateDir: StateDir, master: Keyring?) throws -> [UInt8] {
        if let enc = stateDir.read(encryptedKeyFile) {
            guard let master else {
                throw Failure(description: "--admin-tls: \(stateDir.file(encryptedKeyFile)) is encrypted with the master key; start with --master-key-file")
            }
            var text = String(decoding: enc, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            do {
                if (try? EncryptedValue.parse(text).version) == .v1 {
                    // Written by an older Rampart (bound to the field only): re-bind it in place, never via plaintext on disk.
                    text = try master.rebindLegacy(text, binding: keyBinding)
                    try stateDir.writeAtomically(encryptedKeyFile, Array((text + "\n").utf8))
                }
                return try master.decrypt(text, binding: keyBinding)
            } catch {
                throw Failure(description: "--admin-tls: cannot decrypt \(stateDir.file(encryptedKeyFile)) with the master key (wrong --master-key-file?): \(error)")
            }
        }
        guard let k = stateDir.read(keyFile) else { throw Failure(description: "--admin-tls: cannot read \(stateDir.file(keyFile))") }
        return k
    }

    static func read(cert: String, key: String) throws -> AdminTLSConfig {
        guard let c = FileManager.default.contents(atPath: cert) else { throw Failure(description: "--admin-tls: cannot read \(cert)") }
        guard let k = FileManager.default.contents(atPath: key) else { throw Failure(description: "--admin-tls: cannot read \(key)") }
        return try parse(cert: [UInt8](c), key: [UInt8](k), certName: cert, keyName: key)
    }

    static func parse(cert c: [UInt8], key k: [UInt8], certName cert: String, keyName key: String) throws -> AdminTLSConfig {
        var keyText = String(decoding: k, as: UTF8.self)
        defer { keyText = "" }
        let chain: [Certificate]
        let pkey: PrivateKey
        do { chain = try Certificate.parseChain(pem: String(decoding: c, as: UTF8.self)) } catch {
            throw Failure(description: "--admin-tls: \(cert): \(error)")
        }
        do { pkey = try PrivateKey.parse(pem: keyText) } catch { throw Failure(description: "--admin-tls: \(key): \(error)") }
        guard let leaf = chain.first, pkey.matches(leaf) else {
            throw Failure(description: "--admin-tls: the key in \(key) does not match the certificate in \(cert)")
        }
        return AdminTLSConfig(chain: chain, key: pkey)
    }
}

extension Certificate {
    /// A plain DNS host name (what can go into a dNSName SAN).
    static func isHostName(_ h: String) -> Bool {
        let labels = h.split(separator: ".", omittingEmptySubsequences: false)
        return !labels.isEmpty && h.utf8.count <= 253 && labels.allSatisfy { l in
            (1...63).contains(l.utf8.count) && l.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == UInt8(ascii: "-")
            }
        }
    }
}
