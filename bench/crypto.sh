#!/usr/bin/env bash
# AES-256-GCM throughput (issue 6): RampartCrypto's seal+open vs `openssl speed -evp aes-256-gcm`,
# same machine, same run. openssl speed counts one direction (encrypt); Rampart's figure is a seal
# and an open per value (random nonce, additional data, tag check), so the fair ratio is
# rampart_seal+open × 2 / openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-256,1024,16384}
swift build -c release --build-tests -Xswiftc -enable-testing >/dev/null
RAMPART_BENCH_AEAD=$SIZES .build/release/RampartPackageTests.xctest RampartCryptoTests.AEADBenchHarness/testSealOpenThroughputForBench 2>&1 | grep '^aead'
openssl speed -evp aes-256-gcm -seconds 3 -bytes 256 2>/dev/null | tail -1
openssl speed -evp aes-256-gcm -seconds 3 -bytes 1024 2>/dev/null | tail -1
openssl speed -evp aes-256-gcm -seconds 3 -bytes 16384 2>/dev/null | tail -1
