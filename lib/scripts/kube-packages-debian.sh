#!/usr/bin/env bash
# Node preparation's Kubernetes packages on the debian family: add the Kubernetes repository (unless the packages come
# from a configured one), install kubelet, kubeadm and kubectl at the pinned version, hold them, enable kubelet (it
# restarts in a loop until kubeadm configures it). Packages already at the pinned version are left alone; a package
# at another version is an error: changing the version of a running node is an upgrade (kubeadm upgrade, one minor
# release at a time, node drained), not node preparation. Needs packages.sh.
#
# Inputs: want (the version, e.g. 1.34.2), packages (kubelet kubeadm kubectl), repo_url (empty: the configured
# repositories have them), keyring, source_list, source_line (the repository's apt source), proxy (empty for none).
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -q -y -o DPkg::Lock::Timeout=600 "$@"; }
missing=()
wrong=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$pkg" 2>/dev/null || true)
  case $status in
    "installed $want-"*) ;;
    installed\ *) wrong+=("$pkg ${status#installed }") ;;
    *) missing+=("$pkg") ;;
  esac
done
if [ "${#wrong[@]}" -gt 0 ]; then
  echo "hakube: installed at another version than $want: ${wrong[*]}" >&2
  echo "hakube: node preparation does not change the version of installed Kubernetes packages; upgrade with kubeadm (one minor release at a time, node drained) first" >&2
  exit 1
fi

repo_changed=0
# The Kubernetes repository: its own keyring, then the source list (written after the key, so apt never sees the
# repository without it).
if [ -n "$repo_url" ] && { [ ! -s "$keyring" ] || [ "$(cat "$source_list" 2>/dev/null)" != "$source_line" ]; }; then
  if ! command -v curl >/dev/null 2>&1 || ! command -v gpg >/dev/null 2>&1; then
    hakube_install_packages "curl gpg ca-certificates"
  fi
  tmp=$(mktemp -d)
  HAKUBE_CLEANUP+=("$tmp")
  curl -fsSL --retry 3 ${proxy:+--proxy "$proxy"} -o "$tmp/Release.key" "${repo_url}Release.key"
  gpg --batch --homedir "$tmp" --dearmor -o "$tmp/keyring.gpg" "$tmp/Release.key"
  install -d -m 0755 "$(dirname "$keyring")"
  install -m 0644 "$tmp/keyring.gpg" "$keyring.hakube-new"
  mv -f "$keyring.hakube-new" "$keyring"
  printf '%s\n' "$source_line" >"$source_list.hakube-new"
  chmod 0644 "$source_list.hakube-new"
  mv -f "$source_list.hakube-new" "$source_list"
  echo "hakube: added the Kubernetes repository $repo_url"
  repo_changed=1
fi

hakube_take_package_lock
if [ "${#missing[@]}" -gt 0 ] || [ "$repo_changed" = 1 ]; then
  hakube_apt_update
fi
if [ "${#missing[@]}" -gt 0 ]; then
  pinned=()
  for pkg in "${missing[@]}"; do
    version=$(apt-cache madison "$pkg" | awk -F'|' -v want="$want" '!found { gsub(/ /, "", $2); if (index($2, want "-") == 1) { print $2; found = 1 } }')
    if [ -z "$version" ]; then
      echo "hakube: $pkg $want is not in the configured repositories; they offer: $(apt-cache madison "$pkg" | awk -F'|' '{ gsub(/ /, "", $2); printf "%s ", $2 }')" >&2
      exit 1
    fi
    pinned+=("$pkg=$version")
  done
  apt_get install --no-install-recommends --allow-change-held-packages "${pinned[@]}"
  echo "hakube: installed ${pinned[*]}"
else
  echo "hakube: ${packages[*]} already at $want"
fi
# crictl (cri-tools): kubeadm packages no longer depend on it from 1.31 on; operators and hakube's checks use it
if ! command -v crictl >/dev/null 2>&1; then
  apt_get install --no-install-recommends cri-tools
  echo "hakube: installed cri-tools ($(crictl --version))"
fi
apt-mark hold "${packages[@]}" >/dev/null
flock -u 9
systemctl enable kubelet.service >/dev/null 2>&1
echo "hakube: kubelet $(kubelet --version | awk '{ print $2 }'), kubeadm $(kubeadm version -o short), kubectl $want installed and held"
