#!/usr/bin/env bash
# Benchmark `harborize bump` on the generated 10,000-file GitOps repository (issue 5):
#   1. bump --commit of one image vs check, same tree            target: <= 2x check
#   2. eight bump --push racing for one bare remote (different images, own clones)
#      vs one bump --push alone                                   target: < 3x one bump
# usage: bench/bump.sh   (env: BENCH_DIR to keep the generated repo, RUNS=N (10), RACE_RETRIES=N (10))
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release/harborize"
GEN="$ROOT/../shared/bench/gen-gitops-repo.py"
RUNS="${RUNS:-10}"
# Eight processes re-bumping hundreds of files each on 2 cores need more than the default 5.
RACE_RETRIES="${RACE_RETRIES:-10}"
HARBOR=harbor.example.com
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release --quiet)
WORK="${BENCH_DIR:-$(mktemp -d)}"
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
IMAGES=(ghcr.io/andrelair-platform/platform-demo ghcr.io/stefanprodan/podinfo
        quay.io/prometheus/node-exporter quay.io/jetstack/cert-manager-controller
        registry.k8s.io/ingress-nginx/controller registry.k8s.io/sig-storage/csi-attacher
        redis alpine)

if [ ! -d "$WORK/repo/.git" ]; then
    rm -rf "$WORK/repo" "$WORK/remote.git"
    python3 "$GEN" "$WORK/repo" --apps 1000 >/dev/null
    git -C "$WORK/repo" init -q -b main
    git -C "$WORK/repo" add -A
    git -C "$WORK/repo" commit -qm seed
    git clone -q --bare "$WORK/repo" "$WORK/remote.git"
fi
SEED=$(git -C "$WORK/remote.git" rev-list --max-parents=0 main)
git -C "$WORK/repo" reset -q --hard "$SEED"
cd "$WORK/repo"

echo "## 1. bump --commit vs check (${IMAGES[0]}: $(grep -rl "${IMAGES[0]#*/}" . --include='*.yaml' | wc -l) files)"
hyperfine -N --runs "$RUNS" -i --prepare "git reset -q --hard $SEED" \
    "$BIN check --harbor $HARBOR ." \
    "$BIN bump --harbor $HARBOR --image ${IMAGES[0]} --tag bench1 --commit ." \
    --export-markdown "$WORK/bump-vs-check.md" >/dev/null
git reset -q --hard "$SEED"
cat "$WORK/bump-vs-check.md"

echo "## 2. 8-way bump --push race vs one bump --push"
reset_clones() {
    git -C "$WORK/remote.git" update-ref refs/heads/main "$SEED"
    for i in $(seq 0 7); do
        [ -d "$WORK/c$i" ] || git clone -q "$WORK/remote.git" "$WORK/c$i"
        git -C "$WORK/c$i" fetch -q origin
        git -C "$WORK/c$i" reset -q --hard "$SEED"
    done
}
one() {
    (cd "$WORK/c0" && "$BIN" bump --harbor $HARBOR --image "${IMAGES[0]}" --tag bench2 --push . >/dev/null)
}
race() {
    for i in $(seq 0 7); do
        (cd "$WORK/c$i" && "$BIN" bump --harbor $HARBOR --image "${IMAGES[$i]}" --tag bench2 --push --push-retries "$RACE_RETRIES" . >/dev/null 2>"$WORK/race$i.err") &
    done
    wait
    [ "$(git -C "$WORK/remote.git" rev-list --count "$SEED..main")" = 8 ] || { echo "race lost a bump" >&2; exit 1; }
}
t() { local s e; s=$(date +%s.%N); "$@"; e=$(date +%s.%N); echo "$e - $s" | bc; }
ONE=(); RACE=()
for r in 1 2 3; do
    reset_clones; ONE+=("$(t one)")
    reset_clones; RACE+=("$(t race)")
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
M1=$(median "${ONE[@]}"); M8=$(median "${RACE[@]}")
echo "| one bump --push | 8-way race | ratio |"
echo "|---|---|---|"
echo "| ${M1} s | ${M8} s | $(echo "scale=2; $M8 / $M1" | bc)x |"
echo "retries in the last race: $(cat "$WORK"/race*.err | grep -c 'push rejected' || true)"
