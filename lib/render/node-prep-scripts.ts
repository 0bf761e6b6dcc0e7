/** The host scripts of node preparation's steps: preflight, OS settings, containerd, the Kubernetes packages. */
import { sh } from '../shell.js';
import { renderAptUpdate, renderPackageInstall, takePackageLock } from './packages.js';
import { renderServiceApply } from './services.js';
import { KUBERNETES_KERNEL_MODULES, KUBERNETES_PACKAGES, KUBERNETES_SYSCTLS, NODE_PREP_PATHS, type KubernetesPackages, type NodeRole, type OsFamily } from './node-prep-options.js';
import { renderKubernetesAptSource } from './node-prep-files.js';

/** What the preflight script checks on a host (read-only: it changes nothing). */
export interface PreflightConfig {
  /** The host's name in the inventory: the machine's hostname should be the same (kubelet registers under it). */
  readonly hostName: string;
  readonly role: NodeRole;
  readonly osFamily: OsFamily;
  readonly minCpus: number;
  readonly minMemoryMb: number;
  /** TCP ports that must be free while kubelet is not configured. */
  readonly ports: readonly number[];
  readonly allowHostnameMismatch: boolean;
}

/**
 * Read-only checks before anything changes; every problem is collected and all are reported together before the
 * step fails. Also prints what must be unique across nodes (product_uuid, machine-id, MAC addresses) for a
 * cross-host check elsewhere, and the swap state. Ports are only checked while
 * /etc/kubernetes/kubelet.conf is absent: on a node kubeadm already set up, kubelet and the control plane hold them.
 */
export function renderPreflightScript(c: PreflightConfig): string {
  const hostnameCheck = c.allowHostnameMismatch
    ? `  echo "hakube: warning: hostname is $(uname -n), the inventory calls this host $host (allowed by allowHostnameMismatch)" >&2`
    : `  problem "hostname is $(uname -n), but the inventory calls this host $host: kubelet registers the node under its hostname (set it with: hostnamectl set-hostname $host)"`;
  const packageManager = c.osFamily === 'debian'
    ? `if ! command -v apt-get >/dev/null 2>&1; then
  problem "apt-get not found: this host is not of the debian family (set osFamily)"
fi`
    : `if ! command -v dnf >/dev/null 2>&1; then
  problem "dnf not found: this host is not of the rhel family 8 or later (set osFamily)"
fi
if systemctl is-active --quiet firewalld 2>/dev/null; then
  echo "hakube: warning: firewalld is active: open the Kubernetes ports (\${ports[*]}) between the nodes" >&2
fi`;
  return `host=${sh(c.hostName)}
role=${sh(c.role)}
min_cpus=${sh(c.minCpus)}
min_memory_mb=${sh(c.minMemoryMb)}
ports=(${c.ports.map((p) => sh(p)).join(' ')})
problems=()
problem() { problems+=("$1"); }
echo "hakube: preflight of $host as a Kubernetes $role node"

if [ "$(uname -n | tr '[:upper:]' '[:lower:]')" != "$host" ]; then
${hostnameCheck}
fi
cpus=$(nproc)
if [ "$cpus" -lt "$min_cpus" ]; then
  problem "$cpus CPUs, at least $min_cpus needed"
fi
memory_mb=$(( $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 1024 ))
if [ "$memory_mb" -lt "$min_memory_mb" ]; then
  problem "$memory_mb MiB of memory, at least $min_memory_mb MiB needed"
fi
if [ ! -d /run/systemd/system ]; then
  problem "systemd is not the init system: kubelet and containerd run as systemd services with the systemd cgroup driver"
fi
${packageManager}

# Whether something listens on TCP port $1 (ss, or /proc/net/tcp* where ss is missing).
port_in_use() {
  if command -v ss >/dev/null 2>&1; then
    [ -n "$(ss -ltn "sport = :$1" | tail -n +2)" ]
  else
    awk -v port=":$(printf '%04X' "$1")" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == port { found = 1 } END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
  fi
}
if [ -e ${sh(NODE_PREP_PATHS.kubeletKubeconfig)} ]; then
  echo "hakube: ports not checked: kubelet is already configured (${NODE_PREP_PATHS.kubeletKubeconfig} exists), Kubernetes holds them"
else
  for port in "\${ports[@]}"; do
    if port_in_use "$port"; then
      holder=$(ss -ltnp "sport = :$port" 2>/dev/null | awk 'NR == 2 { print $NF }' || true)
      problem "TCP port $port is already in use\${holder:+ by $holder}"
    fi
  done
fi

# What must differ between nodes; compared across hosts elsewhere (no step reads another host).
echo "hakube: product_uuid: $(cat /sys/class/dmi/id/product_uuid 2>/dev/null || echo unavailable)"
echo "hakube: machine-id: $(cat /etc/machine-id 2>/dev/null || echo unavailable)"
echo "hakube: MAC addresses: $(ip -o link 2>/dev/null | awk '{ name = $2; sub(/:$/, "", name); sub(/@.*/, "", name); for (i = 1; i < NF; i++) if ($i == "link/ether") printf "%s=%s ", name, $(i + 1) }' || true)"
if [ "$(awk 'NR > 1' /proc/swaps | wc -l)" -gt 0 ]; then
  echo "hakube: swap is on (the os step turns it off):"
  awk 'NR > 1 { print "  " $1 " (" $2 ", " $3 " KiB)" }' /proc/swaps
else
  echo "hakube: swap: off"
fi

if [ "\${#problems[@]}" -gt 0 ]; then
  echo "hakube: $host cannot become a Kubernetes $role node, \${#problems[@]} problem(s):" >&2
  printf '  - %s\\n' "\${problems[@]}" >&2
  exit 1
fi
echo "hakube: preflight passed ($cpus CPUs, $memory_mb MiB)"
`;
}

/**
 * Swap off now and at boot, kernel modules present, sysctls applied and read back, SELinux permissive (rhel), and
 * the package proxy. The module and sysctl files are placed by the step. A module that is already there — loaded,
 * or built into the kernel, as inside a container whose machine has it — is not loaded again; otherwise modprobe
 * must succeed. The sysctls are written every run (cheap, and it repairs a value something else changed).
 */
export function renderOsPrepScript(osFamily: OsFamily, proxy?: string): string {
  const selinux = osFamily === 'rhel'
    ? `
# SELinux permissive (kubeadm's recommendation; seed 002 turns it off).
if command -v getenforce >/dev/null 2>&1 && [ "$(getenforce)" = Enforcing ]; then
  setenforce 0
  echo "hakube: SELinux set to permissive"
fi
if [ -f /etc/selinux/config ] && grep -q '^SELINUX=enforcing' /etc/selinux/config; then
  sed -i 's/^SELINUX=enforcing.*/SELINUX=permissive/' /etc/selinux/config
  echo "hakube: SELinux permissive at boot (/etc/selinux/config)"
fi
`
    : '';
  const proxyConfig = osFamily === 'debian'
    ? proxy
      ? '' // placed by the step
      : `
# No package proxy: remove one hakube configured earlier.
if [ -e ${sh(NODE_PREP_PATHS.aptProxy)} ]; then
  rm -f ${sh(NODE_PREP_PATHS.aptProxy)}
  echo "hakube: removed the package proxy"
fi
`
    : `
# Package proxy in the [main] section of dnf.conf, on the line after hakube's marker.
conf=/etc/dnf/dnf.conf
[ -f "$conf" ] || printf '[main]\n' > "$conf"
tmp=$(mktemp)
awk -v proxy=${sh(proxy ?? '')} '
  skip { skip = 0; next }
  $0 == "# hakube: package proxy" { skip = 1; next }
  { print }
  /^\\[main\\]/ && proxy != "" && !done { print "# hakube: package proxy"; print "proxy=" proxy; done = 1 }
' "$conf" > "$tmp"
if ! cmp -s "$tmp" "$conf"; then
  cat "$tmp" > "$conf"
  echo "hakube: package proxy updated in $conf"
fi
rm -f "$tmp"
`;
  return `# Swap off: kubelet refuses to run with swap by default.
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

# Kernel modules (listed in ${NODE_PREP_PATHS.modulesLoad} for boot).
module_present() {
  [ -d "/sys/module/$1" ] && return 0
  case $1 in
    overlay) grep -qw overlay /proc/filesystems ;;
    br_netfilter) [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] ;;
    *) return 1 ;;
  esac
}
for module in ${KUBERNETES_KERNEL_MODULES.map((m) => sh(m)).join(' ')}; do
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

# Kernel parameters from ${NODE_PREP_PATHS.sysctl}: applied when the file changed or a value differs.
sysctl_mismatches() {
${Object.entries(KUBERNETES_SYSCTLS)
  .map(([key, value]) => `  [ "$(sysctl -n ${sh(key)} 2>/dev/null)" = ${sh(value)} ] || echo "${key}=$(sysctl -n ${sh(key)} 2>/dev/null || echo missing) (want ${value})"`)
  .join('\n')}
}
if [ "$CHANGED" = 1 ] || [ -n "$(sysctl_mismatches)" ]; then
  if ! sysctl -p ${sh(NODE_PREP_PATHS.sysctl)} >/dev/null; then
    echo "hakube: could not apply ${NODE_PREP_PATHS.sysctl} (is /proc/sys/net writable? a container needs it writable)" >&2
    exit 1
  fi
  echo "hakube: applied ${NODE_PREP_PATHS.sysctl}"
fi
mismatches=$(sysctl_mismatches)
if [ -n "$mismatches" ]; then
  echo "hakube: kernel parameters differ after applying ${NODE_PREP_PATHS.sysctl}: $mismatches" >&2
  exit 1
fi
echo "hakube: ${Object.entries(KUBERNETES_SYSCTLS).map(([k, v]) => `${k}=${v}`).join(' ')}"
${selinux}${proxyConfig}`;
}

export interface ContainerdInstallConfig {
  readonly osFamily: OsFamily;
  readonly packageName: string;
  /** rhel: .repo file fetched while the package is not installed and no docker-ce.repo exists. */
  readonly repoFileUrl?: string;
  readonly proxy?: string;
}

/**
 * Install containerd (keeping hakube's config, placed before the install, over the package's conffile), enable
 * it, restart it only when its configuration changed, and wait until it answers with its CRI plugin loaded.
 */
export function renderContainerdScript(c: ContainerdInstallConfig): string {
  const pkg = sh(c.packageName);
  const missing = c.osFamily === 'debian'
    ? `[ "$(dpkg-query -W -f="\\\${db:Status-Status}" ${pkg} 2>/dev/null || true)" != installed ]`
    : `! rpm -q ${pkg} >/dev/null 2>&1`;
  const before = c.osFamily === 'debian'
    ? `# hakube's config.toml is in place before the install: dpkg keeps it instead of asking about the conffile.
export DPKG_FORCE=confdef,confold`
    : c.repoFileUrl
      ? `repo_file_url=${sh(c.repoFileUrl)}
if [ "$install_containerd" = 1 ] && [ ! -f ${sh(NODE_PREP_PATHS.containerdYumRepo)} ]; then
  curl -fsSL --retry 3${c.proxy ? ` --proxy ${sh(c.proxy)}` : ''} -o ${sh(`${NODE_PREP_PATHS.containerdYumRepo}.hakube-new`)} "$repo_file_url"
  mv -f ${sh(`${NODE_PREP_PATHS.containerdYumRepo}.hakube-new`)} ${sh(NODE_PREP_PATHS.containerdYumRepo)}
  echo "hakube: added ${NODE_PREP_PATHS.containerdYumRepo} from $repo_file_url"
fi`
      : '';
  return `install_containerd=0
if ${missing}; then
  install_containerd=1
fi
${before}
${renderPackageInstall({ apt: [c.packageName], dnf: [c.packageName] }, '[ "$install_containerd" = 1 ]')}
${renderServiceApply({ unit: 'containerd.service', files: [NODE_PREP_PATHS.containerdConfig], stateFile: NODE_PREP_PATHS.containerdApplied, action: 'restart' })}
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
  echo "hakube: containerd's CRI plugin is \${cri:-missing}, not ok: kubelet cannot use containerd" >&2
  journalctl -u containerd.service -n 30 --no-pager >&2 || true
  exit 1
fi
echo "hakube: $(containerd --version), CRI plugin ok"
`;
}

/** Why cri-tools is installed on its own (a comment in the script). */
const CRICTL_NOTE = '# crictl (cri-tools): kubeadm packages no longer depend on it from 1.31 on; operators and hakube\'s checks use it';

/**
 * Add the Kubernetes repository (unless the packages come from a configured one), install kubelet, kubeadm and
 * kubectl at the pinned version, hold them, enable kubelet (it restarts in a loop until kubeadm configures it).
 * Packages already at the pinned version are left alone; a package at another version is an error — changing the
 * version of a running node is an upgrade (kubeadm upgrade, one minor release at a time, node drained), not node
 * preparation. Package manager work happens under hakube's host-wide package lock.
 */
export function renderKubePackagesScript(p: KubernetesPackages): string {
  const names = KUBERNETES_PACKAGES.join(' ');
  const head = `want=${sh(p.version)}
missing=()
wrong=()`;
  const mismatch = `if [ "\${#wrong[@]}" -gt 0 ]; then
  echo "hakube: installed at another version than $want: \${wrong[*]}" >&2
  echo "hakube: node preparation does not change the version of installed Kubernetes packages; upgrade with kubeadm (one minor release at a time, node drained) first" >&2
  exit 1
fi`;
  const enable = `systemctl enable kubelet.service >/dev/null 2>&1
echo "hakube: kubelet $(kubelet --version | awk '{ print $2 }'), kubeadm $(kubeadm version -o short), kubectl $want installed and held"`;
  if (p.osFamily === 'debian') {
    const proxy = p.proxy ? ` --proxy ${sh(p.proxy)}` : '';
    const repo = p.repoUrl
      ? `
# The Kubernetes repository: its own keyring, then the source list (written after the key, so apt never sees the
# repository without it).
keyring=${sh(NODE_PREP_PATHS.aptKeyring)}
source_list=${sh(NODE_PREP_PATHS.aptSource)}
repo_url=${sh(p.repoUrl)}
source_line=${sh(renderKubernetesAptSource(p.repoUrl).trimEnd())}
if [ ! -s "$keyring" ] || [ "$(cat "$source_list" 2>/dev/null)" != "$source_line" ]; then
${indent(renderPackageInstall({ apt: ['curl', 'gpg', 'ca-certificates'] }, '! command -v curl >/dev/null 2>&1 || ! command -v gpg >/dev/null 2>&1'))}
  tmp=$(mktemp -d)
  HAKUBE_CLEANUP+=("$tmp")
  curl -fsSL --retry 3${proxy} -o "$tmp/Release.key" "\${repo_url}Release.key"
  gpg --batch --homedir "$tmp" --dearmor -o "$tmp/keyring.gpg" "$tmp/Release.key"
  install -d -m 0755 "$(dirname "$keyring")"
  install -m 0644 "$tmp/keyring.gpg" "$keyring.hakube-new"
  mv -f "$keyring.hakube-new" "$keyring"
  printf '%s\\n' "$source_line" > "$source_list.hakube-new"
  chmod 0644 "$source_list.hakube-new"
  mv -f "$source_list.hakube-new" "$source_list"
  echo "hakube: added the Kubernetes repository $repo_url"
  repo_changed=1
fi`
      : '';
    return `export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -q -y -o DPkg::Lock::Timeout=600 "$@"; }
${head}
repo_changed=0
for pkg in ${names}; do
  status=$(dpkg-query -W -f="\\\${db:Status-Status} \\\${Version}" "$pkg" 2>/dev/null || true)
  case $status in
    "installed $want-"*) ;;
    installed\\ *) wrong+=("$pkg \${status#installed }") ;;
    *) missing+=("$pkg") ;;
  esac
done
${mismatch}
${repo}
${takePackageLock()}
if [ "\${#missing[@]}" -gt 0 ] || [ "$repo_changed" = 1 ]; then
  ${renderAptUpdate('  ')}
fi
if [ "\${#missing[@]}" -gt 0 ]; then
  pinned=()
  for pkg in "\${missing[@]}"; do
    version=$(apt-cache madison "$pkg" | awk -F'|' -v want="$want" '!found { gsub(/ /, "", $2); if (index($2, want "-") == 1) { print $2; found = 1 } }')
    if [ -z "$version" ]; then
      echo "hakube: $pkg $want is not in the configured repositories; they offer: $(apt-cache madison "$pkg" | awk -F'|' '{ gsub(/ /, "", $2); printf "%s ", $2 }')" >&2
      exit 1
    fi
    pinned+=("$pkg=$version")
  done
  apt_get install --no-install-recommends --allow-change-held-packages "\${pinned[@]}"
  echo "hakube: installed \${pinned[*]}"
else
  echo "hakube: ${names} already at $want"
fi
${CRICTL_NOTE}
if ! command -v crictl >/dev/null 2>&1; then
  apt_get install --no-install-recommends cri-tools
  echo "hakube: installed cri-tools ($(crictl --version))"
fi
apt-mark hold ${names} >/dev/null
flock -u 9
${enable}
`;
  }
  const exclude = p.repoUrl ? ' --disableexcludes=kubernetes' : '';
  const versionRegex = p.version.replace(/\./g, '\\.');
  return `${head}
want_re=${sh(versionRegex)}
for pkg in ${names}; do
  if rpm -q "$pkg" >/dev/null 2>&1; then
    version=$(rpm -q --qf '%{VERSION}' "$pkg")
    if [ "$version" != "$want" ]; then
      wrong+=("$pkg $version")
    fi
  else
    missing+=("$pkg")
  fi
done
${mismatch}
${takePackageLock()}${p.repoUrl ? `
if [ "$CHANGED" = 1 ]; then
  # ${NODE_PREP_PATHS.yumRepo} changed: drop the cached metadata of the old repository
  dnf clean expire-cache >/dev/null
fi` : ''}
if [ "\${#missing[@]}" -gt 0 ]; then
  pinned=()
  for pkg in "\${missing[@]}"; do
    pinned+=("$pkg-$want")
  done
  dnf install -y${exclude} "\${pinned[@]}"
  echo "hakube: installed \${pinned[*]}"
else
  echo "hakube: ${names} already at $want"
fi
${CRICTL_NOTE}
if ! command -v crictl >/dev/null 2>&1; then
  dnf install -y${exclude} cri-tools
  echo "hakube: installed cri-tools ($(crictl --version))"
fi
# Hold the versions with the versionlock plugin (built into dnf 5).
if ! dnf versionlock --help >/dev/null 2>&1; then
  dnf install -y python3-dnf-plugin-versionlock
fi
locked=$(dnf versionlock list 2>/dev/null || true)
for pkg in ${names}; do
  if ! grep -Eq "(^|:)$pkg-([0-9]+:)?$want_re-" <<<"$locked"; then
    dnf versionlock add${exclude} "$pkg-$want"
  fi
done
flock -u 9
${enable}
`;
}

function indent(text: string): string {
  return text.split('\n').map((line) => (line ? `  ${line}` : line)).join('\n');
}
