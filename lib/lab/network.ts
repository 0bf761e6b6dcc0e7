import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { LAB_BRIDGE, LAB_GATEWAY, LAB_PREFIX_LENGTH, type LabHostSpec } from './config.js';
import { LabError, run, tryRun } from './exec.js';

/**
 * The lab network: bridge `hakube0` with 10.77.0.1/24 on the machine, one network namespace per host with a veth
 * pair (`eth0` inside, `hakube-lab-N` on the bridge), and an on-link default route (`default dev eth0`, no
 * gateway): Kubernetes components look for the interface of the default route (kubeadm, flannel) and host-network
 * clients of Service addresses need a route before kube-proxy's NAT rewrites the destination; with no gateway, an
 * address outside the lab only gets an unanswered ARP request on the bridge, so nothing leaves the lab. Every
 * function is idempotent.
 */

const ip = (...args: string[]) => run('ip', args);
const tryIp = (...args: string[]) => tryRun('ip', args);

/** True when a network interface of this name exists on the machine. */
export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** Names of network namespaces that look like the lab's (`hakube-lab-N`). */
export function labNetnsNames(): string[] {
  const out = tryIp('netns', 'list').stdout;
  return out
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => /^hakube-lab-\d+$/.test(name));
}

/** Throw when some interface other than the lab bridge already has an address in 10.77.0.0/24. */
export function assertSubnetFree(): void {
  const out = tryIp('-o', '-4', 'addr', 'show').stdout;
  for (const line of out.split('\n')) {
    const m = /^\d+:\s+(\S+)\s+inet\s+10\.77\.0\.(\d+)\//.exec(line);
    if (m && m[1] !== LAB_BRIDGE) {
      throw new LabError(`interface ${m[1]} already uses 10.77.0.${m[2]}: the lab network 10.77.0.0/24 is taken on this machine`);
    }
  }
}

/** Create the bridge with the machine-side address and bring it up. */
export function ensureBridge(): void {
  assertSubnetFree();
  if (!linkExists(LAB_BRIDGE)) ip('link', 'add', LAB_BRIDGE, 'type', 'bridge');
  const cidr = `${LAB_GATEWAY}/${LAB_PREFIX_LENGTH}`;
  if (!tryIp('-o', '-4', 'addr', 'show', 'dev', LAB_BRIDGE).stdout.includes(` ${cidr} `)) {
    ip('addr', 'add', cidr, 'dev', LAB_BRIDGE);
  }
  ip('link', 'set', LAB_BRIDGE, 'up');
}

/** Create the host's namespace and veth pair, plug it into the bridge, and configure `eth0` and `lo` inside. */
export function ensureHostNetwork(spec: LabHostSpec): void {
  if (!existsSync(`/run/netns/${spec.netns}`)) ip('netns', 'add', spec.netns);
  const inside = tryIp('-n', spec.netns, 'link', 'show', 'eth0').ok;
  if (!inside) {
    if (linkExists(spec.veth)) ip('link', 'del', spec.veth);
    const peer = `hkp-${spec.name}`;
    if (linkExists(peer)) ip('link', 'del', peer);
    ip('link', 'add', spec.veth, 'type', 'veth', 'peer', 'name', peer);
    ip('link', 'set', peer, 'netns', spec.netns);
    ip('-n', spec.netns, 'link', 'set', peer, 'name', 'eth0');
  }
  ip('link', 'set', spec.veth, 'master', LAB_BRIDGE, 'up');
  ip('-n', spec.netns, 'link', 'set', 'lo', 'up');
  hostLinkUp(spec);
}

/** Give the host its address back and bring `eth0` up (after a power-off). */
export function hostLinkUp(spec: LabHostSpec): void {
  const cidr = `${spec.address}/${LAB_PREFIX_LENGTH}`;
  if (!tryIp('-n', spec.netns, '-o', '-4', 'addr', 'show', 'dev', 'eth0').stdout.includes(` ${cidr} `)) {
    ip('-n', spec.netns, 'addr', 'add', cidr, 'dev', 'eth0');
  }
  ip('-n', spec.netns, 'link', 'set', 'eth0', 'up');
  ip('-n', spec.netns, 'route', 'replace', 'default', 'dev', 'eth0');
}

/** Take `eth0` down and flush its addresses, so a powered-off host (or a VIP it held) stops answering. */
export function hostLinkDown(spec: LabHostSpec): void {
  if (!existsSync(`/run/netns/${spec.netns}`)) return;
  tryIp('-n', spec.netns, 'link', 'set', 'eth0', 'down');
  tryIp('-n', spec.netns, 'addr', 'flush', 'dev', 'eth0');
}

/** Delete a lab namespace and the host-side veth (named like the namespace). */
export function removeHostNetwork(netns: string): void {
  if (linkExists(netns)) tryIp('link', 'del', netns);
  if (existsSync(`/run/netns/${netns}`)) tryIp('netns', 'del', netns);
}

/** Delete the bridge. */
export function removeBridge(): void {
  if (linkExists(LAB_BRIDGE)) tryIp('link', 'del', LAB_BRIDGE);
}

/** Whether a TCP connection to `host:port` opens within a second: something listens there. */
export function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port });
    socket.setTimeout(1000, () => (socket.destroy(), resolvePromise(false)));
    socket.once('connect', () => (socket.destroy(), resolvePromise(true)));
    socket.once('error', () => resolvePromise(false));
  });
}
