#!/usr/bin/env bash
# Benchmark for `harborize verify` (issue 3): 300 unique references on a real registry
# behind a fault proxy adding 20 ms per response, vs a sequential `skopeo inspect --raw`
# loop over the same references, in one run. Prints a RESULT line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-tools.sh >/dev/null
# shellcheck source=scripts/test-env.sh
source scripts/test-env.sh
cargo test --release --test integration bench_verify:: -- --ignored --nocapture 2>&1 | grep -E "harborize verify:|skopeo|RESULT"
