#!/usr/bin/env bash
# Alternated 8-way races of two or more harborize binaries, each race from fresh clones of
# the generated repository's remote reset to its seed (run bench/bump.sh once first: it
# makes BENCH_DIR/remote.git). Each race starts once the clones' writes have settled (the
# I/O pressure below 1%), so no arm races against the previous arm's disk work.
# usage: BENCH_DIR=/tmp/bumpbench bench/race-ab.sh ROUNDS BIN_A BIN_B [...]
# Writes one timeline per race (bench/race-timeline.py) to BENCH_DIR/ab/N-NAME-ROUND.txt
# (N: the binary's place in the arguments) and appends `N-NAME wall W cpu C landed 8
# rejected R merges 0` per race to BENCH_DIR/ab/log (merges: history must stay linear).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${BENCH_DIR:?set BENCH_DIR to the directory bench/bump.sh used}"
ROUNDS="$1"
shift
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
SEED=$(git -C "$WORK/remote.git" rev-list --max-parents=0 main)
OUT="$WORK/ab"
mkdir -p "$OUT"
for round in $(seq "$ROUNDS"); do
    arm=0
    for bin in "$@"; do
        # Numbered: two builds are often both called harborize.
        arm=$((arm + 1))
        name="$arm-$(basename "$bin")"
        D="$WORK/ab/race"
        rm -rf "$D" && mkdir -p "$D"
        git clone -q --bare "$WORK/remote.git" "$D/remote.git"
        git -C "$D/remote.git" update-ref refs/heads/main "$SEED"
        git -C "$D/remote.git" gc -q --prune=now
        for i in $(seq 0 7); do git clone -q "$D/remote.git" "$D/c$i"; done
        sync
        sleep 25
        for _ in $(seq 30); do
            awk '/some/ { split($2, a, "="); exit !(a[2] < 1.0) }' /proc/pressure/io && break
            sleep 2
        done
        python3 "$ROOT/bench/race-timeline.py" "$bin" "$D" > "$OUT/$name-$round.txt"
        landed=$(git -C "$D/remote.git" rev-list --count "$SEED..main")
        rejected=$(grep -c "push rejected" "$OUT/$name-$round.txt" || true)
        merges=$(git -C "$D/remote.git" rev-list --merges --count "$SEED..main")
        echo "$name $(tail -1 "$OUT/$name-$round.txt") landed $landed rejected $rejected merges $merges" >> "$OUT/log"
    done
done
rm -rf "$WORK/ab/race"
