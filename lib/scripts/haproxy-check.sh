#!/bin/bash
# keepalived's track script of a load balancer, written by hakube: it fails while haproxy is down. keepalived runs it
# every few seconds (after kubeadm's check_apiserver.sh): it fails while haproxy is not active and, for API servers,
# while `GET /healthz` through the local haproxy fails; for TCP backends, while haproxy does not accept connections
# on its port.
#
# Inputs: load_balancer (its name), port (haproxy's frontend), check (https-healthz|tcp).
if ! systemctl is-active --quiet haproxy.service; then
  echo "hakube: haproxy is not running" >&2
  exit 1
fi
# shellcheck disable=SC2016 # $1 is the inner shell's argument
if [ "$check" = https-healthz ]; then
  if ! curl --silent --fail --insecure --max-time 2 --output /dev/null "https://127.0.0.1:$port/healthz"; then
    echo "hakube: no API server answers https://127.0.0.1:$port/healthz through haproxy ($load_balancer)" >&2
    exit 1
  fi
elif ! timeout 2 bash -c ': </dev/tcp/127.0.0.1/"$1"' _ "$port" 2>/dev/null; then
  echo "hakube: haproxy does not accept connections on port $port ($load_balancer)" >&2
  exit 1
fi
