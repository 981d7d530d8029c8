// libFuzzer target: the `$enc:v1:KEYID:BASE64` parser (RampartCrypto/EncryptedValue.swift) and the strict
// base64 under it. Whatever parses re-serializes to the same text: one string per stored ciphertext.
import FuzzSupport
import RampartCrypto

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    // Most inputs do not start with the prefix: put it in front half of the time so the body gets explored.
    for candidate in [text, EncryptedValue.prefix + text] {
        guard let value = try? EncryptedValue.parse(candidate) else {
            Fuzz.require(EncryptedValue(candidate) == nil, "init? accepts what parse rejects")
            continue
        }
        Fuzz.require(value.description == candidate, "parsed value re-serializes differently")
        Fuzz.require(EncryptedValue.isValid(keyID: value.keyID), "invalid key id accepted")
        Fuzz.require(value.sealed.count >= 28, "payload shorter than nonce + tag")
        Fuzz.require(EncryptedValue(candidate) == value, "init? disagrees with parse")
        Fuzz.require(EncryptedValue.hasPrefix(candidate), "parsed without the prefix")
    }
    // Base64 is canonical: encode then decode gives the bytes back, and a decoded string re-encodes to itself.
    Fuzz.require(Base64.decode(Base64.encode(bytes)) == bytes, "base64 round trip (padded)")
    Fuzz.require(Base64.decode(Base64.encode(bytes, padding: false), padding: false) == bytes, "base64 round trip (unpadded)")
    if let decoded = Base64.decode(text) { Fuzz.require(Base64.encode(decoded) == text, "non-canonical base64 accepted") }
    if let decoded = Base64.decode(text, padding: false) {
        Fuzz.require(Base64.encode(decoded, padding: false) == text, "non-canonical unpadded base64 accepted")
    }
    return 0
}

#if !FUZZING
@main enum Replay { static func main() { Fuzz.replay(fuzz) } }
#endif
