#!/usr/bin/env bash
# Benchmark `harborize bump` (issue 13) on the generated 10,000-file GitOps repository, every
# comparison side by side in one run, both sides interleaved (A, B, A, B, ...), medians of
# wall time and of CPU time (user + sys of the process and the children it waited for, from
# wait4: bench/timed.py):
#   1. check vs grep -rl image                                       target <= 2x
#      (1f: examples/check_floor vs grep: the walk, the reads, check's document skim and
#      saphyr's events of every file holding a keyword, nothing else: the floor under row 1
#      for a checker that parses with harborize's parser)
#   2. bump --commit of one image vs check, same tree                 target <= 1.5x check
#      (render.proof: false, like for like: check renders nothing; one bump with the
#      render proof of issue 11 is timed beside it, information only;
#      2f: check + the same writes alone (bench/atomic-floor.py) + git's own commit of the
#      same files, medians summed, vs check: the floor under row 2 when nothing overlaps)
#   3. rewrite --no-render-proof of a fresh copy vs check of a fresh copy   target <= 3x check
#      (3f: the same writes alone, bench/atomic-floor.py, vs check: the floor under row 3)
#   4. eight bump --push racing for one bare remote (a different image each, sharing files)
#      vs one bump --push alone                                       target <= 6x one bump
#      (every bump landed, linear history, retries / replays / re-planned files counted;
#      4f: the same eight bumps at once, each to a remote of its own, vs one bump: the
#      machine's floor for eight bumps without a race)
# usage: bench/bump.sh   (env: BENCH_DIR keeps the generated repo, RUNS=N (10), RACES=N (3),
#                         RACE_RETRIES=N (10), ROWS="1 2 3 4" (the rows to run))
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GEN="$ROOT/../shared/bench/gen-gitops-repo.py"
TIMED="$ROOT/bench/timed.py"
RUNS="${RUNS:-10}"
RACES="${RACES:-3}"
RACE_RETRIES="${RACE_RETRIES:-10}"
ROWS=" ${ROWS:-1 2 3 4} "
# wanted N: whether row N is to run.
wanted() { [[ "$ROWS" == *" $1 "* ]]; }
HARBOR=harbor.example.com
# Always through cargo (a no-op when fresh): a stale or differently built binary is rebuilt.
(cd "$ROOT" && cargo build --release --quiet --bin harborize)
if wanted 1; then (cd "$ROOT" && cargo build --release --quiet --example check_floor); fi
WORK="${BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$WORK"
# A snapshot of the binary: a rebuild during the run cannot mix two builds.
BIN="$WORK/harborize"
cp "$ROOT/target/release/harborize" "$BIN"
FLOOR1="$WORK/check_floor"
if wanted 1; then cp "$ROOT/target/release/examples/check_floor" "$FLOOR1"; fi
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
# One list for this script and bench/race-timeline.py.
mapfile -t IMAGES < <(grep -v '^#' "$ROOT/bench/bump-images.txt")

if [ ! -d "$WORK/repo/.git" ]; then
    rm -rf "$WORK/repo" "$WORK/remote.git"
    python3 "$GEN" "$WORK/repo" --apps 1000 >/dev/null
    git -C "$WORK/repo" init -q -b main
    git -C "$WORK/repo" add -A
    git -C "$WORK/repo" commit -qm seed
    git clone -q --bare "$WORK/repo" "$WORK/remote.git"
fi
SEED=$(git -C "$WORK/remote.git" rev-list --max-parents=0 main)
# Outside the repository, so no commit carries it.
NOPROOF="$WORK/no-render-proof.yaml"
printf 'render:\n  proof: false\n' > "$NOPROOF"
git -C "$WORK/repo" reset -q --hard "$SEED"
R="$WORK/repo"
T="$WORK/times"
rm -rf "$T" && mkdir -p "$T"

# timed NAME CMD...: one run, appended to $T/NAME.
timed() { local name=$1; shift; python3 "$TIMED" "$T/$name" "$@"; }
# Median of column COL (1 wall, 2 user, 3 sys, 0 = user+sys) of $T/NAME.
median() {
    awk -v c="$2" '{ print (c == 0 ? $2 + $3 : $c) }' "$T/$1" | sort -g \
        | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { echo "scale=2; $1 / $2" | bc; }
row() { # LABEL A B TARGET
    row_sum "$@"
}
row_sum() { # LABEL "A1 A2 ..." B TARGET: A is the sum of the medians of A1, A2, ...
    local aw=0 ac=0 n bw bc_
    for n in $2; do
        aw=$(echo "$aw + $(median "$n" 1)" | bc) ac=$(echo "$ac + $(median "$n" 0)" | bc)
    done
    aw=$(printf '%.4f' "$aw") ac=$(printf '%.4f' "$ac") bw=$(median "$3" 1) bc_=$(median "$3" 0)
    echo "| $1 | ${aw} s / ${ac} s | ${bw} s / ${bc_} s | $(ratio "$aw" "$bw")x | $(ratio "$ac" "$bc_")x | $4 |"
}
codes() { [ -f "$T/$1" ] || return 0; awk '{ print $4 }' "$T/$1" | sort -u | tr '\n' ' '; }

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ), binary $(sha256sum "$BIN" | cut -c1-12)"
CHECK=("$BIN" check --harbor "$HARBOR" "$R")

# --- 1. check vs grep ------------------------------------------------------------------
if wanted 1; then
"${CHECK[@]}" >/dev/null || true; grep -rl image "$R" >/dev/null
echo "row 1f floor: $("$FLOOR1" "$R")"
for _ in $(seq "$RUNS"); do
    timed check "${CHECK[@]}"
    timed grep grep -rl image "$R"
    timed floor1 "$FLOOR1" "$R"
done
fi

# --- 2. bump --commit vs check ---------------------------------------------------------
if wanted 2; then
echo "bump image ${IMAGES[0]}: $(grep -rl "${IMAGES[0]##*/}" "$R" | wc -l) files name it"
# The floor under row 2 (2f): what bump does beyond check, done by other programs on the same
# files: the writes alone (bench/atomic-floor.py: temporary files, syncfs, renames, syncfs)
# and git's own `git add` + `git commit` of them. The files and bytes are the bump's own.
git -C "$R" reset -q --hard "$SEED"
(cd "$R" && "$BIN" bump --harbor "$HARBOR" --config "$NOPROOF" --image "${IMAGES[0]}" --tag bench1 --all --commit . >/dev/null 2>&1)
git -C "$R" diff --name-only HEAD~1 > "$WORK/bumped-files"
rm -rf "$WORK/bumped" && mkdir -p "$WORK/bumped"
(cd "$R" && tar cf - -T "$WORK/bumped-files") | tar xf - -C "$WORK/bumped"
for _ in $(seq "$RUNS"); do
    git -C "$R" reset -q --hard "$SEED"
    timed check2 "${CHECK[@]}"
    (cd "$R" && timed bump "$BIN" bump --harbor "$HARBOR" --config "$NOPROOF" --image "${IMAGES[0]}" --tag bench1 --all --commit .)
    git -C "$R" reset -q --hard "$SEED"
    timed writes2 python3 "$ROOT/bench/atomic-floor.py" "$WORK/bumped" "$R" "$WORK/bumped-files"
    timed gitcommit2 git -C "$R" -c core.hooksPath=/dev/null commit -q -m floor --pathspec-from-file="$WORK/bumped-files"
done
git -C "$R" diff --name-only HEAD~1 | cmp -s - "$WORK/bumped-files" \
    || { echo "the floor's commit holds other files than the bump's" >&2; exit 1; }
git -C "$R" reset -q --hard "$SEED"
(cd "$R" && timed bump-proof "$BIN" bump --harbor "$HARBOR" --image "${IMAGES[0]}" --tag bench1 --all --commit .)
git -C "$R" reset -q --hard "$SEED"
fi

# --- 3. rewrite vs check, fresh copy ---------------------------------------------------
if wanted 3; then
# Fresh copies, one per rewrite run (untimed), made and synced before the first run and a
# minute ahead of it: right after the deletion of 10,000 files this ext4 scans the freed
# inodes on every file creation for about a minute (recently_deleted), which a checkout
# does not pay. `check` runs on one more copy that is never written.
RW_RUNS=$((RUNS / 2 > 3 ? RUNS / 2 : 3))
rm -rf "$WORK/copies" && mkdir -p "$WORK/copies"
fresh_copy() { cp -r "$R" "$1" && rm -rf "$1/.git"; }
for i in $(seq 0 "$RW_RUNS"); do fresh_copy "$WORK/copies/$i"; done
# The floor (3f): the same files replaced with the same bytes by bench/atomic-floor.py, which
# does only the writes (temporary files, syncfs, renames, syncfs), on copies of its own.
fresh_copy "$WORK/copies/new"
"$BIN" rewrite --no-render-proof "$WORK/copies/new" --harbor "$HARBOR" >/dev/null
# The files rewrite changed: one process compares them all (not one `cmp` per file).
python3 - "$WORK/copies/0" "$WORK/copies/new" > "$WORK/rewritten-files" <<'PY'
import filecmp, os, sys
old, new = sys.argv[1:3]
for d, _, names in sorted(os.walk(new)):
    for n in sorted(names):
        rel = os.path.relpath(os.path.join(d, n), new)
        if not filecmp.cmp(os.path.join(old, rel), os.path.join(new, rel), shallow=False):
            print(rel)
PY
for i in $(seq "$RW_RUNS"); do fresh_copy "$WORK/copies/f$i"; done
sync && sleep 61
for i in $(seq "$RW_RUNS"); do
    timed rewrite "$BIN" rewrite --no-render-proof "$WORK/copies/$i" --harbor "$HARBOR"
    timed check3 "$BIN" check --harbor "$HARBOR" "$WORK/copies/0"
    timed floor python3 "$ROOT/bench/atomic-floor.py" "$WORK/copies/new" "$WORK/copies/f$i" "$WORK/rewritten-files"
done
diff -r "$WORK/copies/new" "$WORK/copies/f1" >/dev/null || { echo "the floor script wrote other bytes than rewrite" >&2; exit 1; }
"$BIN" check --harbor "$HARBOR" "$WORK/copies/1" >/dev/null || { echo "rewrite left something to rewrite" >&2; exit 1; }
rm -rf "$WORK/copies"
fi

# --- 4. 8-way race vs one bump --push --------------------------------------------------
if wanted 4; then
# Every race starts as CI jobs do: the remote with its history packed, each job in a
# fresh clone (one pack). Reusing clones let every run's fetches pile up packs (49 after a
# few runs), and each object lookup of libgit2 and git then searched all of them. All the
# clones are made before the first timed run and deleted after the last, and a minute is
# waited after making them: ext4 scans recently freed inodes on every file creation, and
# deleting 80,000 files just before a race slowed its writes several-fold.
RACES_DIR="$WORK/races"
rm -rf "$RACES_DIR" "$WORK"/c[0-7]
git -C "$WORK/remote.git" update-ref refs/heads/main "$SEED"
git -C "$WORK/remote.git" gc -q --prune=now
for r in $(seq "$RACES"); do
    git clone -q "$WORK/remote.git" "$RACES_DIR/one$r"
    for i in $(seq 0 7); do
        git clone -q "$WORK/remote.git" "$RACES_DIR/race$r/c$i"
        # The floor (4f): the same eight bumps at once, each pushing to a remote of its own,
        # so nobody is ever rejected: what eight bumps cost on this machine without a race.
        git clone -q --bare "$WORK/remote.git" "$RACES_DIR/race$r/remote$i.git"
        git clone -q "$RACES_DIR/race$r/remote$i.git" "$RACES_DIR/race$r/f$i"
    done
done
sync
sleep 61
cat > "$WORK/race.sh" <<EOF
#!/usr/bin/env bash
# race.sh DIR [PREFIX]: eight bumps of different images, each from its own clone DIR/PREFIXN
# (PREFIX c: clones of one remote; f: clones of a remote each).
for i in \$(seq 0 7); do
    img=\$(echo "${IMAGES[*]}" | cut -d' ' -f\$((i + 1)))
    (cd "\$1/\${2:-c}\$i" && "$BIN" bump --harbor $HARBOR --config "$NOPROOF" --image "\$img" --tag bench2 --all --push --push-retries $RACE_RETRIES . >/dev/null 2>"$WORK/race\$i.err") &
done
wait
EOF
chmod +x "$WORK/race.sh"
RACE_LOG="$T/race-counts"
: > "$RACE_LOG"
# uncontended R: race R's eight bumps again, each to a remote of its own (row 4f).
uncontended() {
    timed free "$WORK/race.sh" "$RACES_DIR/race$1" f
    for i in $(seq 0 7); do
        [ "$(git -C "$RACES_DIR/race$1/remote$i.git" rev-list --count "$SEED..main")" = 1 ] \
            || { echo "4f: bump $i did not land" >&2; exit 1; }
    done
}
for r in $(seq "$RACES"); do
    git -C "$WORK/remote.git" update-ref refs/heads/main "$SEED"
    (cd "$RACES_DIR/one$r" && timed one "$BIN" bump --harbor "$HARBOR" --config "$NOPROOF" --image "${IMAGES[0]}" --tag bench2 --all --push .)
    git -C "$WORK/remote.git" update-ref refs/heads/main "$SEED"
    # Alternated: whichever runs second finds the files the first one replaced freshly freed.
    if [ $((r % 2)) = 0 ]; then uncontended "$r"; fi
    timed race "$WORK/race.sh" "$RACES_DIR/race$r"
    landed=$(git -C "$WORK/remote.git" rev-list --count "$SEED..main")
    merges=$(git -C "$WORK/remote.git" rev-list --merges --count "$SEED..main")
    [ "$landed" = 8 ] && [ "$merges" = 0 ] || { echo "race: $landed commits, $merges merges" >&2; cat "$WORK"/race*.err >&2; exit 1; }
    rejected=$(cat "$WORK"/race*.err | grep -c 'push rejected' || true)
    replays=$(cat "$WORK"/race*.err | grep -c 'replayed the bump onto' || true)
    conflicting=$(cat "$WORK"/race*.err | sed -n 's/.* \([0-9]*\) conflicting.*/\1/p' | paste -sd+ | bc)
    replanned=$(cat "$WORK"/race*.err | sed -n 's/.*; \([0-9]*\) file(s) re-planned.*/\1/p' | paste -sd+ | bc)
    echo "${rejected} ${replays} ${conflicting:-0} ${replanned:-0}" >> "$RACE_LOG"
    if [ $((r % 2)) = 1 ]; then uncontended "$r"; fi
done
rm -rf "$RACES_DIR"
fi

echo
echo "| comparison | A: median wall / CPU | B: median wall / CPU | wall ratio | CPU ratio | target |"
echo "|---|---|---|---|---|---|"
wanted 1 && row "1. A = \`check\`, B = \`grep -rl image\` ($RUNS runs each)" check grep "≤ 2x"
wanted 1 && row "1f. A = the walk, reads, skim and parse alone (examples/check_floor), B = \`grep -rl image\`" floor1 grep "floor"
wanted 2 && row "2. A = \`bump --commit\` (render.proof false), B = \`check\` ($RUNS runs each)" bump check2 "≤ 1.5x"
wanted 2 && row_sum "2f. A = \`check\` + the writes alone + \`git commit\` of the bumped files (medians summed), B = \`check\`" "check2 writes2 gitcommit2" check2 "floor"
wanted 2 && row "2b. A = \`bump --commit\` with the render proof (1 run), B = \`check\`" bump-proof check2 "info"
wanted 3 && row "3. A = \`rewrite --no-render-proof\` of a fresh copy, B = \`check\` of a fresh copy" rewrite check3 "≤ 3x"
wanted 3 && row "3f. A = the writes alone (bench/atomic-floor.py, same files and bytes), B = \`check\`" floor check3 "floor"
wanted 4 && row "4f. A = the same 8 bumps at once, a remote each (no race), B = one \`bump --push\`" free one "floor"
wanted 4 && row "4. A = 8 racing \`bump --push\`, B = one \`bump --push\` ($RACES races)" race one "≤ 6x"
echo
echo "exit codes: check $(codes check)/ grep $(codes grep)/ bump $(codes bump)/ rewrite $(codes rewrite)/ one $(codes one)/ race $(codes race)/ free $(codes free)/ writes2 $(codes writes2)/ gitcommit2 $(codes gitcommit2)/ floor $(codes floor)"
if wanted 4; then
    echo "per race (rejected pushes, replays, conflicting files over all replays, re-planned files):"
    sed 's/^/  /' "$WORK/times/race-counts"
fi
