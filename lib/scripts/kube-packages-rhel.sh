#!/usr/bin/env bash
# Node preparation's Kubernetes packages on the rhel family: install kubelet, kubeadm and kubectl at the pinned
# version from the repository file the step placed (or a configured repository), hold them with dnf's versionlock,
# enable kubelet. As on the debian family, a package at another version is an error (an upgrade is kubeadm's job).
# Needs packages.sh.
#
# Inputs: want (the version), want_re (the version as an extended regular expression), packages, repo_file (the
# step's .repo file, empty: the configured repositories have them).
missing=()
wrong=()
for pkg in "${packages[@]}"; do
  if rpm -q "$pkg" >/dev/null 2>&1; then
    version=$(rpm -q --qf '%{VERSION}' "$pkg")
    if [ "$version" != "$want" ]; then
      wrong+=("$pkg $version")
    fi
  else
    missing+=("$pkg")
  fi
done
if [ "${#wrong[@]}" -gt 0 ]; then
  echo "hakube: installed at another version than $want: ${wrong[*]}" >&2
  echo "hakube: node preparation does not change the version of installed Kubernetes packages; upgrade with kubeadm (one minor release at a time, node drained) first" >&2
  exit 1
fi
# The repository file excludes the packages from ordinary updates; installs name it.
exclude=()
if [ -n "$repo_file" ]; then
  exclude=(--disableexcludes=kubernetes)
fi
hakube_take_package_lock
if [ -n "$repo_file" ] && [ "$CHANGED" = 1 ]; then
  # $repo_file changed: drop the cached metadata of the old repository
  dnf clean expire-cache >/dev/null
fi
if [ "${#missing[@]}" -gt 0 ]; then
  pinned=()
  for pkg in "${missing[@]}"; do
    pinned+=("$pkg-$want")
  done
  dnf install -y "${exclude[@]}" "${pinned[@]}"
  echo "hakube: installed ${pinned[*]}"
else
  echo "hakube: ${packages[*]} already at $want"
fi
# crictl (cri-tools): kubeadm packages no longer depend on it from 1.31 on; operators and hakube's checks use it
if ! command -v crictl >/dev/null 2>&1; then
  dnf install -y "${exclude[@]}" cri-tools
  echo "hakube: installed cri-tools ($(crictl --version))"
fi
# Hold the versions with the versionlock plugin (built into dnf 5).
if ! dnf versionlock --help >/dev/null 2>&1; then
  dnf install -y python3-dnf-plugin-versionlock
fi
locked=$(dnf versionlock list 2>/dev/null || true)
for pkg in "${packages[@]}"; do
  if ! grep -Eq "(^|:)$pkg-([0-9]+:)?$want_re-" <<<"$locked"; then
    dnf versionlock add "${exclude[@]}" "$pkg-$want"
  fi
done
flock -u 9
systemctl enable kubelet.service >/dev/null 2>&1
echo "hakube: kubelet $(kubelet --version | awk '{ print $2 }'), kubeadm $(kubeadm version -o short), kubectl $want installed and held"
