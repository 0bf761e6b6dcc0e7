#!/usr/bin/env bash
# `kubeadm init` on the first control-plane host, once: the CA files placed before it are reused by kubeadm, so every
# certificate chains to the operator-side CA. The join command kubeadm would print carries the token, so it is not
# printed. Needs kubeadm.sh.
#
# Inputs: init_config, init_done (the marker).
hakube_kubeadm_once "$init_done" 'kubeadm init' kubeadm init --config="$init_config" --skip-token-print
hakube_root_kubeconfig
