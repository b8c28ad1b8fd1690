#!/usr/bin/env bash
# Smoke check: the CNCF distribution registry (Debian's docker-registry) starts
# on 127.0.0.1 with a private config, random port and temp storage, answers
# GET /v2/ with 200, stores and serves a blob, and stops again.
#
# Exit 0 on success; non-zero with a message (and the registry's log) on failure.
# REGISTRY_BIN overrides the binary (default: docker-registry, else registry).
set -euo pipefail

fail() { printf 'smoke-registry: FAIL: %s\n' "$*" >&2; exit 1; }
say() { printf 'smoke-registry: %s\n' "$*"; }

BIN="${REGISTRY_BIN:-}"
if [ -z "$BIN" ]; then
    BIN="$(command -v docker-registry || command -v registry || true)"
fi
[ -n "$BIN" ] && [ -x "$BIN" ] || fail "registry binary not found (install: scripts/install-test-tools.sh)"
command -v curl >/dev/null || fail "curl not found"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/harborize-smoke-registry.XXXXXX")"
PID=""
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill "$PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

show_log() {
    if [ -s "$WORK/registry.log" ]; then
        echo "---- registry log (last 40 lines) ----" >&2
        tail -n 40 "$WORK/registry.log" >&2
        echo "--------------------------------------" >&2
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_registry() { # start_registry PORT -> sets PID; returns 0 once /v2/ answers
    local port="$1"
    mkdir -p "$WORK/storage"
    cat >"$WORK/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: smoke-$RANDOM$RANDOM
EOF
    : >"$WORK/registry.log"
    "$BIN" serve "$WORK/config.yml" >>"$WORK/registry.log" 2>&1 &
    PID=$!
    local code
    for _ in $(seq 100); do   # up to ~10 s
        if ! kill -0 "$PID" 2>/dev/null; then
            wait "$PID" 2>/dev/null || true
            PID=""
            return 1
        fi
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/v2/" || true)"
        [ "$code" = 200 ] && return 0
        sleep 0.1
    done
    return 2
}

say "binary: $BIN ($(timeout 5 "$BIN" --version 2>&1 | head -n1))"

# A free port found by bind(0) can be taken by someone else before the
# registry binds it: retry a few times with a new port.
started=0
for attempt in 1 2 3; do
    PORT="$(free_port)"
    rc=0
    start_registry "$PORT" || rc=$?
    if [ "$rc" = 0 ]; then started=1; break; fi
    if [ "$rc" = 2 ]; then show_log; fail "registry on 127.0.0.1:$PORT did not answer GET /v2/ with 200 within 10 s"; fi
    if ! grep -qi 'address already in use' "$WORK/registry.log"; then
        show_log; fail "registry exited at startup (attempt $attempt, port $PORT)"
    fi
    say "port $PORT was taken, retrying"
done
[ "$started" = 1 ] || { show_log; fail "could not start the registry on a free port"; }
BASE="http://127.0.0.1:$PORT"
say "registry pid $PID listening on $BASE"

# GET /v2/ -> 200 and the distribution API header
hdrs="$(curl -s -D - -o /dev/null --max-time 5 "$BASE/v2/")"
grep -q '^HTTP/1.1 200' <<<"$hdrs" || { show_log; fail "GET /v2/ not 200: $hdrs"; }
grep -qi '^Docker-Distribution-Api-Version: registry/2.0' <<<"$hdrs" \
    || { show_log; fail "GET /v2/ lacks Docker-Distribution-Api-Version: registry/2.0"; }
say "GET /v2/ -> 200 (registry/2.0)"

# Monolithic blob upload, then read it back: proves the temp storage works.
printf 'harborize smoke blob\n' >"$WORK/blob"
digest="sha256:$(sha256sum "$WORK/blob" | cut -d' ' -f1)"
loc="$(curl -s -D - -o /dev/null -X POST --max-time 5 "$BASE/v2/smoke/test/blobs/uploads/" \
    | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')"
[ -n "$loc" ] || { show_log; fail "POST blobs/uploads/ returned no Location"; }
case "$loc" in http*) ;; *) loc="$BASE$loc" ;; esac
case "$loc" in *\?*) sep='&' ;; *) sep='?' ;; esac
code="$(curl -s -o /dev/null -w '%{http_code}' -X PUT --max-time 5 \
    -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/blob" \
    "$loc${sep}digest=$digest")"
[ "$code" = 201 ] || { show_log; fail "PUT blob upload -> $code, want 201"; }
got="$(curl -s --max-time 5 "$BASE/v2/smoke/test/blobs/$digest")"
[ "$got" = "harborize smoke blob" ] || { show_log; fail "GET blob returned '$got'"; }
find "$WORK/storage" -type f -name data | grep -q . || fail "no blob data under the temp storage dir"
say "blob push + pull OK ($digest)"

# Stop it and make sure it is gone.
kill "$PID"
for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PID" 2>/dev/null; then fail "registry pid $PID did not stop on SIGTERM within 5 s"; fi
wait "$PID" 2>/dev/null || true
PID=""
if curl -s -o /dev/null --max-time 1 "$BASE/v2/"; then fail "something still answers on $BASE after stop"; fi
say "stopped; OK"
