#!/usr/bin/env bash
# Peak memory of `harborize rewrite` on two large single files (issue 12 item 17): a 10 MB
# single-document flow sequence (the worst shape: one collection of ~1.7 million scalars)
# and a 50 MB stream of 200,000 block-style Deployments. Target: peak RSS <= 20x the file.
# Each shape runs 3 times on a fresh copy; prints every run and the median (KB).
#
# Usage: bench/memory.sh [BINARY]   (default target/debug/harborize)
# Environment knobs:
#   MEM_DIR=DIR   where the inputs are generated and kept (default /tmp/harborize-mem)
#   MEM_RUNS=N    runs per shape (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/debug/harborize}")"
dir="${MEM_DIR:-/tmp/harborize-mem}"
runs="${MEM_RUNS:-3}"
mkdir -p "$dir"
cd "$dir"
printf 'max_file_size: 100000000\n' >harborize.yaml
[ -f flow.yaml ] || python3 - <<'PY'
head = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n"
        "    - name: c\n      image: nginx:1.27\n      args: [")
items = []; size = len(head); i = 0
while size < 10_000_000:
    s = f"a{i%1000}, "; items.append(s); size += len(s); i += 1
open("flow.yaml", "w").write(head + "".join(items) + "z]\n")
PY
[ -f block.yaml ] || python3 - <<'PY'
doc = """---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  labels: {{app: app-{i}}}
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.{m}
          ports:
            - containerPort: 8080
"""
with open("block.yaml", "w") as f:
    for i in range(200_000):
        f.write(doc.format(i=i, m=i % 30))
PY
for shape in flow block; do
    kbs=()
    for _ in $(seq "$runs"); do
        cp "$shape.yaml" w.yaml
        kb=$( { /usr/bin/time -f '%M' "$bin" rewrite w.yaml --harbor h.example.com >/dev/null; } 2>&1 | tail -1)
        kbs+=("$kb")
    done
    median=$(printf '%s\n' "${kbs[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
    bytes=$(stat -c %s "$shape.yaml")
    ratio=$(awk -v kb="$median" -v b="$bytes" 'BEGIN { printf "%.2f", kb * 1024 / b }')
    echo "$shape: $bytes bytes; peak RSS KB: ${kbs[*]}; median $median KB = ${ratio}x the file"
done
