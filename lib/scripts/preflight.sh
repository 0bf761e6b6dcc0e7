#!/usr/bin/env bash
# Node preparation's read-only checks before anything changes: every problem is collected and all are reported
# together before the step fails. Also prints what must be unique across nodes (product_uuid, machine-id, MAC
# addresses, compared across hosts elsewhere) and the swap state. Ports are only checked while kubelet is not
# configured: on a node kubeadm already set up, kubelet and the control plane hold them.
#
# Inputs: host (the inventory's name), role, os_family (debian|rhel), min_cpus, min_memory_mb, ports (TCP ports that
# must be free), allow_hostname_mismatch (1: a hostname other than the inventory's name is a warning),
# kubelet_kubeconfig.
problems=()
problem() { problems+=("$1"); }
echo "hakube: preflight of $host as a Kubernetes $role node"

if [ "$(uname -n | tr '[:upper:]' '[:lower:]')" != "$host" ]; then
  if [ "$allow_hostname_mismatch" = 1 ]; then
    echo "hakube: warning: hostname is $(uname -n), the inventory calls this host $host (allowed by allowHostnameMismatch)" >&2
  else
    problem "hostname is $(uname -n), but the inventory calls this host $host: kubelet registers the node under its hostname (set it with: hostnamectl set-hostname $host)"
  fi
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
if [ "$os_family" = debian ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    problem "apt-get not found: this host is not of the debian family (set osFamily)"
  fi
else
  if ! command -v dnf >/dev/null 2>&1; then
    problem "dnf not found: this host is not of the rhel family 8 or later (set osFamily)"
  fi
  if systemctl is-active --quiet firewalld 2>/dev/null; then
    echo "hakube: warning: firewalld is active: open the Kubernetes ports (${ports[*]}) between the nodes" >&2
  fi
fi

# Whether something listens on TCP port $1 (ss, or /proc/net/tcp* where ss is missing).
port_in_use() {
  if command -v ss >/dev/null 2>&1; then
    [ -n "$(ss -ltn "sport = :$1" | tail -n +2)" ]
  else
    awk -v port=":$(printf '%04X' "$1")" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == port { found = 1 } END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
  fi
}
if [ -e "$kubelet_kubeconfig" ]; then
  echo "hakube: ports not checked: kubelet is already configured ($kubelet_kubeconfig exists), Kubernetes holds them"
else
  for port in "${ports[@]}"; do
    if port_in_use "$port"; then
      holder=$(ss -ltnp "sport = :$port" 2>/dev/null | awk 'NR == 2 { print $NF }' || true)
      problem "TCP port $port is already in use${holder:+ by $holder}"
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

if [ "${#problems[@]}" -gt 0 ]; then
  echo "hakube: $host cannot become a Kubernetes $role node, ${#problems[@]} problem(s):" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  exit 1
fi
echo "hakube: preflight passed ($cpus CPUs, $memory_mb MiB)"
