#!/usr/bin/env bash
# Cost of the render proof (issue 11 item 3): a whole-tree `rewrite` of a fresh copy of
# ../shared/corpus with the proof (default) against `--no-render-proof`, release build,
# helm and kubectl from scripts/test-env.sh. Runs alternate; prints the median wall and CPU
# (user+sys, children included: helm and kubectl) of each and their ratios.
# Usage: bash bench/render-proof.sh [RUNS]   (after: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/test-env.sh
runs=${1:-7}
bin=$PWD/target/release/harborize
corpus=$(cd ../shared/corpus && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
one() { # $1 = label, rest = extra flags; prints "wall cpu"
    rm -rf "$work/c" && cp -r "$corpus" "$work/c"
    /usr/bin/time -f "%e %U %S" -o "$work/t" "$bin" rewrite --harbor harbor.example.com "${@:2}" "$work/c" >/dev/null 2>&1 || true
    read -r wall user sys < "$work/t"
    echo "$1 $wall $(echo "$user + $sys" | bc)"
}
for _ in $(seq "$runs"); do
    one proof
    one noproof --no-render-proof
done > "$work/all"
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for l in proof noproof; do
    w=$(awk -v l=$l '$1==l {print $2}' "$work/all" | median)
    c=$(awk -v l=$l '$1==l {print $3}' "$work/all" | median)
    echo "$l: wall ${w}s cpu ${c}s (median of $runs; all: $(awk -v l=$l '$1==l {printf "%s/%s ", $2, $3}' "$work/all"))"
    eval "${l}_w=$w ${l}_c=$c"
done
echo "ratio proof/noproof: wall $(echo "scale=1; $proof_w / $noproof_w" | bc)x, cpu $(echo "scale=1; $proof_c / $noproof_c" | bc)x"
