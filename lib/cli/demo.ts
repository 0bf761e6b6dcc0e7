import { spawnSync } from 'node:child_process';
import type { Construct } from 'constructs';
import { EtcdCluster } from '../../constructs/etcd-cluster.js';
import { LoadBalancerVip } from '../../constructs/load-balancer-vip.js';
import { buildOpentofu } from '../build/opentofu.js';
import { type Engine, engineEnv, findEngine } from '../engine.js';
import type { Host } from '../inventory.js';
import { labPaths, labSsh, labUp } from '../lab/index.js';
import { etcdctlTlsArgs } from '../render/etcd.js';

/** The VIP the demo puts in front of etcd: in the lab's subnet, above the host addresses. */
export const DEMO_VIP = '10.77.0.100';

/**
 * The demo (main.ts): a 3-member TLS etcd cluster, and haproxy + keepalived on the same hosts holding a VIP in front
 * of it (seed 003's pattern with etcd as the backend service). Secrets go to `<secretsRoot>/demo` and `…/vip`.
 */
export function demoTopology(scope: Construct, hosts: Host[], secretsRoot = '.hakube'): void {
  const etcd = new EtcdCluster(scope, 'etcd', { clusterName: 'demo', members: hosts, extraCertificateSans: [DEMO_VIP], secretsDir: `${secretsRoot}/demo` });
  new LoadBalancerVip(scope, 'vip', {
    hosts,
    vip: `${DEMO_VIP}/24`,
    port: 8443,
    backends: etcd.members.map((m) => ({ name: m.name, address: m.internalAddress, port: etcd.clientPort })),
    backendCheck: 'tcp',
    // fail over within about two seconds when haproxy stops (kubeadm's reference waits 10 × 3 s)
    trackInterval: 1,
    trackFall: 2,
    secretsDir: `${secretsRoot}/vip`,
  });
}

const TLS = etcdctlTlsArgs();

/**
 * `hakube demo`: bring up the local lab, deploy the root cdktf app (a 3-member TLS etcd cluster behind a
 * haproxy + keepalived VIP) with `cdktf deploy`, then show the cluster's health, members, and who holds the VIP. Run from the project root.
 */
export async function runDemo(projectDir: string = process.cwd()): Promise<number> {
  const engine = await demoEngine();
  const up = await labUp({ hosts: 3, projectDir });
  const members = up.inventory.hosts.slice(0, 3);
  console.error(`\nhakube demo: deploying etcd to ${members.map((h) => `${h.name} (${h.address})`).join(', ')} with cdktf deploy (${engine.version}, ${engine.binary})\n`);
  const started = Date.now();
  const deploy = spawnSync('npx', ['cdktf', 'deploy', '--auto-approve', 'demo'], { cwd: projectDir, stdio: 'inherit', env: engineEnv(engine) });
  if (deploy.status !== 0) {
    console.error(`hakube demo: cdktf deploy failed (exit ${deploy.status})`);
    return 1;
  }
  console.error(`\nhakube demo: deployed in ${((Date.now() - started) / 1000).toFixed(1)} s; cluster health over TLS:\n`);
  const endpoints = members.map((h) => `https://${h.address}:2379`).join(',');
  const etcdctl = `ETCDCTL_API=3 etcdctl --endpoints=${endpoints} ${TLS}`;
  const viaVip = `ETCDCTL_API=3 etcdctl --endpoints=https://${DEMO_VIP}:8443 ${TLS} --command-timeout=3s endpoint status -w table`;
  const paths = labPaths(projectDir);
  const health = await labSsh(paths, members[0].address, `${etcdctl} endpoint health -w table && ${etcdctl} member list -w table`);
  process.stdout.write(health.stdout);
  process.stderr.write(health.stderr);
  // haproxy counts a backend that came up after it as down until two checks passed (every second by default)
  console.error(`\nhakube demo: through the VIP ${DEMO_VIP}:8443 (haproxy, round robin):`);
  let vip = await labSsh(paths, members[0].address, viaVip);
  for (let waited = 0; !vip.ok && waited < 60; waited += 3) {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    vip = await labSsh(paths, members[0].address, viaVip);
  }
  process.stdout.write(vip.ok ? vip.stdout : vip.stderr);
  for (const host of members) {
    const r = await labSsh(paths, host.address, `ip -4 -o addr show | grep -q ' ${DEMO_VIP}/' && echo held || true`);
    if (r.stdout.includes('held')) process.stdout.write(`VIP ${DEMO_VIP} is held by ${host.name} (keepalived)\n`);
  }
  return health.ok && vip.ok ? 0 : 1;
}

/** Terraform or OpenTofu as found; on a machine with neither, OpenTofu built from its Go module (cached). */
export async function demoEngine(): Promise<Engine> {
  const found = findEngine();
  if (found) return found;
  console.error('hakube demo: neither terraform nor tofu is on the PATH: building OpenTofu from its Go module');
  await buildOpentofu();
  return findEngine()!;
}
