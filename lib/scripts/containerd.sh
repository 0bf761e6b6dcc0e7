#!/usr/bin/env bash
# Node preparation's container runtime: install containerd (keeping hakube's config, placed before the install, over
# the package's conffile), enable it, restart it only when its configuration changed, and wait until it answers with
# its CRI plugin loaded. Needs packages.sh and services.sh.
#
# Inputs: os_family (debian|rhel), containerd_package, containerd_config, containerd_applied (the record of the
# configuration it runs with), repo_file_url (rhel: a .repo file fetched while the package is not installed; empty
# for none), repo_file (where it goes), proxy (for that fetch; empty for none).
install_containerd=0
if [ "$os_family" = debian ]; then
  if [ "$(dpkg-query -W -f='${db:Status-Status}' "$containerd_package" 2>/dev/null || true)" != installed ]; then
    install_containerd=1
  fi
  # hakube's config.toml is in place before the install: dpkg keeps it instead of asking about the conffile.
  export DPKG_FORCE=confdef,confold
elif ! rpm -q "$containerd_package" >/dev/null 2>&1; then
  install_containerd=1
fi
if [ "$install_containerd" = 1 ] && [ -n "$repo_file_url" ] && [ ! -f "$repo_file" ]; then
  curl -fsSL --retry 3 ${proxy:+--proxy "$proxy"} -o "$repo_file.hakube-new" "$repo_file_url"
  mv -f "$repo_file.hakube-new" "$repo_file"
  echo "hakube: added $repo_file from $repo_file_url"
fi
if [ "$install_containerd" = 1 ]; then
  hakube_install_packages "$containerd_package" "$containerd_package"
fi
hakube_apply_service containerd.service restart "$containerd_applied" "$containerd_config"
for attempt in $(seq 1 30); do
  if ctr version >/dev/null 2>&1; then
    break
  fi
  if [ "$attempt" = 30 ]; then
    echo "hakube: containerd does not answer on its socket after 30 s" >&2
    journalctl -u containerd.service -n 30 --no-pager >&2 || true
    exit 1
  fi
  sleep 1
done
cri=$(ctr plugins ls | awk '$1 == "io.containerd.grpc.v1" && $2 == "cri" { print $NF }')
if [ "$cri" != ok ]; then
  echo "hakube: containerd's CRI plugin is ${cri:-missing}, not ok: kubelet cannot use containerd" >&2
  journalctl -u containerd.service -n 30 --no-pager >&2 || true
  exit 1
fi
echo "hakube: $(containerd --version), CRI plugin ok"
