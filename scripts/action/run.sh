#!/usr/bin/env bash
# The Action's main step: plan (always, as markdown: the PR comment and the step summary),
# then, for command: apply, apply with --auto-approve (and --wait/--junit/--sarif when asked).
# Writes the outputs exitcode, has-changes, plan-markdown, junit and sarif, also when it fails.
set -euo pipefail

command="${INPUT_COMMAND:-plan}"
out="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/reconciler"
mkdir -p "$out"
plan_md="$out/plan.md"

# Paths are separated by blanks or newlines (a YAML block scalar gives one per line).
read -ra paths <<<"$(printf '%s' "${INPUT_PATHS:-}" | tr '\n' ' ')"
common=()
if [ -n "${INPUT_STATE:-}" ]; then common+=(--state "$INPUT_STATE"); fi

junit=""
if [ "${INPUT_WAIT:-false}" = true ]; then junit="${INPUT_JUNIT:-$out/junit.xml}"; fi

output() { echo "$1=$2" >>"$GITHUB_OUTPUT"; }
summary() { if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat >>"$GITHUB_STEP_SUMMARY"; fi; }

# Exit 2 from --detailed-exitcode means "succeeded, with changes": not a failure.
plan_status=0
reconciler plan "${paths[@]}" "${common[@]}" --format markdown --detailed-exitcode \
  >"$plan_md" || plan_status=$?
output plan-markdown "$plan_md"
output plan-exitcode "$plan_status"
if [ "$plan_status" -eq 2 ]; then output has-changes true; else output has-changes false; fi

if [ "$plan_status" -ne 0 ] && [ "$plan_status" -ne 2 ]; then
  output exitcode "$plan_status"
  output sarif ""
  printf '### reconciler %s\n\nThe plan failed (exit code %s); see the job log.\n' \
    "$command" "$plan_status" | summary
  exit "$plan_status"
fi
{
  printf '### reconciler plan\n\n'
  cat "$plan_md"
  printf '\n'
} | summary

if [ "$command" = plan ]; then
  output exitcode "$plan_status"
  output junit ""
  output sarif ""
  exit 0
fi

apply_args=(--auto-approve)
if [ -n "$junit" ]; then
  apply_args+=(--wait --junit "$junit")
  # The findings of the ended runs for code scanning; written also when a gate fails (exit 3).
  if [ -n "${INPUT_SARIF:-}" ]; then apply_args+=(--sarif "$INPUT_SARIF"); fi
  if [ -n "${INPUT_TIMEOUT:-}" ]; then apply_args+=(--timeout "$INPUT_TIMEOUT"); fi
  if [ -n "${INPUT_INTERVAL:-}" ]; then apply_args+=(--interval "$INPUT_INTERVAL"); fi
fi
# A file left at that path by an earlier step must not pass for this apply's.
if [ -n "${INPUT_SARIF:-}" ]; then rm -f -- "$INPUT_SARIF"; fi
status=0
reconciler apply "${paths[@]}" "${common[@]}" "${apply_args[@]}" || status=$?
output exitcode "$status"
if [ -n "$junit" ] && [ -f "$junit" ]; then output junit "$junit"; else output junit ""; fi
if [ -n "${INPUT_SARIF:-}" ] && [ -f "$INPUT_SARIF" ]; then
  output sarif "$INPUT_SARIF"
else
  output sarif ""
fi
case "$status" in
  0) verdict="succeeded" ;;
  3) verdict="finished, and at least one run failed its gate (exit code 3)" ;;
  4) verdict="timed out waiting for the runs to end (exit code 4)" ;;
  *) verdict="failed (exit code $status); see the job log" ;;
esac
printf '\nreconciler apply %s.\n' "$verdict" | summary
exit "$status"
