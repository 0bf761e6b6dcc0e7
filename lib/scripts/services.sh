#!/usr/bin/env bash
# Functions for the steps that run a systemd service.

# hakube_apply_service [--no-block] UNIT restart|reload STATE_FILE FILE...: enable UNIT and start it when it is not
# running, or restart/reload it when the sha256 of FILEs differs from the one recorded in STATE_FILE when it last
# (re)started through hakube. Comparing with the record, not with what this run changed, also finishes a run that
# stopped between placing files and restarting; the record is written only after systemctl succeeded.
# --no-block: do not wait for the unit to become ready (a bootstrapping etcd member is ready only with a quorum).
hakube_apply_service() {
  local no_block=()
  if [ "$1" = --no-block ]; then
    no_block=(--no-block)
    shift
  fi
  local unit=$1 action=$2 state_file=$3
  shift 3
  local wanted
  wanted=$(sha256sum "$@" | sha256sum | cut -d' ' -f1)
  systemctl enable --quiet "$unit"
  if ! systemctl is-active --quiet "$unit"; then
    echo "hakube: starting $unit"
    systemctl daemon-reload
    systemctl "${no_block[@]}" start "$unit"
  elif [ "$(cat "$state_file" 2>/dev/null)" != "$wanted" ]; then
    echo "hakube: configuration changed, ${action}ing $unit"
    systemctl daemon-reload
    systemctl "${no_block[@]}" "$action" "$unit"
  else
    echo "hakube: $unit unchanged and running"
  fi
  echo "$wanted" >"$state_file"
}
