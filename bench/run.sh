#!/usr/bin/env bash
# Benchmark harborize against simple baselines on generated GitOps repositories.
#
# usage: bench/run.sh            (no arguments; takes a few minutes, mostly the ruamel peer)
#
# What it measures (medians over several runs; the two sides of every comparison are timed in
# the same invocation, interleaved in rounds, so background load hits both sides alike):
#   1. harborize check on --apps 1000         vs  grep -rl image          target ratio <= 3x
#   2. ruamel.yaml peer (--check) on 1000     vs  harborize check         target ratio >= 100x
#   3. harborize check on --apps 5000 vs 1000 (wall-time ratio)           target <= 5.5x
#      peak RSS of harborize check on --apps 5000                         target <= 65536 KB
#   4. harborize check on one manifest        vs  grep image FILE         target ratio <= 3x
#   5. harborize rewrite --no-render-proof vs check on a fresh copy of --apps 1000   information only
# Prints a markdown table and writes it to bench/results-latest.md.
#
# Environment knobs:
#   BENCH_DIR=DIR          keep generated repos in DIR (reused on the next run) instead of a temp dir
#   BENCH_RUNS=N           timed runs per side for the repo-level comparisons (default 12)
#   FILE_RUNS=N            timed runs per side for the single-file comparison (default 200)
#   PEER_RUNS=N            runs of the slow ruamel peer (default 3; ~1 min each)
#   BENCH_NO_HYPERFINE=1   use the built-in timing loop even if hyperfine is available
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BIN="$ROOT/target/release/harborize"
GEN="$ROOT/../shared/bench/gen-gitops-repo.py"
PEER="$ROOT/../shared/bench/peer-ruamel-rewrite.py"
VENV_PY="$ROOT/.tools/venv/bin/python"
HARBOR="harbor.example.com"
OUT_MD="$ROOT/bench/results-latest.md"

BENCH_RUNS="${BENCH_RUNS:-12}"
FILE_RUNS="${FILE_RUNS:-200}"
PEER_RUNS="${PEER_RUNS:-3}"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

[[ -f "$GEN" ]] || die "generator not found: $GEN (the repo expects ../shared beside it)"
[[ -f "$PEER" ]] || die "peer script not found: $PEER"
command -v python3 >/dev/null || die "python3 is required"
[[ -x /usr/bin/time ]] || die "/usr/bin/time (GNU time) is required for peak RSS"

# --- binary -------------------------------------------------------------------------
# Always through cargo (a no-op when fresh): a binary built from other sources or with the
# release profile overridden (CARGO_PROFILE_RELEASE_*) is rebuilt, not timed.
log "cargo build --release --bin harborize"
cargo build --release --bin harborize >&2

# --- timer: hyperfine, installed from Debian if missing ---------------------------------
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
USE_HYPERFINE=0
if [[ "${BENCH_NO_HYPERFINE:-0}" != 1 ]]; then
    if ! command -v hyperfine >/dev/null && command -v apt-get >/dev/null; then
        log "hyperfine missing: installing the Debian package"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y hyperfine >&2 \
            || { as_root apt-get update >&2 && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y hyperfine >&2; } \
            || log "could not install hyperfine; using the built-in loop"
    fi
    command -v hyperfine >/dev/null && USE_HYPERFINE=1
fi
if [[ $USE_HYPERFINE == 1 ]]; then TIMER="$(hyperfine --version)"; else TIMER="built-in loop (date +%s%N)"; fi
log "timer: $TIMER"

# --- peer needs ruamel.yaml --------------------------------------------------------------
if ! { [[ -x "$VENV_PY" ]] && "$VENV_PY" -c 'import ruamel.yaml' 2>/dev/null; }; then
    log "ruamel.yaml venv missing: bash scripts/install-test-tools.sh"
    bash scripts/install-test-tools.sh >&2
fi
"$VENV_PY" -c 'import ruamel.yaml' || die "ruamel.yaml still not importable from $VENV_PY"

# --- work dirs and generated repos ------------------------------------------------------
if [[ -n "${BENCH_DIR:-}" ]]; then
    mkdir -p "$BENCH_DIR"
    DATA="$(cd "$BENCH_DIR" && pwd)"
else
    DATA="$(mktemp -d "${TMPDIR:-/tmp}/harborize-bench.XXXXXX")"
fi
WORK="$(mktemp -d "${TMPDIR:-/tmp}/harborize-bench-work.XXXXXX")"
cleanup() {
    rm -rf "$WORK"
    [[ -n "${BENCH_DIR:-}" ]] || rm -rf "$DATA"
}
trap cleanup EXIT

gen_repo() { # gen_repo APPS -> prints path
    local apps="$1" out="$DATA/gitops-$1"
    if [[ ! -f "$out/.bench-generated" ]]; then
        rm -rf "$out"
        log "generating --apps $apps into $out"
        python3 "$GEN" "$out" --apps "$apps" >&2
        touch "$out/.bench-generated"
    fi
    printf '%s\n' "$out"
}
R1000="$(gen_repo 1000)"
R5000="$(gen_repo 5000)"
COPY="$DATA/gitops-1000-copy"
# One manifest: the first app's multi-document deployment (ServiceAccount, Deployment, Service, ConfigMap).
FIRST_APP="$(find "$R1000/apps" -mindepth 1 -maxdepth 1 -type d | sort | sed -n 1p)"  # sed reads all: head would SIGPIPE sort under pipefail
FILE="$FIRST_APP/base/deployment.yaml"
[[ -f "$FILE" ]] || die "expected manifest not found: $FILE"

# Time a snapshot of the binary, so a rebuild during the run cannot mix two builds.
BIN_BUILT="$(date -u -r "$BIN" '+%Y-%m-%d %H:%M UTC')"
TREE_AT="$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' + uncommitted src changes')"
cp "$BIN" "$WORK/harborize"
BIN="$WORK/harborize"

q() { printf '%q' "$1"; } # quote a path for a command string (hyperfine -N splits shell-words)
CHECK_CMD() { echo "$(q "$BIN") check $(q "$1") --harbor $HARBOR"; }

# --- timing core ------------------------------------------------------------------------
# measure ROUNDS PREPARE  NAME RUNS WARMUP CMD  [NAME RUNS WARMUP CMD ...]
# Each round times every command in turn (RUNS timed runs after WARMUP untimed ones); all
# rounds' wall times are pooled per NAME in $WORK/times/NAME. Rounds interleave the sides
# of a comparison so that load from other processes is shared between them.
# PREPARE (may be empty) runs before every run, untimed, through bash.
mkdir -p "$WORK/times"
measure() {
    local rounds="$1" prepare="$2"; shift 2
    local specs=("$@") r i name runs warm cmd
    for ((r = 1; r <= rounds; r++)); do
        for ((i = 0; i < ${#specs[@]}; i += 4)); do
            name="${specs[i]}" runs="${specs[i+1]}" warm="${specs[i+2]}" cmd="${specs[i+3]}"
            log "round $r/$rounds: $name ($runs runs): $cmd"
            if [[ $USE_HYPERFINE == 1 ]]; then
                local hf=(hyperfine --style basic --ignore-failure --runs "$runs" --warmup "$warm"
                          --export-json "$WORK/hf.json" -n "$name")
                if [[ -n "$prepare" ]]; then
                    # hyperfine runs --prepare with the same shell as the command; keep bash for both.
                    hf+=(--prepare "$prepare")
                else
                    hf+=(-N) # no intermediate shell: matters for ~1 ms commands
                fi
                "${hf[@]}" "$cmd" >&2
                python3 - "$WORK/hf.json" >>"$WORK/times/$name" <<'EOF'
import json, sys
for t in json.load(open(sys.argv[1]))["results"][0]["times"]:
    print(f"{t:.9f}")
EOF
            else
                local k t0 t1
                for ((k = 0; k < warm; k++)); do
                    [[ -z "$prepare" ]] || bash -c "$prepare"
                    eval "$cmd" >/dev/null 2>&1 || true
                done
                for ((k = 0; k < runs; k++)); do
                    [[ -z "$prepare" ]] || bash -c "$prepare"
                    t0=$(date +%s%N)
                    eval "$cmd" >/dev/null 2>&1 || true
                    t1=$(date +%s%N)
                    echo "$(( t1 - t0 ))e-9" >>"$WORK/times/$name"
                done
            fi
        done
    done
}
median() { python3 -c 'import statistics,sys; print(f"{statistics.median(float(l) for l in open(sys.argv[1])):.6f}")' "$WORK/times/$1"; }
count() { wc -l <"$WORK/times/$1" | tr -d ' '; }
ratio() { python3 -c 'import sys; print(f"{float(sys.argv[1])/float(sys.argv[2]):.2f}")' "$1" "$2"; }
met() { # met VALUE OP LIMIT
    python3 -c 'import sys,operator as o; v,op,l=float(sys.argv[1]),sys.argv[2],float(sys.argv[3]); print("yes" if {"<=":o.le,">=":o.ge}[op](v,l) else "no")' "$1" "$2" "$3"
}

# expect_rc WANT CMD: one untimed run (warms the page cache) that must exit with one of WANT (e.g. "0 1")
expect_rc() {
    local want="$1" cmd="$2" rc=0
    eval "$cmd" >/dev/null 2>&1 || rc=$?
    [[ " $want " == *" $rc "* ]] || die "unexpected exit code $rc (wanted $want) from: $cmd"
}

per_round() { echo $(( ($1 + $2 - 1) / $2 )); } # ceil(total/rounds)

# Repo-level comparisons alternate the two sides run by run (one timed run per side per
# round); the untimed expect_rc run before each comparison warms the page cache.
ROUNDS="$BENCH_RUNS"

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- 1. check vs grep -rl, --apps 1000 ------------------------------------------------
log "== 1. check vs grep -rl image (--apps 1000)"
C1000="$(CHECK_CMD "$R1000")"
G1000="grep -rl image $(q "$R1000")"
expect_rc 1 "$C1000"   # exit 1: findings
expect_rc 0 "$G1000"
measure "$ROUNDS" "" m1_check 1 0 "$C1000"  m1_grep 1 0 "$G1000"

# --- 2. ruamel peer vs check, --apps 1000 ----------------------------------------------
log "== 2. ruamel.yaml peer vs check (--apps 1000); the peer takes about a minute per run"
P1000="$(q "$VENV_PY") $(q "$PEER") $HARBOR $(q "$R1000") --check"
measure "$PEER_RUNS" "" m2_peer 1 0 "$P1000"  m2_check 3 0 "$C1000"

# --- 3. scaling 5000 vs 1000, peak RSS on 5000 --------------------------------------------
log "== 3. scaling: check --apps 5000 vs --apps 1000; peak RSS"
C5000="$(CHECK_CMD "$R5000")"
expect_rc 1 "$C5000"
measure "$ROUNDS" "" m3_check1000 1 0 "$C1000"  m3_check5000 1 0 "$C5000"
RSS5000=0
for _ in 1 2 3; do
    rc=0
    /usr/bin/time -f %M -o "$WORK/rss" "$BIN" check "$R5000" --harbor "$HARBOR" >/dev/null 2>&1 || rc=$?
    [[ $rc == 1 ]] || die "check on --apps 5000 exited $rc under /usr/bin/time"
    kb="$(tail -n1 "$WORK/rss")"
    if (( kb > RSS5000 )); then RSS5000=$kb; fi
done
rc=0; /usr/bin/time -f %M -o "$WORK/rss" "$BIN" check "$R1000" --harbor "$HARBOR" >/dev/null 2>&1 || rc=$?
RSS1000="$(tail -n1 "$WORK/rss")"

# --- 4. one manifest: check FILE vs grep image FILE -----------------------------------
log "== 4. single manifest: check vs grep image ($FILE)"
CFILE="$(CHECK_CMD "$FILE")"
GFILE="grep image $(q "$FILE")"
expect_rc 1 "$CFILE"
expect_rc 0 "$GFILE"
FILE_ROUNDS=10
FILE_PR="$(per_round "$FILE_RUNS" "$FILE_ROUNDS")"
measure "$FILE_ROUNDS" "" m4_check "$FILE_PR" 5 "$CFILE"  m4_grep "$FILE_PR" 5 "$GFILE"

# --- 5. rewrite vs check on a fresh copy ------------------------------------------------
log "== 5. rewrite vs check on a fresh copy of --apps 1000 (copy made before every run, untimed)"
# sync: flush the copy's dirty pages first, so rewrite's own fsyncs are what gets timed.
PREP="rm -rf $(q "$COPY") && cp -r $(q "$R1000") $(q "$COPY") && sync"
# --no-render-proof: the write path only; what the render proof costs is bench/render-proof.sh.
RCOPY="$(q "$BIN") rewrite $(q "$COPY") --harbor $HARBOR --no-render-proof"
CCOPY="$(CHECK_CMD "$COPY")"
bash -c "$PREP"; expect_rc 0 "$RCOPY"
bash -c "$PREP"; expect_rc 1 "$CCOPY"
measure 6 "$PREP" m5_rewrite 1 0 "$RCOPY"  m5_check 1 0 "$CCOPY"
# sanity: after a rewrite, check finds nothing left to rewrite
bash -c "$PREP"; eval "$RCOPY" >/dev/null 2>&1; expect_rc 0 "$CCOPY"
rm -rf "$COPY"

# --- report -----------------------------------------------------------------------------
m1c=$(median m1_check) m1g=$(median m1_grep)
m2p=$(median m2_peer)  m2c=$(median m2_check)
m3a=$(median m3_check1000) m3b=$(median m3_check5000)
m4c=$(median m4_check) m4g=$(median m4_grep)
m5r=$(median m5_rewrite) m5c=$(median m5_check)
r1=$(ratio "$m1c" "$m1g"); r2=$(ratio "$m2p" "$m2c"); r3=$(ratio "$m3b" "$m3a")
r4=$(ratio "$m4c" "$m4g"); r5=$(ratio "$m5r" "$m5c")
YAML_BYTES() { find "$1" -type f \( -name '*.yaml' -o -name '*.yml' \) -printf '%s\n' | awk '{s+=$1} END {printf "%.1f MB", s/1e6}'; }
FILES() { find "$1" -type f ! -name .bench-generated | wc -l | tr -d ' '; }

{
    echo "# harborize benchmark results"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- harborize: $("$BIN" --version), target/release/harborize built $BIN_BUILT, source tree at start: $TREE_AT (timed: a snapshot copy of the binary)"
    echo "- load average at start: $LOAD_START (other processes share the 2 cores; ratios are what to compare)"
    echo "- timer: $TIMER; medians of pooled runs, each comparison interleaved in rounds"
    echo "- --apps 1000: $(FILES "$R1000") files, $(YAML_BYTES "$R1000") of YAML; --apps 5000: $(FILES "$R5000") files, $(YAML_BYTES "$R5000") of YAML"
    echo "- single manifest: apps/$(basename "$FIRST_APP")/base/deployment.yaml, $(wc -c <"$FILE" | tr -d ' ') bytes"
    echo
    echo "| # | comparison | A: median s (runs) | B: median s (runs) | ratio | target | met |"
    echo "|---|---|---|---|---|---|---|"
    echo "| 1 | A = \`check\` vs B = \`grep -rl image\`, --apps 1000 | $m1c ($(count m1_check)) | $m1g ($(count m1_grep)) | A/B = ${r1}x | ≤ 3x | $(met "$r1" '<=' 3) |"
    echo "| 2 | A = ruamel.yaml peer \`--check\` vs B = \`check\`, --apps 1000 | $m2p ($(count m2_peer)) | $m2c ($(count m2_check)) | A/B = ${r2}x | ≥ 100x | $(met "$r2" '>=' 100) |"
    echo "| 3a | A = \`check\` --apps 5000 vs B = \`check\` --apps 1000 | $m3b ($(count m3_check5000)) | $m3a ($(count m3_check1000)) | A/B = ${r3}x | ≤ 5.5x | $(met "$r3" '<=' 5.5) |"
    echo "| 3b | peak RSS of \`check\` --apps 5000 (max of 3; --apps 1000: $RSS1000 KB) | $RSS5000 KB | — | — | ≤ 65536 KB | $(met "$RSS5000" '<=' 65536) |"
    echo "| 4 | A = \`check FILE\` vs B = \`grep image FILE\`, one manifest | $m4c ($(count m4_check)) | $m4g ($(count m4_grep)) | A/B = ${r4}x | ≤ 3x | $(met "$r4" '<=' 3) |"
    echo "| 5 | A = \`rewrite --no-render-proof\` vs B = \`check\`, fresh copy of --apps 1000 | $m5r ($(count m5_rewrite)) | $m5c ($(count m5_check)) | A/B = ${r5}x | info | — |"
} >"$OUT_MD"

cat "$OUT_MD"
log "wrote $OUT_MD"
