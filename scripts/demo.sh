#!/usr/bin/env bash
# Runs harborize's main job on the bundled example GitOps repository (fixtures/example),
# offline: a copy is rewritten in place, the diff is shown, then `check` proves that
# nothing bypasses Harbor any more. The committed fixture is never modified.
#
# It builds the debug profile (target/debug, shared with `cargo build` and `cargo test`):
# enough for a demo, and much quicker to build the first time than the release profile
# (fat LTO, one codegen unit). cargo's own progress is shown while it builds.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== building harborize (debug profile): the first build compiles about 200 crates and OpenSSL from C, about 8 minutes on 2 cores (BENCHMARKS.md); later runs take seconds. cargo's progress follows."
cargo build --locked --bin harborize
bin=./target/debug/harborize
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r fixtures/example "$work/gitops"
echo
echo "== harborize check (before): what bypasses Harbor"
"$bin" check "$work/gitops" || true
echo
echo "== harborize rewrite --diff"
"$bin" rewrite --diff "$work/gitops"
echo
echo "== harborize check (after)"
"$bin" check "$work/gitops"
