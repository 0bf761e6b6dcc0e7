import { joinHostPort } from '../validate.js';

/** Where haproxy's files live on a load-balancer host. */
export const HAPROXY_PATHS = {
  config: '/etc/haproxy/haproxy.cfg',
  /** The new configuration is placed here and checked with `haproxy -c` before it replaces `config`. */
  candidate: '/etc/haproxy/haproxy.cfg.hakube-candidate',
  /** sha256 of the configuration haproxy last (re)loaded through hakube. */
  applied: '/etc/haproxy/.hakube-applied',
  statsSocket: '/run/haproxy/admin.sock',
} as const;

/**
 * How haproxy checks its backend servers.
 * - `https-healthz`: `GET /healthz` over TLS (certificate not verified) must answer 200 — for kube-apiservers.
 * - `tcp`: a TCP connect (`option tcp-check`), with seed 003's `default-server` timings — for any TCP service.
 */
export type HaproxyBackendCheck = 'https-healthz' | 'tcp';

/** One backend server. */
export interface HaproxyServer {
  /** Server name in haproxy (host-name-like). */
  readonly name: string;
  /** IPv4 or IPv6 address. */
  readonly address: string;
  readonly port: number;
}

export interface HaproxyConfig {
  /** Name of the frontend and the backend (a host name label). */
  readonly name: string;
  /** Frontend port, bound on every address (`*:<port>`). */
  readonly port: number;
  readonly check: HaproxyBackendCheck;
  readonly servers: readonly HaproxyServer[];
  /** Add an admin stats socket at `/run/haproxy/admin.sock`. */
  readonly statsSocket: boolean;
}

/** seed 003's `default-server` line for TCP-checked backends. */
export const SEED_003_DEFAULT_SERVER = 'default-server inter 10s downinter 5s rise 2 fall 2 slowstart 60s maxconn 250 maxqueue 256 weight 100';

/** `address:port`, with IPv6 addresses in brackets. */

/**
 * A complete haproxy.cfg: Debian's global section (syslog through /dev/log, chroot, unprivileged user), TCP
 * defaults with a long tunnel timeout (watches, `kubectl exec` and `logs -f` stay open), then one TCP frontend
 * (`bind *:<port>`, seed 003 / kubeadm's reference) and one round-robin backend with health checks.
 */
export function renderHaproxyConfig(c: HaproxyConfig): string {
  const i = '    ';
  const global = [
    'global',
    `${i}log /dev/log local0`,
    `${i}log /dev/log local1 notice`,
    `${i}chroot /var/lib/haproxy`,
    ...(c.statsSocket ? [`${i}stats socket ${HAPROXY_PATHS.statsSocket} mode 660 level admin`, `${i}stats timeout 30s`] : []),
    `${i}user haproxy`,
    `${i}group haproxy`,
    `${i}daemon`,
  ];
  const defaults = [
    'defaults',
    `${i}log global`,
    `${i}mode tcp`,
    `${i}option tcplog`,
    `${i}option dontlognull`,
    `${i}option redispatch`,
    `${i}retries 1`,
    `${i}timeout connect 5s`,
    `${i}timeout client 35s`,
    `${i}timeout server 35s`,
    `${i}timeout tunnel 1h`,
    `${i}timeout queue 20s`,
    `${i}timeout check 10s`,
  ];
  const frontend = [
    `frontend ${c.name}`,
    `${i}bind *:${c.port}`,
    `${i}mode tcp`,
    `${i}option tcplog`,
    `${i}default_backend ${c.name}`,
  ];
  const checks =
    c.check === 'https-healthz'
      ? [`${i}option httpchk GET /healthz`, `${i}http-check expect status 200`]
      : [`${i}option tcp-check`];
  const serverOptions = c.check === 'https-healthz' ? 'check check-ssl verify none' : 'check';
  const backend = [
    `backend ${c.name}`,
    `${i}mode tcp`,
    ...checks,
    `${i}balance roundrobin`,
    ...(c.check === 'tcp' ? [`${i}${SEED_003_DEFAULT_SERVER}`] : []),
    ...c.servers.map((s) => `${i}server ${s.name} ${joinHostPort(s.address, s.port)} ${serverOptions}`),
  ];
  return [
    `# haproxy configuration of load balancer ${c.name}, written by hakube`,
    ...global,
    '',
    ...defaults,
    '',
    ...frontend,
    '',
    ...backend,
    '',
  ].join('\n');
}
