// libFuzzer target: what the secret providers make of a provider's response (RampartSecrets): Vault KV v1/v2
// reads and login replies, AWS GetSecretValue JSON and STS XML, and a secret string that may be a JSON object.
// Input: byte 0 picks the decoder, byte 1 the HTTP status, the rest is the response body.
import Foundation
import FuzzSupport
import RampartSecrets

private let statuses = [200, 200, 200, 200, 204, 400, 401, 403, 404, 412, 500, 503]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let decoder = data[0] % 6
    let status = statuses[Int(data[1]) % statuses.count]
    let body = Array(UnsafeBufferPointer(start: data + 2, count: size - 2))
    let ref = "fuzz/ref"
    switch decoder {
    case 0, 1:
        let kv = Int(decoder) + 1
        let first = try? VaultProvider.decodeRead(status: status, body: body, kvVersion: kv, path: "secret/data/x", ref: ref)
        let again = try? VaultProvider.decodeRead(status: status, body: body, kvVersion: kv, path: "secret/data/x", ref: ref)
        Fuzz.require(first?.value == again?.value && first?.version == again?.version, "decoding is not deterministic")
        if let secret = first {
            Fuzz.require(status == 200, "a secret read from HTTP \(status)")
            check(secret.value)
        }
    case 2:
        if let login = VaultProvider.decodeLogin(body: body) { Fuzz.require(!login.token.isEmpty, "empty client token accepted") }
    case 3:
        if let secret = try? AWSSecretsManagerProvider.decodeGetSecretValue(status: status, body: body, secretId: "x", ref: ref) {
            Fuzz.require(status == 200, "a secret read from HTTP \(status)")
            check(secret.value)
        }
    case 4:
        _ = try? AWSSecretsManagerProvider.decodeAssumeRole(status: status, body: body, ref: ref, now: Date(timeIntervalSince1970: 0))
    default:
        let text = String(decoding: body, as: UTF8.self)
        let value = SecretValue.parsing(text, ref: ref)
        Fuzz.require((try? value.value(key: nil)) == text, "the whole secret is not the text it came from")
        check(value)
    }
    return 0
}

/// Every field an object secret lists can be read; a plain string has no fields.
private func check(_ value: SecretValue) {
    for key in value.keys { Fuzz.require((try? value.value(key: key)) != nil, "listed field cannot be read") }
    if !value.isObject { Fuzz.require(value.keys.isEmpty && (try? value.value(key: "k")) == nil, "string secret with fields") }
    Fuzz.require("\(value)" == "***", "a secret value printed")
    _ = value.digest
}

#if !FUZZING
@main enum Replay { static func main() { Fuzz.replay(fuzz) } }
#endif
