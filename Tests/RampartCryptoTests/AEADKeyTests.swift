import Foundation
import Synchronization
import XCTest
@testable import RampartCrypto

/// `AEADKey` reuses cipher contexts initialised with its key: the reuse must never carry state
/// from one call into the next (nonce, additional data, a failed tag), across keys or threads.
final class AEADKeyTests: XCTestCase {
    /// GCM spec test case 16 (AES-256, 96-bit IV, additional data), sealed and opened several times
    /// on the same contexts: each call gives the known answer, not one shaped by the call before.
    func testKnownAnswerOnReusedContexts() throws {
        let key = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
        let iv = "cafebabefacedbaddecaf888"
        let plaintext = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
            + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
        let ad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
        let expected = iv + "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
            + "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662" + "76fc6ece0f4e1768cddf8853bb2d551b"
        let aead = try AEADKey(rawKey: key)
        for round in 0..<3 {
            // Something else in between, so that the next known-answer call follows different state.
            _ = try aead.seal(Random.bytes(100 * round + 1), additionalData: Random.bytes(round))
            let sealed = try aead.seal(plaintext, additionalData: ad, nonce: hex(iv))
            XCTAssertEqual(Hex.encode(sealed), expected, "round \(round)")
            XCTAssertEqual(try aead.open(sealed, additionalData: ad), plaintext, "round \(round)")
            XCTAssertEqual(try AEAD.open(sealed, key: key, additionalData: ad), plaintext, "the one-shot form agrees")
        }
    }

    func testFreshNonceOnEverySealOfAReusedContext() throws {
        let aead = try AEADKey(rawKey: Random.bytes(32))
        var nonces = Set<[UInt8]>()
        for _ in 0..<1000 {
            let sealed = try aead.seal(Array("same value".utf8), additionalData: [7])
            XCTAssertTrue(nonces.insert(Array(sealed.prefix(AEAD.nonceByteCount))).inserted, "a nonce repeated under one key")
        }
    }

    /// Many seals and opens interleaved across keys, each followed by the attacks that must fail on
    /// the very contexts just used: another key, other additional data, a flipped bit. After each
    /// refusal the next honest open still succeeds (a failed tag leaves nothing behind).
    func testInterleavedKeysWrongKeyAndADStillFail() throws {
        let rawKeys = (0..<3).map { _ in Random.bytes(32) }
        let keys = try rawKeys.map { try AEADKey(rawKey: $0) }
        var generator = SystemRandomNumberGenerator()
        for iteration in 0..<600 {
            let index = iteration % keys.count
            let other = (index + 1 + Int.random(in: 0..<(keys.count - 1), using: &generator)) % keys.count
            let plaintext = Random.bytes(Int.random(in: 0...1500, using: &generator))
            let ad = Array("k\(index)\u{0}Route/shop/orders\u{0}spec.field\(iteration % 7)".utf8)
            let sealed = try keys[index].seal(plaintext, additionalData: ad)
            for (name, attempt) in [
                ("another key", { try keys[other].open(sealed, additionalData: ad) }),
                ("other additional data", { try keys[index].open(sealed, additionalData: ad + [0]) }),
                ("no additional data", { try keys[index].open(sealed, additionalData: []) }),
                ("a flipped bit", {
                    var tampered = sealed
                    tampered[Int.random(in: 0..<tampered.count)] ^= 0x20
                    return try keys[index].open(tampered, additionalData: ad)
                }),
            ] as [(String, () throws -> [UInt8])] {
                XCTAssertThrowsError(try attempt(), "\(name), iteration \(iteration)") { error in
                    XCTAssertEqual((error as? CryptoError)?.kind, .authenticationFailed, name)
                }
            }
            XCTAssertEqual(try keys[index].open(sealed, additionalData: ad), plaintext, "iteration \(iteration)")
            XCTAssertEqual(try AEAD.open(sealed, key: rawKeys[index], additionalData: ad), plaintext)
        }
    }

    /// Many threads on the same two keys at once (more threads than contexts kept idle): every value
    /// opens to what was sealed, and only under its own key.
    func testConcurrentUseFromManyThreads() throws {
        let keys = try [AEADKey(rawKey: Random.bytes(32)), AEADKey(rawKey: Random.bytes(32))]
        let threads = CipherContextPool.maxIdle + 8
        let failures = Mutex<[String]>([])
        let group = DispatchGroup()
        for thread in 0..<threads {
            group.enter()
            Thread {
                defer { group.leave() }
                for iteration in 0..<300 {
                    let index = (thread + iteration) % 2
                    let plaintext = Array("thread \(thread) value \(iteration)".utf8) + Random.bytes(iteration % 300)
                    let ad = Array("t\(thread)".utf8)
                    do {
                        let sealed = try keys[index].seal(plaintext, additionalData: ad)
                        if try keys[index].open(sealed, additionalData: ad) != plaintext {
                            failures.withLock { $0.append("thread \(thread) #\(iteration): wrong plaintext") }
                        }
                        if (try? keys[1 - index].open(sealed, additionalData: ad)) != nil {
                            failures.withLock { $0.append("thread \(thread) #\(iteration): opened under the other key") }
                        }
                    } catch {
                        failures.withLock { $0.append("thread \(thread) #\(iteration): \(error)") }
                    }
                }
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success)
        XCTAssertEqual(failures.withLock { $0 }, [])
    }

    func testKeyringSharesOneCipherPerKeyAndNeverPrintsIt() throws {
        let key = try Keyring.Key.random(id: "k1")
        let ring = try Keyring(keys: [key])
        let copy = ring
        let binding = EncryptionBinding(kind: "Route", namespace: "shop", name: "orders", fieldPath: "spec.plugins.key-auth.key")
        let encrypted = try ring.encrypt("s3cret", binding: binding)
        XCTAssertEqual(try copy.decryptString(encrypted, binding: binding), "s3cret")
        XCTAssertTrue(ring.keys[0].cipher === copy.keys[0].cipher, "copies of a keyring share the key's contexts")
        XCTAssertEqual("\(key.cipher)", "AEADKey(***)")
        XCTAssertFalse(String(reflecting: key).contains("cipher"))
    }

    func testBadKeysAreRefused() {
        for bad in [[], Random.bytes(16), Random.bytes(31), Random.bytes(33)] {
            XCTAssertThrowsError(try AEADKey(rawKey: bad)) { XCTAssertEqual(($0 as? CryptoError)?.kind, .invalidArgument) }
        }
        XCTAssertThrowsError(try AEADKey(rawKey: Random.bytes(32)).open(Random.bytes(27))) {
            XCTAssertEqual(($0 as? CryptoError)?.kind, .malformed)
        }
    }
}
