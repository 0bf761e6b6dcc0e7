/**
 * The host scripts of a load balancer's steps (haproxy + keepalived on each host): install both packages, check and
 * apply both configurations, wait for the VIP to answer. The configurations themselves are rendered in haproxy.ts
 * and keepalived.ts.
 */
import { sh } from '../shell.js';
import { HAPROXY_PATHS, type HaproxyBackendCheck } from './haproxy.js';
import { KEEPALIVED_PATHS } from './keepalived.js';
import { renderPackageInstall } from './packages.js';
import { renderServiceApply } from './services.js';

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
