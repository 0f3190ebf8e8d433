#!/usr/bin/env bash
# The Action's first step: reject inputs that make no sense, and an apply without an API key,
# before anything is installed. Inputs arrive as INPUT_* environment variables (action.yml);
# the API key only ever as SPLX_API_KEY, which this script tests for but never prints.
set -euo pipefail

fail() {
  # `::error::` makes the message the step's annotation; the exit code fails the step.
  echo "::error title=reconciler action::$*"
  exit 1
}

one_of() { # one_of INPUT VALUE ALLOWED...: fail naming the input unless VALUE is allowed
  local input="$1" value="$2"
  shift 2
  for allowed in "$@"; do [ "$value" = "$allowed" ] && return 0; done
  local choices="$*"
  fail "input '$input' must be one of: ${choices// /, } (got '$value')"
}

command="${INPUT_COMMAND:-plan}"
wait="${INPUT_WAIT:-false}"
comment="${INPUT_COMMENT:-true}"
one_of command "$command" plan apply
one_of wait "$wait" true false
one_of comment "$comment" true false

if [ "$wait" = true ] && [ "$command" != apply ]; then
  fail "input 'wait' is for command: apply (plan triggers nothing to wait for)"
fi
if [ -n "${INPUT_JUNIT:-}" ] && [ "$wait" != true ]; then
  fail "input 'junit' needs command: apply and wait: true (the report is of finished runs)"
fi
if [ -n "${INPUT_SARIF:-}" ] && [ "$wait" != true ]; then
  fail "input 'sarif' needs command: apply and wait: true (findings are those of ended runs)"
fi
duration_pattern='^[0-9]+([.][0-9]+)?(ms|s|m|h)?$'
for input in timeout interval; do
  variable="INPUT_${input^^}"
  value="${!variable:-}"
  [ -n "$value" ] || continue
  if [ "$wait" != true ]; then
    fail "input '$input' needs command: apply and wait: true"
  fi
  if ! [[ "$value" =~ $duration_pattern ]]; then
    fail "input '$input' must be a duration such as 30s, 5m or 2h (got '$value')"
  fi
done
# A version reaches pip's command line: allow a version or a specifier, never an option.
version_pattern='^[0-9A-Za-z.*+!=<>~,]+$'
if [ -n "${INPUT_VERSION:-}" ] && ! [[ "${INPUT_VERSION}" =~ $version_pattern ]]; then
  fail "input 'version' must be a version of splx-reconciler such as 0.1.0 (got '${INPUT_VERSION}')"
fi

# SPLXAI_API_KEY: the vendor's older name, which reconciler reads when SPLX_API_KEY is unset.
if [ -z "${SPLX_API_KEY:-}" ] && [ -z "${SPLXAI_API_KEY:-}" ]; then
  if [ "$command" = apply ]; then
    fail "SPLX_API_KEY is not set: apply needs it. Pass it to this step as env: SPLX_API_KEY: \${{ secrets.SPLX_API_KEY }}"
  fi
  # Pull requests from forks get no secrets. The plan is still useful: it is made offline.
  echo "::notice title=reconciler action::SPLX_API_KEY is not set (a pull request from a fork gets no secrets): planning offline, without reading the runs' status"
fi
echo "inputs are valid: command=$command wait=$wait comment=$comment"
