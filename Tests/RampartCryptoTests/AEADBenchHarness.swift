import Foundation
import RampartCrypto
import XCTest

/// Not a test: measures AES-256-GCM seal+open throughput for bench/crypto.sh when RAMPART_BENCH_AEAD
/// is set (skipped otherwise), for the one-shot form (a context and key schedule per call, as every
/// call was before `AEADKey`) and for `AEADKey` (contexts kept with the key), in alternating rounds
/// of one run. Timings never decide a test's outcome.
final class AEADBenchHarness: XCTestCase {
    func testSealOpenThroughputForBench() throws {
        guard let sizes = ProcessInfo.processInfo.environment["RAMPART_BENCH_AEAD"] else {
            throw XCTSkip("bench harness: RAMPART_BENCH_AEAD not set")
        }
        let seconds = Double(ProcessInfo.processInfo.environment["RAMPART_BENCH_SECONDS"] ?? "") ?? 1.5
        let rounds = Int(ProcessInfo.processInfo.environment["RAMPART_BENCH_ROUNDS"] ?? "") ?? 3
        let rawKey = Random.bytes(32)
        let key = try AEADKey(rawKey: rawKey)
        let ad = Array("k1\u{0}Route\u{0}shop\u{0}orders\u{0}spec.plugins.key-auth.key".utf8)
        let modes: [(name: String, sealOpen: ([UInt8]) throws -> Void)] = [
            ("one-shot", { plaintext in
                _ = try AEAD.open(try AEAD.seal(plaintext, key: rawKey, additionalData: ad), key: rawKey, additionalData: ad)
            }),
            ("aeadkey", { plaintext in
                _ = try key.open(try key.seal(plaintext, additionalData: ad), additionalData: ad)
            }),
        ]
        let only = ProcessInfo.processInfo.environment["RAMPART_BENCH_MODES"].map { Set($0.split(separator: ",").map(String.init)) }
        for size in sizes.split(separator: ",").compactMap({ Int($0) }) {
            let plaintext = Random.bytes(size)
            for round in 1...rounds {
                for mode in modes where only?.contains(mode.name) ?? true {
                    var bytes = 0
                    let start = Date()
                    while Date().timeIntervalSince(start) < seconds {
                        for _ in 0..<256 {
                            try mode.sealOpen(plaintext)
                            bytes += size
                        }
                    }
                    let elapsed = Date().timeIntervalSince(start)
                    print("aead mode=\(mode.name) size=\(size) round=\(round) seal+open_MBps=\(String(format: "%.1f", Double(bytes) / elapsed / 1e6))")
                }
            }
        }
    }
}
