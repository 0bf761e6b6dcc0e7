import { sh } from '../shell.js';
import type { Ipv4Cidr } from '../validate.js';
import { HAPROXY_PATHS, type HaproxyBackendCheck } from './haproxy.js';
import { renderPackageInstall } from './packages.js';
import { renderServiceApply } from './services.js';

/** Where keepalived's files live on a load-balancer host. */
export const KEEPALIVED_PATHS = {
  config: '/etc/keepalived/keepalived.conf',
  /** The new configuration is placed here and checked with `keepalived -t` before it replaces `config`. */
  candidate: '/etc/keepalived/keepalived.conf.hakube-candidate',
  /** The `authentication { … }` block (a secret file), included from the vrrp_instance. */
  authInclude: '/etc/keepalived/hakube-vrrp-auth.conf',
  /** The track script: haproxy alive and answering (0755, root-owned as `enable_script_security` demands). */
  checkScript: '/etc/keepalived/hakube-check-haproxy.sh',
  /** sha256 of the configuration, auth include and check script keepalived last (re)loaded through hakube. */
  applied: '/etc/keepalived/.hakube-applied',
} as const;

/** The vrrp_script that lowers the priority (or, with weight 0, faults the instance) while haproxy is down. */
export interface KeepalivedTrackScript {
  /** Absolute path of the check script. */
  readonly path: string;
  /** Seconds between runs. */
  readonly interval: number;
  /** Added to the priority while the script fails (negative) or succeeds (positive); 0 → FAULT state on failure. */
  readonly weight: number;
  /** Consecutive failures before the script counts as failed. */
  readonly fall: number;
  /** Consecutive successes before it counts as passing again. */
  readonly rise: number;
}

/** One host's keepalived configuration. */
export interface KeepalivedConfig {
  /** Load balancer name: the vrrp_instance is `hakube_<name>`. */
  readonly name: string;
  /** global_defs router_id (the host name). */
  readonly routerId: string;
  /** Interface that carries the VIP and the VRRP adverts. */
  readonly interface: string;
  /** VRRP router id, 1–255, the same on every host of the group. */
  readonly virtualRouterId: number;
  /** This host's priority, 1–254. */
  readonly priority: number;
  /** Initial state: one MASTER without nopreempt, all BACKUP with it. */
  readonly state: 'MASTER' | 'BACKUP';
  readonly nopreempt: boolean;
  /** Seconds between VRRP adverts. */
  readonly advertInterval: number;
  readonly vip: Ipv4Cidr;
  /** Unicast VRRP from this host's address to its peers; multicast (224.0.0.18) when absent. */
  readonly unicast?: { readonly sourceAddress: string; readonly peers: readonly string[] };
  /** Absolute path of the file holding the `authentication { … }` block. */
  readonly authInclude: string;
  readonly track: KeepalivedTrackScript;
}

/**
 * keepalived.conf for one host (seed 003's vrrp_instance, kubeadm's reference track script). The VRRP password is
 * not in it: the `authentication` block comes from `include <authInclude>`, a secret file, so this file can be
 * shown in plans and snapshots. `script_user root` with `enable_script_security` runs the root-owned check script
 * without the `keepalived_script` user keepalived would look for otherwise.
 */
export function renderKeepalivedConfig(c: KeepalivedConfig): string {
  const i = '    ';
  const lines = [
    `# keepalived configuration of load balancer ${c.name} on ${c.routerId}, written by hakube`,
    'global_defs {',
    `${i}router_id ${c.routerId}`,
    `${i}enable_script_security`,
    `${i}script_user root`,
    '}',
    '',
    'vrrp_script chk_haproxy {',
    `${i}script "${c.track.path}"`,
    `${i}interval ${c.track.interval}`,
    `${i}weight ${c.track.weight}`,
    `${i}fall ${c.track.fall}`,
    `${i}rise ${c.track.rise}`,
    '}',
    '',
    `vrrp_instance hakube_${c.name} {`,
    `${i}state ${c.state}`,
    ...(c.nopreempt ? [`${i}nopreempt`] : []),
    `${i}interface ${c.interface}`,
    `${i}virtual_router_id ${c.virtualRouterId}`,
    `${i}priority ${c.priority}`,
    `${i}advert_int ${c.advertInterval}`,
    `${i}include ${c.authInclude}`,
  ];
  if (c.unicast) {
    lines.push(`${i}unicast_src_ip ${c.unicast.sourceAddress}`, `${i}unicast_peer {`, ...c.unicast.peers.map((p) => `${i}${i}${p}`), `${i}}`);
  }
  lines.push(
    `${i}virtual_ipaddress {`,
    `${i}${i}${c.vip.address}/${c.vip.prefix} dev ${c.interface}`,
    `${i}}`,
    `${i}track_script {`,
    `${i}${i}chk_haproxy`,
    `${i}}`,
    '}',
    '',
  );
  return lines.join('\n');
}

const AUTH_BLOCK = /^(?:#[^\n]*\n)*authentication \{\n {4}auth_type PASS\n {4}auth_pass ([A-Za-z0-9]{1,8})\n\}\n?$/;

/**
 * The secret include file: keepalived's `authentication` block. keepalived only uses the first 8 characters of
 * `auth_pass`, so the password has 8. The random `salt` in the comment keeps the file's sha256 (which plans and
 * Terraform triggers do carry) from being brute-forced back to an 8-character password.
 */
export function renderKeepalivedAuth(name: string, password: string, salt: string): string {
  return [
    `# VRRP authentication of load balancer ${name}, generated once by hakube. Salt: ${salt}`,
    'authentication {',
    '    auth_type PASS',
    `    auth_pass ${password}`,
    '}',
  ].join('\n');
}

/** The password of an auth include file, or undefined when the text is not one `renderKeepalivedAuth` wrote. */
export function parseKeepalivedAuth(text: string): string | undefined {
  return AUTH_BLOCK.exec(text)?.[1];
}

/**
 * The track script keepalived runs every `interval` seconds (after kubeadm's check_apiserver.sh): fails while
 * haproxy is not active, and, for API servers, while `GET /healthz` through the local haproxy fails; for TCP
 * backends, while haproxy does not accept connections on its port.
 */
export function renderHaproxyCheckScript(name: string, port: number, check: HaproxyBackendCheck): string {
  const url = `https://127.0.0.1:${port}/healthz`;
  const probe =
    check === 'https-healthz'
      ? `if ! curl --silent --fail --insecure --max-time 2 --output /dev/null ${sh(url)}; then
  echo "hakube: no API server answers" ${sh(url)} "through haproxy" >&2
  exit 1
fi`
      : `if ! timeout 2 bash -c ${sh(`: </dev/tcp/127.0.0.1/${port}`)} 2>/dev/null; then
  echo "hakube: haproxy does not accept connections on port" ${sh(port)} >&2
  exit 1
fi`;
  return `#!/bin/bash
# keepalived track script of load balancer ${sh(name)}, written by hakube: fails while haproxy is down.
if ! systemctl is-active --quiet haproxy.service; then
  echo "hakube: haproxy is not running" >&2
  exit 1
fi
${probe}
`;
}

/**
 * Install haproxy and keepalived (and curl for the https check). Debian's packages start haproxy with its default
 * configuration (no frontends) and skip keepalived until it has a configuration, so installing is harmless; the
 * configure step takes over both services.
 */
export function renderLbInstallScript(check: HaproxyBackendCheck): string {
  const packages = check === 'https-healthz' ? ['haproxy', 'keepalived', 'curl'] : ['haproxy', 'keepalived'];
  const missing = packages.map((p) => `! command -v ${p} >/dev/null 2>&1`).join(' || ');
  return `${renderPackageInstall({ apt: packages, dnf: packages }, missing)}
# SELinux (RHEL family) keeps haproxy from binding and connecting to arbitrary ports unless this boolean is on.
if command -v selinuxenabled >/dev/null 2>&1 && selinuxenabled && ! getsebool haproxy_connect_any | grep -q 'on$'; then
  setsebool -P haproxy_connect_any 1
fi
echo "hakube: $(haproxy -v | sed -n 1p)"
echo "hakube: $(keepalived --version 2>&1 | sed -n 1p)"
`;
}

/** What the configure script needs to know. */
export interface LbConfigureScript {
  /** Interface carrying the VIP on this host. */
  readonly interface: string;
  /** The VIP address (without prefix). */
  readonly vip: string;
  /** Create /run/haproxy for the stats socket when the distribution does not. */
  readonly statsSocket: boolean;
}

/**
 * After the step placed the candidate configurations, the auth include and the check script: check both
 * candidates (`haproxy -c`, `keepalived -t`) before either live file changes, replace each live file atomically
 * only when it differs, then start each service when it is not running, or reload it — haproxy gracefully, old
 * workers finish their connections — when the configuration it last loaded through hakube (a sha256 kept next to
 * it) is not the live one. Comparing with what was loaded, not with what this run changed, also finishes a run
 * that stopped between replacing a file and reloading.
 */
export function renderLbConfigureScript(c: LbConfigureScript): string {
  const H = HAPROXY_PATHS;
  const K = KEEPALIVED_PATHS;
  const runDir = c.statsSocket
    ? `# The stats socket lives in /run/haproxy: Debian creates it through tmpfiles.d, other distributions may not.
if [ ! -d /run/haproxy ]; then
  install -d -m 2775 -o haproxy -g haproxy /run/haproxy
  if ! grep -qs '/run/haproxy' /usr/lib/tmpfiles.d/*.conf /etc/tmpfiles.d/*.conf; then
    echo 'd /run/haproxy 2775 haproxy haproxy -' >/etc/tmpfiles.d/hakube-haproxy.conf
  fi
fi
`
    : '';
  return `if [ "$CHANGED" = 0 ]; then
  echo "hakube: the staged files are unchanged; checking that the services run what they hold"
fi
# keepalived -t accepts a missing include, so make sure the authentication block is really there.
if [ ! -s ${sh(K.authInclude)} ]; then
  echo "hakube:" ${sh(K.authInclude)} "is missing or empty" >&2
  exit 1
fi
if ! haproxy -c -f ${sh(H.candidate)}; then
  echo "hakube: haproxy rejects" ${sh(H.candidate)} "(the live configuration is unchanged)" >&2
  exit 1
fi
if ! keepalived -t -f ${sh(K.candidate)}; then
  echo "hakube: keepalived rejects" ${sh(K.candidate)} "(the live configuration is unchanged)" >&2
  exit 1
fi
# Replace a live configuration by its checked candidate, atomically and only when they differ; the candidate goes.
hakube_promote() {
  local candidate=$1 live=$2
  if ! { [ -f "$live" ] && cmp -s "$candidate" "$live"; }; then
    install -m 0644 -o root -g root "$candidate" "$live.hakube-new"
    mv -f "$live.hakube-new" "$live"
    echo "hakube: updated $live"
  fi
  rm -f "$candidate"
}
hakube_promote ${sh(H.candidate)} ${sh(H.config)}
hakube_promote ${sh(K.candidate)} ${sh(K.config)}
${runDir}${renderServiceApply({ unit: 'haproxy.service', files: [H.config], stateFile: H.applied, action: 'reload' })}
${renderServiceApply({ unit: 'keepalived.service', files: [K.config, K.authInclude, K.checkScript], stateFile: K.applied, action: 'reload' })}
for attempt in $(seq 1 30); do
  if systemctl is-active --quiet haproxy.service && systemctl is-active --quiet keepalived.service; then
    break
  fi
  if [ "$attempt" -eq 30 ]; then
    echo "hakube: haproxy or keepalived is not running after 30 s" >&2
    journalctl -u haproxy.service -u keepalived.service -n 40 --no-pager >&2 || true
    exit 1
  fi
  sleep 1
done
if ip -o -4 addr show dev ${sh(c.interface)} | grep -qF ${sh(` inet ${c.vip}/`)}; then
  echo "hakube: this host holds the VIP" ${sh(c.vip)}
else
  echo "hakube: the VIP" ${sh(c.vip)} "is on another host (or not assigned yet)"
fi
`;
}

/** Wait until `<vip>:<port>` accepts TCP connections: some host holds the VIP and its haproxy listens. */
export function renderLbReadyScript(vip: string, port: number, timeoutSeconds = 60): string {
  const endpoint = sh(`${vip}:${port}`);
  return `# waits for the VIP to answer; HAKUBE_CHECK_WAIT (seconds) shortens the wait (hakube status)
wait_s=\${HAKUBE_CHECK_WAIT:-${sh(timeoutSeconds)}}
deadline=$((SECONDS + wait_s))
until timeout 3 bash -c ${sh(`: </dev/tcp/${vip}/${port}`)} 2>/dev/null; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "hakube: nothing accepts connections on" ${endpoint} "after $wait_s s" >&2
    exit 1
  fi
  echo "hakube: waiting for" ${endpoint} "($SECONDS s)"
  sleep 1
done
echo "hakube:" ${endpoint} "accepts connections"
`;
}
