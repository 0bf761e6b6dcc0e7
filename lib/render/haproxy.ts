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
 * - `tcp`: a TCP connect (`option tcp-check`), with seed 003's `default-server` limits (`slowstart 60s maxconn 250
 *   maxqueue 256`) — for any TCP service.
 */
export type HaproxyBackendCheck = 'https-healthz' | 'tcp';

/**
 * How fast haproxy notices a dead backend and sends new connections elsewhere.
 * - `fast`: check every second (every 500 ms while a server is going down or coming up), a backend is down after
 *   2 failed checks or 2 consecutive failed client connections (`observe layer4`), connects time out after 1 s and
 *   each retry goes to another server. A powered-off backend is out after 2.5–3.5 s by its checks, sooner when it
 *   gets traffic; a connection sent to it before that reaches another server 1 s later.
 * - `seed-003`: seed 003's values as hakube rendered them before `fast`: for `tcp` its `default-server` line
 *   (`inter 10s downinter 5s rise 2 fall 2`), for `https-healthz` haproxy's defaults (`inter 2s rise 2 fall 3`);
 *   `timeout connect 5s`, one retry, redispatched. A dead backend keeps its share of new connections, each
 *   waiting 5 s before it is sent elsewhere, until its checks failed: 20–30 s (`tcp`; a check times out after
 *   5 s and the next starts 10 s later), 10–12 s (`https-healthz`).
 */
export type HaproxyCheckTiming = 'fast' | 'seed-003';

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
  /** @default "fast" */
  readonly timing?: HaproxyCheckTiming;
  readonly servers: readonly HaproxyServer[];
  /** Add an admin stats socket at `/run/haproxy/admin.sock`. */
  readonly statsSocket: boolean;
}

/** seed 003's `default-server` line for TCP-checked backends. */
export const SEED_003_DEFAULT_SERVER = 'default-server inter 10s downinter 5s rise 2 fall 2 slowstart 60s maxconn 250 maxqueue 256 weight 100';

/** seed 003's settings for TCP-checked backends that are not about check timing: kept with every timing. */
const SEED_003_SERVER_LIMITS = 'slowstart 60s maxconn 250 maxqueue 256 weight 100';

/** The check timing lines of a `fast` backend (see `HaproxyCheckTiming`). */
export const FAST_CHECK_TIMING = {
  /**
   * Checks every 1 s, every 500 ms while a server changes state, every 2 s while it is down; 2 to go down or up.
   * With `timeout check` set, a check's connect times out after min(timeout connect, inter) = 1 s. `observe
   * layer4`: 2 consecutive failed client connections to a server mark it down at once, without waiting for checks.
   */
  defaultServer: 'default-server inter 1s fastinter 500ms downinter 2s rise 2 fall 2 observe layer4 error-limit 2 on-error mark-down',
  /** A connect that has not succeeded within 1 s is retried — on another server (`redispatch 1`), up to 3 times. */
  defaults: ['option redispatch 1', 'retries 3', 'timeout connect 1s'],
} as const;

/** seed 003's (and kubeadm's reference) lines in the defaults section. */
const SEED_003_DEFAULTS = ['option redispatch', 'retries 1', 'timeout connect 5s'] as const;

/** The `default-server` line of a backend, if it has one. */
export function haproxyDefaultServer(check: HaproxyBackendCheck, timing: HaproxyCheckTiming = 'fast'): string | undefined {
  if (timing === 'seed-003') return check === 'tcp' ? SEED_003_DEFAULT_SERVER : undefined;
  return check === 'tcp' ? `${FAST_CHECK_TIMING.defaultServer} ${SEED_003_SERVER_LIMITS}` : FAST_CHECK_TIMING.defaultServer;
}

/**
 * A complete haproxy.cfg: Debian's global section (syslog through /dev/log, chroot, unprivileged user), TCP
 * defaults with a long tunnel timeout (watches, `kubectl exec` and `logs -f` stay open), then one TCP frontend
 * (`bind *:<port>`, seed 003 / kubeadm's reference) and one round-robin backend with health checks, timed by
 * `timing` (retries, connect timeout and the `default-server` line).
 */
export function renderHaproxyConfig(c: HaproxyConfig): string {
  const i = '    ';
  const timing = c.timing ?? 'fast';
  const [redispatch, retries, connect] = timing === 'fast' ? FAST_CHECK_TIMING.defaults : SEED_003_DEFAULTS;
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
    `${i}${redispatch}`,
    `${i}${retries}`,
    `${i}${connect}`,
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
  const defaultServer = haproxyDefaultServer(c.check, timing);
  const backend = [
    `backend ${c.name}`,
    `${i}mode tcp`,
    ...checks,
    `${i}balance roundrobin`,
    ...(defaultServer ? [`${i}${defaultServer}`] : []),
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
