#!/usr/bin/env bash
# Apply the network add-on's manifest (and calico's Installation resource) with the admin kubeconfig; `kubectl apply`
# is idempotent.
#
# Inputs: plugin (flannel|calico), manifest (a URL or the file the step placed), installation (calico's Installation
# file), admin_conf.
kubectl_admin() { kubectl --kubeconfig="$admin_conf" "$@"; }
echo "hakube: applying the $plugin network add-on"
if [ "$plugin" = calico ]; then
  kubectl_admin apply --server-side --force-conflicts -f "$manifest"
  kubectl_admin wait --for=condition=Established --timeout=120s crd/installations.operator.tigera.io
  kubectl_admin apply -f "$installation"
else
  kubectl_admin apply -f "$manifest"
fi
