#!/usr/bin/env bash
# An etcd member's install: etcd from the distribution's packages or a pinned release tarball (checked against its
# sha256), the etcd user and directories. Debian's package starts a default single-member etcd on install: while
# hakube's unit is not in place yet, that instance is stopped and its data removed, so it can neither hold the ports
# nor be mistaken for the cluster. Needs packages.sh.
#
# Inputs: install_from (distro|release), release_version, release_url, release_sha256, release_name (the tarball's top
# directory), release_machine (what `uname -m` must say), release_arch, bin_dir, unit_file, unit_marker, pki_dir,
# data_dir.
if [ "$install_from" = distro ]; then
  if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
    hakube_install_packages "etcd-server etcd-client" etcd
  fi
elif ! /usr/local/bin/etcd --version 2>/dev/null | grep -qx "etcd Version: $release_version"; then
  if [ "$(uname -m)" != "$release_machine" ]; then
    echo "hakube: this host is $(uname -m), the etcd release is for $release_arch" >&2
    exit 1
  fi
  if ! command -v curl >/dev/null 2>&1 && ! command -v wget >/dev/null 2>&1; then
    hakube_install_packages "curl ca-certificates" curl
  fi
  tmp=$(mktemp -d)
  HAKUBE_CLEANUP+=("$tmp")
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 -o "$tmp/etcd.tar.gz" "$release_url"
  else
    wget -q -O "$tmp/etcd.tar.gz" "$release_url"
  fi
  echo "$release_sha256  $tmp/etcd.tar.gz" | sha256sum -c --quiet -
  tar -xzf "$tmp/etcd.tar.gz" -C "$tmp"
  for bin in etcd etcdctl etcdutl; do
    if [ -f "$tmp/$release_name/$bin" ]; then
      install -m 0755 "$tmp/$release_name/$bin" "/usr/local/bin/$bin.hakube-new"
      mv -f "/usr/local/bin/$bin.hakube-new" "/usr/local/bin/$bin"
    fi
  done
fi
if ! id -u etcd >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/etcd --shell /usr/sbin/nologin etcd
fi
if ! grep -qs "$unit_marker" "$unit_file"; then
  # Not managed by hakube yet: stop whatever etcd the package started and drop its default data.
  systemctl stop etcd.service 2>/dev/null || true
  rm -rf /var/lib/etcd/default
fi
install -d -m 0755 -o root -g root /etc/etcd
install -d -m 0750 -o root -g etcd "$pki_dir"
install -d -m 0700 -o etcd -g etcd "$data_dir"
echo "hakube: $("$bin_dir/etcd" --version | sed -n 1p)"
