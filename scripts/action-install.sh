#!/usr/bin/env bash
# Installs a prebuilt binary for the GitHub Action (action.yml), the way crate-ci/typos'
# action does: pick the release asset for the runner's OS and architecture, download it
# with the release's checksum file, refuse it unless its SHA-256 is listed there, keep it
# in the runner's tool cache (RUNNER_TOOL_CACHE/<tool>/<version>/<arch>, as
# @actions/tool-cache lays it out) and print the binary's path on stdout.
#
#   action-install.sh harborize   the release of the action's own version
#   action-install.sh trivy       the pinned Trivy release (TRIVY_VERSION below)
#
# Runs under bash 3.2 (macOS) and Git Bash (Windows runners). Inputs (environment):
#   RUNNER_OS        Linux | macOS | Windows           (set by the runner)
#   RUNNER_ARCH      X64 | ARM64                       (set by the runner)
#   RUNNER_TOOL_CACHE, RUNNER_TEMP                     (set by the runner)
#   HARBORIZE_VERSION   version to install; else from ACTION_REF when it is a full
#                       version tag (v1.2.3), else the version in ACTION_PATH/Cargo.toml
#                       (a moving tag like v1, a branch or a commit SHA: the checkout of
#                       the action is that version's source)
#   HARBORIZE_RELEASE_URL  base of the release downloads (default: the releases of
#                          ACTION_REPOSITORY, the action's own repository); tests/integration/action_install.rs points
#                          it and TRIVY_RELEASE_URL at a local server
# Errors go to stderr as ::error:: workflow commands; exit 1.
set -euo pipefail

TRIVY_VERSION="0.76.0"
DEFAULT_HARBORIZE_URL="https://github.com/harborize/harborize/releases/download"
DEFAULT_TRIVY_URL="https://github.com/aquasecurity/trivy/releases/download"

die() {
    printf '::error title=harborize action::%s\n' "$*" >&2
    exit 1
}
log() { printf '%s\n' "$*" >&2; }

# The Rust target of the harborize release binary for this runner.
harborize_target() {
    case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
        Linux/X64) echo x86_64-unknown-linux-musl ;;
        Linux/ARM64) echo aarch64-unknown-linux-musl ;;
        macOS/X64) echo x86_64-apple-darwin ;;
        macOS/ARM64) echo aarch64-apple-darwin ;;
        # Windows on Arm runs x64 binaries under emulation; there is no arm64 build
        Windows/X64 | Windows/ARM64) echo x86_64-pc-windows-msvc ;;
        *) die "no harborize release binary for runner OS '${RUNNER_OS:-?}' and architecture '${RUNNER_ARCH:-?}' (Linux, macOS, Windows on X64 or ARM64)" ;;
    esac
}

# Trivy's own asset name (goreleaser): trivy_<v>_<OS>-<ARCH>.tar.gz (.zip on Windows).
trivy_asset() {
    case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
        Linux/X64) echo "trivy_${TRIVY_VERSION}_Linux-64bit.tar.gz" ;;
        Linux/ARM64) echo "trivy_${TRIVY_VERSION}_Linux-ARM64.tar.gz" ;;
        macOS/X64) echo "trivy_${TRIVY_VERSION}_macOS-64bit.tar.gz" ;;
        macOS/ARM64) echo "trivy_${TRIVY_VERSION}_macOS-ARM64.tar.gz" ;;
        Windows/X64 | Windows/ARM64) echo "trivy_${TRIVY_VERSION}_windows-64bit.zip" ;;
        *) die "no Trivy release for runner OS '${RUNNER_OS:-?}' and architecture '${RUNNER_ARCH:-?}'" ;;
    esac
}

exe_suffix() {
    if [ "${RUNNER_OS:-}" = Windows ]; then echo .exe; fi
}

harborize_version() {
    if [ -n "${HARBORIZE_VERSION:-}" ]; then
        echo "${HARBORIZE_VERSION#v}"
        return
    fi
    if printf '%s' "${ACTION_REF:-}" | grep -Eq '^v[0-9]+\.[0-9]+\.[0-9]+$'; then
        echo "${ACTION_REF#v}"
        return
    fi
    local manifest="${ACTION_PATH:-.}/Cargo.toml"
    [ -f "$manifest" ] || die "cannot tell the harborize version: ACTION_REF '${ACTION_REF:-}' is not vX.Y.Z and $manifest is missing"
    # the first `version = "..."` is [package]'s (it is the first table of Cargo.toml)
    sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$manifest" | head -n1
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

download() { # download URL FILE
    curl --fail --silent --show-error --location --retry 3 --proto '=https,http' \
        --output "$2" "$1" || die "download failed: $1"
}

# verify FILE NAME SUMS: NAME's line in the checksum file SUMS (sha256sum format) must
# hold FILE's SHA-256; a missing line is a refusal too.
verify() {
    local want got
    want="$(awk -v n="$2" '{ f = $2; sub(/^\*/, "", f); if (f == n) { print $1; exit } }' "$3")"
    [ -n "$want" ] || die "$2 is not listed in the release's checksum file: refusing it"
    got="$(sha256_of "$1")"
    [ "$want" = "$got" ] || die "checksum mismatch for $2: expected $want, got $got: refusing it"
}

# install TOOL VERSION URL ASSET SUMS_URL SUMS_NAME BINARY: cached, else downloaded,
# verified and unpacked into the tool cache; prints the binary's path.
install() {
    local tool="$1" version="$2" url="$3" asset="$4" sums_url="$5" sums_name="$6" binary="$7"
    local cache="${RUNNER_TOOL_CACHE:?RUNNER_TOOL_CACHE is not set}"
    local arch dir tmp
    arch="$(printf '%s' "${RUNNER_ARCH:-x64}" | tr '[:upper:]' '[:lower:]')"
    dir="$cache/$tool/$version/$arch"
    if [ -f "$dir.complete" ] && [ -x "$dir/$binary" ]; then
        log "$tool $version: from the tool cache ($dir)"
        echo "$dir/$binary"
        return
    fi
    tmp="$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/$tool-install.XXXXXX")"
    INSTALL_TMP="$tmp"
    trap 'rm -rf "$INSTALL_TMP"' EXIT
    log "$tool $version: downloading $asset"
    download "$url" "$tmp/$asset"
    download "$sums_url" "$tmp/$sums_name"
    verify "$tmp/$asset" "$asset" "$tmp/$sums_name"
    rm -rf "$dir" "$dir.complete"
    mkdir -p "$dir"
    case "$asset" in
        *.tar.gz) tar -xzf "$tmp/$asset" -C "$dir" "$binary" ;;
        *.zip) unzip -q -o "$tmp/$asset" "$binary" -d "$dir" ;;
        *) cp "$tmp/$asset" "$dir/$binary" ;;
    esac
    chmod +x "$dir/$binary"
    rm -rf "$tmp"
    : >"$dir.complete"
    log "$tool $version: installed $dir/$binary (sha256 verified)"
    echo "$dir/$binary"
}

# The action's own repository's releases (a fork's action downloads the fork's binaries).
release_url() {
    if [ -n "${HARBORIZE_RELEASE_URL:-}" ]; then
        echo "$HARBORIZE_RELEASE_URL"
    elif [ -n "${ACTION_REPOSITORY:-}" ]; then
        echo "${GITHUB_SERVER_URL:-https://github.com}/$ACTION_REPOSITORY/releases/download"
    else
        echo "$DEFAULT_HARBORIZE_URL"
    fi
}

main() {
    local exe version base asset
    exe="$(exe_suffix)"
    case "${1:-}" in
        harborize)
            version="$(harborize_version)"
            [ -n "$version" ] || die "cannot tell the harborize version"
            base="$(release_url)/v$version"
            asset="harborize-$(harborize_target)$exe"
            install harborize "$version" "$base/$asset" "$asset" \
                "$base/SHA256SUMS" SHA256SUMS "harborize$exe"
            ;;
        trivy)
            base="${TRIVY_RELEASE_URL:-$DEFAULT_TRIVY_URL}/v$TRIVY_VERSION"
            asset="$(trivy_asset)"
            install trivy "$TRIVY_VERSION" "$base/$asset" "$asset" \
                "$base/trivy_${TRIVY_VERSION}_checksums.txt" "trivy_${TRIVY_VERSION}_checksums.txt" \
                "trivy$exe"
            ;;
        *) die "usage: action-install.sh harborize|trivy" ;;
    esac
}

main "$@"
