import XCTest
@testable import RampartCrypto

final class AEADTests: XCTestCase {
    /// GCM spec (McGrew & Viega) test cases 13, 14, 15 and 16: AES-256, 96-bit IV.
    func testKnownAnswers() throws {
        let k16 = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"
        let p16 = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
            + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
        let cases: [(key: String, iv: String, pt: String, ad: String, ct: String, tag: String)] = [
            (String(repeating: "00", count: 32), String(repeating: "00", count: 12), "", "", "",
             "530f8afbc74536b9a963b4f1c4cb738b"),
            (String(repeating: "00", count: 32), String(repeating: "00", count: 12), String(repeating: "00", count: 16), "",
             "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"),
            (k16, "cafebabefacedbaddecaf888", p16 + "1aafd255", "",
             "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                + "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
             "b094dac5d93471bdec1a502270e3cc6c"),
            (k16, "cafebabefacedbaddecaf888", p16, "feedfacedeadbeeffeedfacedeadbeefabaddad2",
             "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                + "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
             "76fc6ece0f4e1768cddf8853bb2d551b"),
        ]
        for (i, c) in cases.enumerated() {
            let sealed = try AEAD.seal(hex(c.pt), key: hex(c.key), additionalData: hex(c.ad), nonce: hex(c.iv))
            XCTAssertEqual(Hex.encode(sealed), c.iv + c.ct + c.tag, "case \(i)")
            XCTAssertEqual(try AEAD.open(sealed, key: hex(c.key), additionalData: hex(c.ad)), hex(c.pt), "case \(i)")
        }
    }

    func testRoundTripAndRandomNonce() throws {
        let key = Random.bytes(32)
        for size in [0, 1, 15, 16, 17, 1000, 70_000] {
            let pt = Random.bytes(size)
            let a = try AEAD.seal(pt, key: key, additionalData: [1, 2, 3])
            let b = try AEAD.seal(pt, key: key, additionalData: [1, 2, 3])
            XCTAssertEqual(a.count, 12 + size + 16)
            XCTAssertNotEqual(a.prefix(12), b.prefix(12), "fresh nonce per seal")
            XCTAssertEqual(try AEAD.open(a, key: key, additionalData: [1, 2, 3]), pt)
        }
    }

    func testTamperDetection() throws {
        let key = Random.bytes(32)
        let ad = Array("k1\u{0}spec.privateKey".utf8)
        let sealed = try AEAD.seal(Array("top secret".utf8), key: key, additionalData: ad)
        var variants: [(String, [UInt8], [UInt8], [UInt8])] = []  // name, sealed, key, ad
        for (name, index) in [("nonce", 0), ("ciphertext", 12), ("tag", sealed.count - 1)] {
            var t = sealed
            t[index] ^= 0x01
            variants.append((name, t, key, ad))
        }
        var otherKey = key
        otherKey[0] ^= 0x80
        variants.append(("key", sealed, otherKey, ad))
        variants.append(("additional data", sealed, key, Array("k1\u{0}spec.certificate".utf8)))
        variants.append(("empty additional data", sealed, key, []))
        variants.append(("truncated", Array(sealed.dropLast()), key, ad))
        for (name, s, k, a) in variants {
            XCTAssertThrowsError(try AEAD.open(s, key: k, additionalData: a), name) { error in
                XCTAssertEqual((error as? CryptoError)?.kind, .authenticationFailed, name)
                XCTAssertFalse(String(describing: error).contains("top secret"))
            }
        }
    }

    func testBadArguments() {
        let key = Random.bytes(32)
        XCTAssertThrowsError(try AEAD.open(Random.bytes(27), key: key)) { XCTAssertEqual(($0 as? CryptoError)?.kind, .malformed) }
        XCTAssertThrowsError(try AEAD.open([], key: key)) { XCTAssertEqual(($0 as? CryptoError)?.kind, .malformed) }
        for badKey in [[], Random.bytes(16), Random.bytes(31), Random.bytes(33)] {
            XCTAssertThrowsError(try AEAD.seal([1], key: badKey)) { XCTAssertEqual(($0 as? CryptoError)?.kind, .invalidArgument) }
            XCTAssertThrowsError(try AEAD.open(Random.bytes(40), key: badKey))
        }
        XCTAssertThrowsError(try AEAD.seal([1], key: key, additionalData: [], nonce: Random.bytes(16)))
        // Exactly nonce + tag with an empty ciphertext: structurally valid, fails authentication.
        XCTAssertThrowsError(try AEAD.open(Random.bytes(28), key: key)) {
            XCTAssertEqual(($0 as? CryptoError)?.kind, .authenticationFailed)
        }
    }
}
