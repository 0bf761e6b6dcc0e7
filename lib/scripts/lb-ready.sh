#!/usr/bin/env bash
# A load balancer's check: wait until <vip>:<port> accepts TCP connections (some host holds the VIP and its haproxy
# listens). HAKUBE_CHECK_WAIT (seconds) shortens the wait (hakube status).
#
# Inputs: vip, port, wait_seconds.
wait_s=${HAKUBE_CHECK_WAIT:-$wait_seconds}
deadline=$((SECONDS + wait_s))
# shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
until timeout 3 bash -c ': </dev/tcp/"$1"/"$2"' _ "$vip" "$port" 2>/dev/null; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "hakube: nothing accepts connections on $vip:$port after $wait_s s" >&2
    exit 1
  fi
  echo "hakube: waiting for $vip:$port ($SECONDS s)"
  sleep 1
done
echo "hakube: $vip:$port accepts connections"
