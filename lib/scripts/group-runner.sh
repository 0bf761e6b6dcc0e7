#!/usr/bin/env bash
# Runs a group of one host's steps as one unit: each step's script, in order, when the step's hash differs from the
# one recorded when the step last succeeded on this host (a step that did not change has its stage directory removed
# instead), recording the hash after success. When the group as a whole is the same as when it last finished here,
# the run is a forced re-run (the engine replaced the resource): every step runs. An interrupted group resumes at
# the step that failed. No staged file stays behind on any exit.
#
# Inputs: runner_stage (this script's stage directory), group_hash, group_record (where the group's hash is recorded),
# record_dir, and per step, index by index: step_ids, step_hashes, step_scripts, step_stages, step_records.
set -euo pipefail
# on the way out no staged file (secrets) stays behind, also of steps that did not run
trap 'rm -rf -- "$runner_stage" "${step_stages[@]}"' EXIT
forced=0
if [ "$(cat "$group_record" 2>/dev/null)" = "$group_hash" ]; then
  forced=1
fi
mkdir -p "$record_dir"
for i in "${!step_ids[@]}"; do
  if [ "$forced" = 1 ] || [ "$(cat "${step_records[i]}" 2>/dev/null)" != "${step_hashes[i]}" ]; then
    bash "${step_scripts[i]}"
    echo "${step_hashes[i]}" >"${step_records[i]}"
  else
    rm -rf -- "${step_stages[i]}"
    echo "hakube: ${step_ids[i]} unchanged since it last ran here"
  fi
done
echo "$group_hash" >"$group_record"
