import Foundation
import RampartCrypto
import XCTest

/// Not a test: measures AES-256-GCM seal+open throughput for bench/crypto.sh when RAMPART_BENCH_AEAD
/// is set (skipped otherwise). Timings never decide a test's outcome.
final class AEADBenchHarness: XCTestCase {
    func testSealOpenThroughputForBench() throws {
        guard let sizes = ProcessInfo.processInfo.environment["RAMPART_BENCH_AEAD"] else {
            throw XCTSkip("bench harness: RAMPART_BENCH_AEAD not set")
        }
        let key = Random.bytes(32)
        let ad = Array("k1\u{0}spec.hmacSecret".utf8)
        for size in sizes.split(separator: ",").compactMap({ Int($0) }) {
            let plaintext = Random.bytes(size)
            var bytes = 0
            let start = Date()
            while Date().timeIntervalSince(start) < 3 {
                for _ in 0..<256 {
                    let sealed = try AEAD.seal(plaintext, key: key, additionalData: ad)
                    _ = try AEAD.open(sealed, key: key, additionalData: ad)
                    bytes += size
                }
            }
            let seconds = Date().timeIntervalSince(start)
            print("aead size=\(size) seal+open_MBps=\(String(format: "%.1f", Double(bytes) / seconds / 1e6))")
        }
    }
}
