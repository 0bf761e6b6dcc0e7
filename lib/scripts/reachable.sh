#!/usr/bin/env bash
# A host's reachability check: reached over SSH (a pinned host key matched) and running as root (sudo -n, for
# another user, did not ask for a password).
[ "$(id -u)" = 0 ] || { echo "hakube: steps on $(uname -n) do not run as root" >&2; exit 1; }
echo "hakube: $(uname -n) answers; steps run as root"
