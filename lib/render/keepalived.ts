import type { Ipv4Cidr } from '../validate.js';

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
