#!/usr/bin/env bash
# The Action's install step: splx-reconciler (at INPUT_VERSION, or the newest) from the
# package index with pip, into a virtual environment of its own so that it never clashes with
# the job's Python packages; its bin directory goes on GITHUB_PATH for the later steps.
#
# Overrides, for testing the Action and for the reconciler repository's own CI:
#   RECONCILER_ACTION_INSTALL   what pip installs instead (a wheel, a directory, a URL)
#   RECONCILER_ACTION_PYTHON    install with this interpreter instead of a new venv
#   RECONCILER_ACTION_PIP_ARGS  extra pip arguments (word-split)
set -euo pipefail

requirement="splx-reconciler"
case "${INPUT_STATE:-}" in
  # The PostgreSQL state backend is an extra: install it only when it is used.
  postgres://* | postgresql://*) requirement="splx-reconciler[postgres]" ;;
esac
if [ -n "${INPUT_VERSION:-}" ]; then
  case "$INPUT_VERSION" in
    *[\<\>=!~]*) requirement="${requirement}${INPUT_VERSION}" ;;
    *) requirement="${requirement}==${INPUT_VERSION}" ;;
  esac
fi
requirement="${RECONCILER_ACTION_INSTALL:-$requirement}"

python="${RECONCILER_ACTION_PYTHON:-}"
if [ -z "$python" ]; then
  venv="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/splx-reconciler-venv"
  python3 -m venv "$venv"
  python="$venv/bin/python"
fi
read -ra extra <<<"${RECONCILER_ACTION_PIP_ARGS:-}"
echo "Installing $requirement"
"$python" -m pip install --quiet --disable-pip-version-check "${extra[@]}" "$requirement"

bin="$("$python" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
echo "$bin" >>"$GITHUB_PATH"
"$bin/reconciler" --version
