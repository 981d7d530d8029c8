#!/usr/bin/env bash
# AES-256-GCM throughput: RampartCrypto's seal+open vs `openssl speed -evp aes-256-gcm`, same
# machine, same run, in alternating rounds. Two Rampart forms: one-shot (a cipher context and key
# schedule made per call, which every call did before AEADKey) and AEADKey (contexts initialised
# once with the key and reused; per call only the nonce is set).
# openssl speed -evp counts one direction (encrypt, one context, no per-value nonce or tag); Rampart's
# figure is a seal and an open per value (random nonce, additional data, tag check), so the ratio is
# rampart_seal+open × 2 / openssl. `openssl speed -aead` (a nonce, AD and tag per value) is printed too.
# Usage: bench/crypto.sh            (SIZES=256,1024,16384 ROUNDS=3 SECONDS_PER=1.5 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-256,1024,16384}
ROUNDS=${ROUNDS:-3}
SECONDS_PER=${SECONDS_PER:-1.5}
swift build -c release --build-tests -Xswiftc -enable-testing >/dev/null
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  RAMPART_BENCH_AEAD=$SIZES RAMPART_BENCH_ROUNDS=1 RAMPART_BENCH_SECONDS=$SECONDS_PER \
    .build/release/RampartPackageTests.xctest RampartCryptoTests.AEADBenchHarness/testSealOpenThroughputForBench 2>&1 \
    | grep '^aead' | sed "s/round=1/round=$round/" | tee -a "$out"
  for size in ${SIZES//,/ }; do
    for flavour in evp aead; do
      flag=""; [ "$flavour" = aead ] && flag="-aead"
      kbps=$(openssl speed $flag -evp aes-256-gcm -seconds 1 -bytes "$size" 2>/dev/null | awk '/^AES-256-GCM/ {sub(/k$/, "", $2); print $2}')
      echo "openssl mode=$flavour size=$size round=$round MBps=$(echo "$kbps / 1000" | bc -l | xargs printf '%.1f')" | tee -a "$out"
    done
  done
done
# Medians over the rounds, and the ratios against `openssl speed -evp`.
python3 - "$out" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    fields = dict(re.findall(r'(\S+)=(\S+)', line))
    who = line.split()[0] + ' ' + fields['mode']
    value = float(fields.get('seal+open_MBps') or fields['MBps'])
    rows.setdefault((int(fields['size']), who), []).append(value)
print('\nsize    one-shot  AEADKey   openssl-evp  openssl-aead  ratio one-shot  ratio AEADKey  (medians, MB/s)')
for size in sorted({s for s, _ in rows}):
    m = {who: statistics.median(v) for (s, who), v in rows.items() if s == size}
    evp = m['openssl evp']
    print(f"{size:<7} {m['aead one-shot']:9.1f} {m['aead aeadkey']:9.1f} {evp:12.1f} {m['openssl aead']:13.1f}"
          f"  {2 * m['aead one-shot'] / evp:14.2f} {2 * m['aead aeadkey'] / evp:14.2f}")
PY
