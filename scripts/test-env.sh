# shellcheck shell=bash
# Source me:  . scripts/test-env.sh
# Puts the project's tool dir (.tools/bin, filled by scripts/install-test-tools.sh)
# first on PATH and exports HARBORIZE_TOOLS_DIR (absolute path of .tools).
# Safe to source more than once; sets no shell options. Needs bash (or zsh).
if [ -z "${BASH_VERSION:-}" ] && [ -z "${ZSH_VERSION:-}" ]; then
    echo "scripts/test-env.sh: source it from bash (or zsh)" >&2
    # shellcheck disable=SC2317
    return 1 2>/dev/null || exit 1
fi
if [ -n "${BASH_SOURCE[0]:-}" ]; then
    _harborize_env_src="${BASH_SOURCE[0]}"
elif [ -n "${ZSH_VERSION:-}" ]; then
    # shellcheck disable=SC2296
    _harborize_env_src="${(%):-%x}"
else
    _harborize_env_src="$0"
fi
HARBORIZE_TOOLS_DIR="$(cd "$(dirname "$_harborize_env_src")/.." && pwd)/.tools"
export HARBORIZE_TOOLS_DIR
case ":${PATH}:" in
    ":${HARBORIZE_TOOLS_DIR}/bin:"*) ;;  # already first
    *)
        # drop any later copy, then prepend
        PATH=":${PATH}:"
        PATH="${PATH//:${HARBORIZE_TOOLS_DIR}\/bin:/:}"
        PATH="${PATH#:}"; PATH="${PATH%:}"
        PATH="${HARBORIZE_TOOLS_DIR}/bin${PATH:+:${PATH}}"
        ;;
esac
export PATH
unset _harborize_env_src
