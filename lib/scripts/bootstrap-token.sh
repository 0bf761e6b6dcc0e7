#!/usr/bin/env bash
# Make sure the plan's bootstrap token exists in the cluster: kubeadm deletes it when its TTL runs out, so a node added
# a month later could not join. The nodes that join with it are an input, so that adding a node changes this step and
# it runs again before that node joins. The token's secret half is never printed.
#
# Inputs: token_file, admin_conf, ttl, joiners (host names).
token=$(cat "$token_file")
tokens=$(kubeadm token list --kubeconfig="$admin_conf" | awk 'NR > 1 { print $1 }')
if grep -qxF "$token" <<<"$tokens"; then
  echo "hakube: bootstrap token ${token%%.*} is present (${#joiners[@]} nodes join with it)"
else
  kubeadm token create "$token" --ttl="$ttl" --kubeconfig="$admin_conf" >/dev/null
  echo "hakube: bootstrap token ${token%%.*} created (ttl $ttl, ${#joiners[@]} nodes join with it)"
fi
