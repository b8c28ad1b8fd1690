#!/usr/bin/env bash
# Benchmark for `harborize warm` (issue 15 item 1): a pull through a pull-through cache cold
# vs after `harborize warm`, and warming 50 images with `harborize warm` vs a sequential
# `skopeo copy ... dir:` loop; real registries, 20 ms added to every upstream response.
# BENCH_ROUNDS (5), BENCH_MB (20), BENCH_IMAGES (50). Prints the medians and a RESULT line.
# The debug build (`cargo build`): a release build is fat-LTO and takes too long on the
# shared benchmark machine; CPU figures of harborize are therefore pessimistic.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-tools.sh >/dev/null
# shellcheck source=scripts/test-env.sh
source scripts/test-env.sh
flock /tmp/cargo.lock cargo test --test integration --no-run
cargo test --test integration bench_warm:: -- --ignored --nocapture 2>&1 |
  grep -E "^(A\.|B\.|  |RESULT)"
