#!/usr/bin/env bash
# A load balancer host's configuration, after the step placed the candidate configurations, keepalived's auth
# include and its track script: check both candidates (`haproxy -c`, `keepalived -t`) before either live file
# changes, replace each live file atomically only when it differs, then start each service when it is not running,
# or reload it — haproxy gracefully, old workers finish their connections — when the configuration it last loaded
# through hakube is not the live one. Comparing with what was loaded, not with what this run changed, also finishes a
# run that stopped between replacing a file and reloading. Needs services.sh.
#
# Inputs: haproxy_candidate, haproxy_config, haproxy_applied, keepalived_candidate, keepalived_config,
# keepalived_applied, auth_include, check_script, stats_socket (1: make sure /run/haproxy exists), interface (that
# carries the VIP here), vip.
if [ "$CHANGED" = 0 ]; then
  echo "hakube: the staged files are unchanged; checking that the services run what they hold"
fi
# keepalived -t accepts a missing include, so make sure the authentication block is really there.
if [ ! -s "$auth_include" ]; then
  echo "hakube: $auth_include is missing or empty" >&2
  exit 1
fi
if ! haproxy -c -f "$haproxy_candidate"; then
  echo "hakube: haproxy rejects $haproxy_candidate (the live configuration is unchanged)" >&2
  exit 1
fi
if ! keepalived -t -f "$keepalived_candidate"; then
  echo "hakube: keepalived rejects $keepalived_candidate (the live configuration is unchanged)" >&2
  exit 1
fi
# Replace a live configuration by its checked candidate, atomically and only when they differ; the candidate goes.
hakube_promote() {
  local candidate=$1 live=$2
  if ! { [ -f "$live" ] && cmp -s "$candidate" "$live"; }; then
    install -m 0644 -o root -g root "$candidate" "$live.hakube-new"
    mv -f "$live.hakube-new" "$live"
    echo "hakube: updated $live"
  fi
  rm -f "$candidate"
}
hakube_promote "$haproxy_candidate" "$haproxy_config"
hakube_promote "$keepalived_candidate" "$keepalived_config"
# The stats socket lives in /run/haproxy: Debian creates it through tmpfiles.d, other distributions may not.
if [ "$stats_socket" = 1 ] && [ ! -d /run/haproxy ]; then
  install -d -m 2775 -o haproxy -g haproxy /run/haproxy
  if ! grep -qs '/run/haproxy' /usr/lib/tmpfiles.d/*.conf /etc/tmpfiles.d/*.conf; then
    echo 'd /run/haproxy 2775 haproxy haproxy -' >/etc/tmpfiles.d/hakube-haproxy.conf
  fi
fi
hakube_apply_service haproxy.service reload "$haproxy_applied" "$haproxy_config"
hakube_apply_service keepalived.service reload "$keepalived_applied" "$keepalived_config" "$auth_include" "$check_script"
for attempt in $(seq 1 30); do
  if systemctl is-active --quiet haproxy.service && systemctl is-active --quiet keepalived.service; then
    break
  fi
  if [ "$attempt" -eq 30 ]; then
    echo "hakube: haproxy or keepalived is not running after 30 s" >&2
    journalctl -u haproxy.service -u keepalived.service -n 40 --no-pager >&2 || true
    exit 1
  fi
  sleep 1
done
if ip -o -4 addr show dev "$interface" | grep -qF " inet $vip/"; then
  echo "hakube: this host holds the VIP $vip"
else
  echo "hakube: the VIP $vip is on another host (or not assigned yet)"
fi
