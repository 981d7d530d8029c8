// libFuzzer target: PEM/X.509 loading (RampartCrypto/X509.swift): certificate chains, private keys, and
// the name checks run on what they yield. Input byte 0: even = the rest is PEM text, odd = the rest is DER,
// wrapped here as a CERTIFICATE (or PRIVATE KEY) block so mutations reach the ASN.1 parser directly.
import FuzzSupport
import RampartCrypto

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let mode = data[0]
    let rest = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let pem: String
    if mode & 1 == 0 {
        pem = String(decoding: rest, as: UTF8.self)
    } else {
        pem = block(mode & 2 == 0 ? "CERTIFICATE" : "PRIVATE KEY", der: rest)
    }
    let certificates = (try? Certificate.parseChain(pem: pem)) ?? []
    Fuzz.require(certificates.count <= 64, "\(certificates.count) certificates in one PEM")
    for certificate in certificates {
        let der = certificate.derBytes
        Fuzz.require(!der.isEmpty, "a parsed certificate has no DER encoding")
        // Re-encoding what was parsed gives the same certificate.
        let again = try? Certificate.parseChain(pem: block("CERTIFICATE", der: der))
        Fuzz.require(again?.count == 1 && again?.first?.sha256Fingerprint == certificate.sha256Fingerprint,
                     "a parsed certificate does not survive DER → PEM → parse")
        for name in certificate.dnsNames.prefix(4) + ["example.com", "*.example.com", "127.0.0.1", ".example.com", ""] {
            _ = certificate.covers(hostname: name)
        }
        Fuzz.require(!certificate.covers(hostname: ""), "the empty host name is covered")
        Fuzz.require(!certificate.covers(hostname: ".example.com"), "a leading-dot name is covered")
        _ = certificate.description
    }
    if let key = try? PrivateKey.parse(pem: pem) {
        Fuzz.require("\(key)".hasSuffix("***)"), "a private key printed")
        _ = key.bits
        for certificate in certificates.prefix(2) { _ = key.matches(certificate) }
    }
    return 0
}

/// A PEM block of `der` under `label`, 64 base64 characters a line.
private func block(_ label: String, der: [UInt8]) -> String {
    let text = Base64.encode(der)
    var lines: [Substring] = []
    var start = text.startIndex
    while start < text.endIndex {
        let end = text.index(start, offsetBy: 64, limitedBy: text.endIndex) ?? text.endIndex
        lines.append(text[start..<end])
        start = end
    }
    return "-----BEGIN \(label)-----\n" + lines.joined(separator: "\n") + "\n-----END \(label)-----\n"
}

#if !FUZZING
@main enum Replay { static func main() { Fuzz.replay(fuzz) } }
#endif
