#!/usr/bin/env bash
# Benchmark for `harborize scan` (issue 4): 40 references resolving to 10 digests on a real
# registry with the real Trivy and a planted DB. Checks that Trivy runs exactly 10 times, and
# compares the wall time of `harborize scan` with the same 10 scans run in parallel by hand
# (target <= 1.3x) and with the 40 references scanned one after another (target <= 0.4x),
# interleaved in rounds (medians). Prints the RESULT lines.
#
# Environment knobs:
#   BENCH_ROUNDS=N   timed rounds after one warm-up round (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-tools.sh >/dev/null
# shellcheck source=scripts/test-env.sh
source scripts/test-env.sh
cargo test --test integration -- --ignored --nocapture scan::bench_scan 2>&1 \
    | grep -E "trivy runs|round|RESULT|panicked|FAILED"
