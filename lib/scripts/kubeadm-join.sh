#!/usr/bin/env bash
# `kubeadm join` of a worker or a control-plane host, once. Needs kubeadm.sh.
#
# Inputs: join_config, join_done (the marker), control_plane (1: a control-plane host, which gets root's kubeconfig).
if [ "$control_plane" = 1 ]; then
  hakube_kubeadm_once "$join_done" 'kubeadm join (control plane)' kubeadm join --config="$join_config"
  hakube_root_kubeconfig
else
  hakube_kubeadm_once "$join_done" 'kubeadm join' kubeadm join --config="$join_config"
fi
