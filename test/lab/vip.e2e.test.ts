/**
 * End to end on the built-in lab: haproxy + keepalived on three hosts holding a VIP in front of a 3-member etcd
 * cluster. Proves the VIP answers, balances across every backend, and moves on a hard power-off of its holder and
 * when haproxy stops there; the holder takes it back when it returns (preempt, the default).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdCluster } from '../../constructs/etcd-cluster.js';
import { LoadBalancerVip } from '../../constructs/load-balancer-vip.js';
import type { Inventory } from '../../lib/inventory.js';
import { labDown, labPower } from '../../lib/lab/index.js';
import { tempDir } from '../fixtures.js';
import { acquireLab, figure, onHost, projectDir, synthStack, tcpOpen, terraform, until } from './helpers.js';

const VIP = '10.77.0.100';
const PORT = 8443;
const secretsDir = tempDir('hakube-lab-secrets-');
const outdir = tempDir('hakube-lab-out-');
let inventory: Inventory;
const TLS = '--cacert=/etc/etcd/pki/ca.crt --cert=/etc/etcd/pki/healthcheck-client.crt --key=/etc/etcd/pki/healthcheck-client.key';

async function holders(): Promise<string[]> {
  const held: string[] = [];
  for (const host of inventory.hosts) {
    const r = await onHost(inventory, host.name, `ip -4 -o addr show dev eth0 | grep -c ' ${VIP}/' || true`, 10_000).catch(() => ({ ok: false, out: '0' }));
    if (r.out.trim() === '1') held.push(host.name);
  }
  return held;
}

/** Poll the VIP from this machine every 100 ms; seconds until it accepts a connection again. */
async function secondsUntilVipAnswers(started: number, timeoutMs = 30_000): Promise<number> {
  await until(`${VIP}:${PORT} to answer`, timeoutMs, async () => ((await tcpOpen(VIP, PORT, 200)) ? true : undefined));
  return (Date.now() - started) / 1000;
}

function deploy(nopreempt: boolean) {
  return synthStack(outdir, (stack) => {
    const etcd = new EtcdCluster(stack, 'etcd', { clusterName: 'vip', members: [...inventory.hosts], secretsDir, extraCertificateSans: [VIP] });
    new LoadBalancerVip(stack, 'lb', {
      hosts: [...inventory.hosts],
      vip: `${VIP}/24`,
      port: PORT,
      backends: etcd.members.map((m) => ({ name: m.name, address: m.internalAddress, port: 2379 })),
      backendCheck: 'tcp',
      trackInterval: 1,
      trackFall: 2,
      nopreempt,
      secretsDir,
    });
  });
}

beforeAll(async () => {
  inventory = (await acquireLab(3)).inventory;
  const { stackDir } = await deploy(false);
  expect(terraform(stackDir, 'init', '-input=false').status).toBe(0);
  const apply = terraform(stackDir, 'apply', '-auto-approve', '-input=false');
  figure('deploy etcd + haproxy/keepalived on 3 hosts', apply.seconds);
  expect(apply.status).toBe(0);
}, 900_000);

afterAll(async () => {
  expect((await labDown({ projectDir })).leftovers).toEqual([]);
}, 300_000);

describe('LoadBalancerVip on the lab', () => {
  it('exactly one host holds the VIP — soon the highest-priority one — and it answers', async () => {
    // whichever keepalived started first holds the VIP at first; lab-1 (priority 101) preempts it within seconds
    await until('lab-1 to hold the VIP', 30_000, async () => {
      const held = await holders();
      expect(held.length).toBeLessThanOrEqual(1);
      return held.join() === 'lab-1' ? true : undefined;
    });
    expect(await tcpOpen(VIP, PORT)).toBe(true);
  }, 60_000);

  it('balances connections through VIP:port across every backend', async () => {
    // haproxy's checks (seed 003: inter 10s, rise 2) may still count a backend down that started after haproxy,
    // so keep asking until every member has answered through the VIP
    const ids = new Set<string>();
    await until('all 3 members answering through the VIP', 90_000, async () => {
      const r = await onHost(inventory, 'lab-2', `ETCDCTL_API=3 etcdctl --endpoints=https://${VIP}:${PORT} ${TLS} --command-timeout=3s endpoint status -w json`);
      const line = r.out.split('\n').find((l) => l.startsWith('['));
      if (r.ok && line) ids.add(String((JSON.parse(line) as Array<{ Status: { header: { member_id: number } } }>)[0].Status.header.member_id));
      return ids.size === 3 ? true : undefined;
    });
    expect(ids.size).toBe(3);
  }, 120_000);

  it('moves the VIP within 5 s of a hard power-off of its holder, and takes it back when the holder returns', async () => {
    const started = Date.now();
    await labPower('lab-1', 'kill', { projectDir });
    const seconds = await secondsUntilVipAnswers(started, 15_000);
    figure('VIP answers again after a hard power-off of the holder', seconds);
    expect(seconds).toBeLessThan(5);
    expect(await holders()).toEqual(['lab-2']);

    const back = Date.now();
    await labPower('lab-1', 'on', { projectDir });
    await until('lab-1 to take the VIP back (preempt)', 60_000, async () => ((await holders()).join() === 'lab-1' ? true : undefined));
    figure('holder takes the VIP back after power-on', (Date.now() - back) / 1000);
    expect(await tcpOpen(VIP, PORT)).toBe(true);
  }, 120_000);

  it('moves the VIP when haproxy stops on the holder', async () => {
    const started = Date.now();
    expect((await onHost(inventory, 'lab-1', 'systemctl stop haproxy')).ok).toBe(true);
    await until('the VIP to leave lab-1', 30_000, async () => ((await holders()).join() === 'lab-2' ? true : undefined));
    figure('VIP moved after haproxy stopped on the holder', (Date.now() - started) / 1000);
    expect(await tcpOpen(VIP, PORT)).toBe(true);
    expect((await onHost(inventory, 'lab-1', 'systemctl start haproxy')).ok).toBe(true);
    await until('lab-1 to take the VIP back', 60_000, async () => ((await holders()).join() === 'lab-1' ? true : undefined));
  }, 120_000);

  it('with nopreempt, a returning host leaves the VIP where it is', async () => {
    const { stackDir } = await deploy(true);
    const apply = terraform(stackDir, 'apply', '-auto-approve', '-input=false');
    expect(apply.status).toBe(0);
    const holder = await until('one holder', 30_000, async () => {
      const held = await holders();
      return held.length === 1 ? held[0] : undefined;
    });
    const started = Date.now();
    await labPower(holder, 'kill', { projectDir });
    figure('VIP answers again after a hard power-off (nopreempt)', await secondsUntilVipAnswers(started, 15_000));
    const next = (await holders())[0];
    expect(next).toBeDefined();
    expect(next).not.toBe(holder);
    await labPower(holder, 'on', { projectDir });
    await new Promise((r) => setTimeout(r, 10_000));
    expect(await holders()).toEqual([next]);
  }, 180_000);
});
