#!/usr/bin/env bash
# A load balancer host's install: haproxy and keepalived (and curl for the https check). Debian's packages start
# haproxy with its default configuration (no frontends) and skip keepalived until it has a configuration, so
# installing is harmless; the configure step takes over both services. Needs packages.sh.
#
# Inputs: packages (what the host needs, the same names for apt and dnf).
for pkg in "${packages[@]}"; do
  if ! command -v "$pkg" >/dev/null 2>&1; then
    hakube_install_packages "${packages[*]}" "${packages[*]}"
    break
  fi
done
# SELinux (RHEL family) keeps haproxy from binding and connecting to arbitrary ports unless this boolean is on.
if command -v selinuxenabled >/dev/null 2>&1 && selinuxenabled && ! getsebool haproxy_connect_any | grep -q 'on$'; then
  setsebool -P haproxy_connect_any 1
fi
echo "hakube: $(haproxy -v | sed -n 1p)"
echo "hakube: $(keepalived --version 2>&1 | sed -n 1p)"
