#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs the real tools the tests use
# (kubectl, helm, registry, skopeo, trivy, pre-commit into .tools/), then runs format,
# lint and every test. Needs ../shared beside the repository (the corpus).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-tools.sh
# shellcheck source=scripts/test-env.sh
source scripts/test-env.sh
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets --no-fail-fast
