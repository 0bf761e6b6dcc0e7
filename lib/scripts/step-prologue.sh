#!/usr/bin/env bash
# The start of every step's script: what a step body (the script of a StepSpec) may rely on, in one place.
#
#   - It runs as root, under `set -euo pipefail`, after this prologue.
#   - $STAGE is the step's stage directory on the host, where the backend uploaded this script and the step's files.
#     It is removed when the script exits, however it exits: no staged file (key material) stays behind.
#   - The step's files are placed before the body runs, each atomically and only when its bytes, mode or owner
#     differ; $CHANGED is 1 when any of them changed, else 0.
#   - In a step with files (step-files.sh follows this prologue), hakube_place_all places them again (after
#     something on the host removed them, e.g. `kubeadm reset`).
#   - A body that creates temporary files or directories adds them to HAKUBE_CLEANUP (`HAKUBE_CLEANUP+=("$tmp")`):
#     they are removed on exit. A body never sets an EXIT trap of its own: it would replace this one.
#   - On exit, the step's time and exit status are appended to the host's step log, and a failure says how the
#     deploy goes on.
#
# Inputs: step_id, host_name, stage_dir, step_log.
set -euo pipefail
STAGE=$stage_dir
HAKUBE_STEP_STARTED=$(date +%s.%N)
HAKUBE_CLEANUP=()
# shellcheck disable=SC2317 # run by the EXIT trap
hakube_exit() {
  local rc=$?
  rm -rf -- "$STAGE" "${HAKUBE_CLEANUP[@]}"
  { mkdir -p "$(dirname "$step_log")"; printf '%s\t%s\t%s\t%s\n' "$step_id" "$HAKUBE_STEP_STARTED" "$(date +%s.%N)" "$rc" >>"$step_log"; } || true
  if [ "$rc" != 0 ]; then
    echo "hakube: step $step_id failed on $host_name (exit $rc); the deploy marks it for a re-run: fix the cause, then deploy again to finish from here" >&2
  fi
}
trap hakube_exit EXIT

# shellcheck disable=SC2034 # CHANGED is for the step body, which may not need it
CHANGED=0
