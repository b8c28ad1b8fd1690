#!/usr/bin/env bash
# Runs harborize's main job on the bundled example GitOps repository (fixtures/example),
# offline: a copy is rewritten in place, the diff is shown, then `check` proves that
# nothing bypasses Harbor any more. The committed fixture is never modified.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r fixtures/example "$work/gitops"
echo "== harborize check (before): what bypasses Harbor"
./target/release/harborize check "$work/gitops" || true
echo
echo "== harborize rewrite --diff"
./target/release/harborize rewrite --diff "$work/gitops"
echo
echo "== harborize check (after)"
./target/release/harborize check "$work/gitops"
