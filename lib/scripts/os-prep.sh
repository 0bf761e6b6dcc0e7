#!/usr/bin/env bash
# Node preparation's OS settings: swap off now and at boot, kernel modules present, kernel parameters applied and
# read back, SELinux permissive (rhel), and the package proxy. The module and sysctl files are placed by the step. A
# module that is already there — loaded, or built into the kernel, as inside a container whose machine has it — is
# not loaded again; otherwise modprobe must succeed. The parameters are applied when their file changed or a value
# differs (it repairs a value something else changed).
#
# Inputs: os_family (debian|rhel), modules, sysctls ("key=value" each), sysctl_file, proxy (the
# package proxy URL, empty for none), apt_proxy_file (debian: placed by the step when there is a proxy).

# Swap off: kubelet refuses to run with swap by default.
if [ "$(awk 'NR > 1' /proc/swaps | wc -l)" -gt 0 ]; then
  swapoff -a
  if [ "$(awk 'NR > 1' /proc/swaps | wc -l)" -gt 0 ]; then
    echo "hakube: swap is still on after swapoff -a:" >&2
    cat /proc/swaps >&2
    exit 1
  fi
  echo "hakube: swap turned off"
fi
swap_entry='^[^#[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]]'
if grep -Eq "$swap_entry" /etc/fstab 2>/dev/null; then
  sed -E -i.hakube-bak "/$swap_entry/ s/^/# swap off for kubelet (hakube): /" /etc/fstab
  echo "hakube: swap entries in /etc/fstab commented out (backup: /etc/fstab.hakube-bak)"
fi

# Kernel modules (the step placed their list for boot in modules-load.d).
module_present() {
  [ -d "/sys/module/$1" ] && return 0
  case $1 in
    overlay) grep -qw overlay /proc/filesystems ;;
    br_netfilter) [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] ;;
    *) return 1 ;;
  esac
}
for module in "${modules[@]}"; do
  if module_present "$module"; then
    echo "hakube: kernel module $module: present"
    continue
  fi
  if ! command -v modprobe >/dev/null 2>&1 || ! modprobe "$module"; then
    echo "hakube: kernel module $module is neither loaded nor built in, and modprobe $module failed (inside a container, load it on the machine that runs the container)" >&2
    exit 1
  fi
  echo "hakube: kernel module $module: loaded"
done

# Kernel parameters from $sysctl_file: applied when the file changed or a value differs.
sysctl_mismatches() {
  local setting actual
  for setting in "${sysctls[@]}"; do
    actual=$(sysctl -n "${setting%%=*}" 2>/dev/null || echo missing)
    [ "$actual" = "${setting#*=}" ] || echo "${setting%%=*}=$actual (want ${setting#*=})"
  done
}
if [ "$CHANGED" = 1 ] || [ -n "$(sysctl_mismatches)" ]; then
  if ! sysctl -p "$sysctl_file" >/dev/null; then
    echo "hakube: could not apply $sysctl_file (is /proc/sys/net writable? a container needs it writable)" >&2
    exit 1
  fi
  echo "hakube: applied $sysctl_file"
fi
mismatches=$(sysctl_mismatches)
if [ -n "$mismatches" ]; then
  echo "hakube: kernel parameters differ after applying $sysctl_file: $mismatches" >&2
  exit 1
fi
echo "hakube: ${sysctls[*]}"

if [ "$os_family" = rhel ]; then
  # SELinux permissive (kubeadm's recommendation; seed 002 turns it off).
  if command -v getenforce >/dev/null 2>&1 && [ "$(getenforce)" = Enforcing ]; then
    setenforce 0
    echo "hakube: SELinux set to permissive"
  fi
  if [ -f /etc/selinux/config ] && grep -q '^SELINUX=enforcing' /etc/selinux/config; then
    sed -i 's/^SELINUX=enforcing.*/SELINUX=permissive/' /etc/selinux/config
    echo "hakube: SELinux permissive at boot (/etc/selinux/config)"
  fi

  # Package proxy in the [main] section of dnf.conf, on the line after hakube's marker.
  conf=/etc/dnf/dnf.conf
  [ -f "$conf" ] || printf '[main]\n' >"$conf"
  tmp=$(mktemp)
  HAKUBE_CLEANUP+=("$tmp")
  awk -v proxy="$proxy" '
    skip { skip = 0; next }
    $0 == "# hakube: package proxy" { skip = 1; next }
    { print }
    /^\[main\]/ && proxy != "" && !done { print "# hakube: package proxy"; print "proxy=" proxy; done = 1 }
  ' "$conf" >"$tmp"
  if ! cmp -s "$tmp" "$conf"; then
    cat "$tmp" >"$conf"
    echo "hakube: package proxy updated in $conf"
  fi
elif [ -z "$proxy" ] && [ -e "$apt_proxy_file" ]; then
  # No package proxy: remove one hakube configured earlier.
  rm -f "$apt_proxy_file"
  echo "hakube: removed the package proxy"
fi
