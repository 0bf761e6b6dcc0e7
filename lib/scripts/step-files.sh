#!/usr/bin/env bash
# The part of the step prologue that places a step's files, in the scripts of steps with files: each staged file is
# installed atomically and only when its bytes, mode or owner differ, and $CHANGED says whether any did.
#
# Input: `placements`, four words per file of the step: where it was staged (relative to $STAGE), destination
# path, octal mode, owner ("user:group").

# Install a staged file atomically; set CHANGED=1 when its content, mode or owner differ.
# shellcheck disable=SC2034 # CHANGED is for the step body
hakube_place() {
  local src="$STAGE/$1" dest=$2 mode=$3 owner=$4
  if [ -f "$dest" ] && cmp -s "$src" "$dest" && [ "$(stat -c '%a %U:%G' "$dest")" = "${mode#0} $owner" ]; then
    return 0
  fi
  mkdir -p "$(dirname "$dest")"
  install -m "$mode" -o "${owner%%:*}" -g "${owner#*:}" "$src" "$dest.hakube-new"
  mv -f "$dest.hakube-new" "$dest"
  echo "hakube: updated $dest"
  CHANGED=1
}
# Place every file of this step.
hakube_place_all() {
  local i
  for ((i = 0; i < ${#placements[@]}; i += 4)); do
    hakube_place "${placements[@]:i:4}"
  done
}
hakube_place_all
