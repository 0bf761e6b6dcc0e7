#!/usr/bin/env bash
# The etcd cluster's health check: wait until every member answers healthy over TLS, then print the member list.
# HAKUBE_CHECK_WAIT (seconds) shortens the wait (hakube status).
#
# Inputs: etcdctl, endpoints (comma-separated client URLs), members (how many), tls_args, wait_seconds.
wait_s=${HAKUBE_CHECK_WAIT:-$wait_seconds}
deadline=$((SECONDS + wait_s))
until ETCDCTL_API=3 "$etcdctl" --endpoints="$endpoints" "${tls_args[@]}" endpoint health; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "hakube: etcd cluster not healthy after $wait_s s" >&2
    exit 1
  fi
  echo "hakube: waiting for all $members members ($SECONDS s)"
  sleep 3
done
ETCDCTL_API=3 "$etcdctl" --endpoints="$endpoints" "${tls_args[@]}" member list -w table
echo "hakube: all $members etcd members are healthy"
