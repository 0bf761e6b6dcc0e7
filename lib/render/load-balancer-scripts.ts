/**
 * The host scripts of a load balancer's steps (haproxy + keepalived on each host): install both packages, check and
 * apply both configurations, wait for the VIP to answer. The configurations themselves are rendered in haproxy.ts
 * and keepalived.ts.
 */
import { hostScript } from '../shell.js';
import { HAPROXY_PATHS, type HaproxyBackendCheck } from './haproxy.js';
import { KEEPALIVED_PATHS } from './keepalived.js';

/** Install haproxy and keepalived (and curl for the https check) (lib/scripts/lb-install.sh). */
export function renderLbInstallScript(check: HaproxyBackendCheck): string {
  const packages = check === 'https-healthz' ? ['haproxy', 'keepalived', 'curl'] : ['haproxy', 'keepalived'];
  return hostScript({ packages }, 'packages.sh', 'lb-install.sh');
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
 * Check both candidate configurations before either live file changes, replace the live files that differ, start or
 * reload each service whose configuration is not the one it last loaded (lib/scripts/lb-configure.sh).
 */
export function renderLbConfigureScript(c: LbConfigureScript): string {
  const H = HAPROXY_PATHS;
  const K = KEEPALIVED_PATHS;
  return hostScript(
    {
      haproxy_candidate: H.candidate,
      haproxy_config: H.config,
      haproxy_applied: H.applied,
      keepalived_candidate: K.candidate,
      keepalived_config: K.config,
      keepalived_applied: K.applied,
      auth_include: K.authInclude,
      check_script: K.checkScript,
      stats_socket: c.statsSocket,
      interface: c.interface,
      vip: c.vip,
    },
    'services.sh',
    'lb-configure.sh',
  );
}

/** Wait until `<vip>:<port>` accepts TCP connections (lib/scripts/lb-ready.sh). */
export function renderLbReadyScript(vip: string, port: number, timeoutSeconds = 60): string {
  return hostScript({ vip, port, wait_seconds: timeoutSeconds }, 'lb-ready.sh');
}

/**
 * The track script keepalived runs (an executable file the configure step places): fails while haproxy is down or,
 * per `check`, does not pass the API server's /healthz or accept connections (lib/scripts/haproxy-check.sh).
 */
export function renderHaproxyCheckScript(name: string, port: number, check: HaproxyBackendCheck): string {
  return `#!/bin/bash\n${hostScript({ load_balancer: name, port, check }, 'haproxy-check.sh')}`;
}
