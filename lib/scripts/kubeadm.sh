#!/usr/bin/env bash
# Functions for the steps that run kubeadm. Inputs: admin_conf, kubelet_conf (where kubeadm writes them).

# hakube_kubeadm_once MARKER WHAT COMMAND...: run a kubeadm command once. Skipped when MARKER exists; when an earlier
# attempt stopped half-way (kubeadm had already written files), the node is reset and the step's files are placed
# again before the retry. MARKER is written when the command succeeded: kubeadm writes admin.conf and kubelet.conf
# long before it is done.
hakube_kubeadm_once() {
  local marker=$1 what=$2
  shift 2
  if [ -f "$marker" ]; then
    echo "hakube: $what already done; nothing to do (hakube does not reconfigure or upgrade a running node yet)"
    return 0
  fi
  if [ -e "$admin_conf" ] || [ -e "$kubelet_conf" ] || [ -n "$(ls -A /etc/kubernetes/manifests 2>/dev/null)" ]; then
    echo "hakube: an earlier $what did not finish; resetting this node before trying again"
    kubeadm reset --force
    hakube_place_all
  fi
  echo "hakube: $what"
  "$@"
  touch "$marker"
}

# Give root a kubeconfig (seed 002's `$HOME/.kube/config`) once the node has admin credentials.
hakube_root_kubeconfig() {
  install -d -m 0700 /root/.kube
  if ! cmp -s "$admin_conf" /root/.kube/config; then
    install -m 0600 "$admin_conf" /root/.kube/config
  fi
}
