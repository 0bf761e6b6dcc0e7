/**
 * End to end on the built-in lab: haproxy + keepalived on three hosts holding a VIP in front of a 3-member etcd
 * cluster. Proves the VIP answers, balances across every backend, keeps serving new connections when a backend is
 * powered off (haproxy's default check timing takes it out within seconds), and moves on a hard power-off of its
 * holder and when haproxy stops there; the holder takes it back when it returns (preempt, the default).
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
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

/** The etcd member ids that answered `endpoint status` through the VIP, asking until all `count` did. */
async function untilEveryMemberAnswersThroughVip(count: number, timeoutMs: number): Promise<Set<string>> {
  const ids = new Set<string>();
  await until(`all ${count} members answering through the VIP`, timeoutMs, async () => {
    const r = await onHost(inventory, 'lab-2', `ETCDCTL_API=3 etcdctl --endpoints=https://${VIP}:${PORT} ${TLS} --command-timeout=3s endpoint status -w json`);
    const line = r.out.split('\n').find((l) => l.startsWith('['));
    if (r.ok && line) ids.add(String((JSON.parse(line) as Array<{ Status: { header: { member_id: number } } }>)[0].Status.header.member_id));
    return ids.size === count ? true : undefined;
  });
  return ids;
}

/** etcdctl's default `--dial-timeout`: a client that has no TLS session with a backend by then gives up. */
const CLIENT_DEADLINE_MS = 2000;

interface Probe {
  /** ms after the power-off the connection was opened. */
  readonly at: number;
  /** ms until the answer, or until it failed. */
  readonly ms: number;
  readonly ok: boolean;
  readonly what: string;
}

/**
 * One new connection from this machine through the VIP: TLS with etcd's health-check client certificate (the
 * server certificate must be a member's, for the VIP's address), `GET /health`. Fine when any HTTP answer arrives
 * within CLIENT_DEADLINE_MS (a 503 during a leader election is still a live member answering).
 */
function probeOnce(tls: { ca: string; cert: string; key: string }, startedAt: number): Promise<Probe> {
  const at = Date.now() - startedAt;
  const opened = Date.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean, what: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ at, ms: Date.now() - opened, ok, what });
    };
    const req = request({ host: VIP, port: PORT, path: '/health', method: 'GET', agent: false, ...tls }, (res) => {
      res.resume();
      done(true, String(res.statusCode));
    });
    const timer = setTimeout(() => done(false, `no answer within ${CLIENT_DEADLINE_MS} ms`), CLIENT_DEADLINE_MS);
    req.once('error', (e) => done(false, e.message));
    req.end();
  });
}

/** `count` new connections through the VIP, one every `everyMs` (each bounded by CLIENT_DEADLINE_MS); all results. */
async function probeVip(count: number, everyMs: number, startedAt: number): Promise<Probe[]> {
  const tls = {
    ca: readFileSync(join(secretsDir, 'etcd', 'ca.crt'), 'utf8'),
    cert: readFileSync(join(secretsDir, 'etcd', 'healthcheck-client.crt'), 'utf8'),
    key: readFileSync(join(secretsDir, 'etcd', 'healthcheck-client.key'), 'utf8'),
  };
  const pending: Promise<Probe>[] = [];
  for (let i = 0; i < count; i++) {
    pending.push(probeOnce(tls, startedAt));
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return Promise.all(pending);
}

/** When haproxy on `lbHost` logged (to the journal) `server` DOWN after `sinceMs` (epoch ms), and why; waits up to `timeoutMs`. */
async function haproxyMarkedDown(lbHost: string, server: string, sinceMs: number, timeoutMs: number): Promise<{ atMs: number; reason: string }> {
  const since = Math.floor(sinceMs / 1000) - 1;
  const query = `journalctl -u haproxy.service -o short-unix --no-pager --since @${since} | grep -F 'Server lb/${server} is DOWN' || true`;
  return until(`haproxy on ${lbHost} to mark ${server} DOWN`, timeoutMs, async () => {
    const line = (await onHost(inventory, lbHost, query)).out.split('\n').find((l) => l.includes(`lb/${server} is DOWN`));
    if (!line) return undefined;
    const reason = line.replace(/^.* is DOWN, reason: /, '').replace(/(, check duration|\. \d+ active and).*$/, '');
    return { atMs: Number(line.split(' ')[0]) * 1000, reason };
  });
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

  it('leaves no candidate configuration behind once the live one is in place', async () => {
    for (const host of ['lab-1', 'lab-2', 'lab-3']) {
      const left = await onHost(inventory, host, 'ls /etc/haproxy /etc/keepalived | grep -c hakube-candidate || true');
      expect(left.out.trim(), host).toBe('0');
    }
  });

  it('balances connections through VIP:port across every backend', async () => {
    // haproxy may still count a backend down that started after it (until `rise` checks passed), so keep asking
    // until every member has answered through the VIP
    expect((await untilEveryMemberAnswersThroughVip(3, 90_000)).size).toBe(3);
  }, 120_000);

  it('keeps serving new connections when a backend is powered off: fewer than 1% fail, the backend is out within 5 s', async () => {
    expect(await holders()).toEqual(['lab-1']);
    // lab-3 is a backend and a BACKUP; the VIP and the haproxy that gets the connections stay on lab-1. The lab's
    // kill silences the host's network first, as a power cut does (a refusing kernel would be noticed at once).
    const killed = Date.now();
    await labPower('lab-3', 'kill', { projectDir });
    // 300 new connections over 15 s, each bounded by the client's 2 s deadline: stops by itself
    const probes = await probeVip(300, 50, killed);
    const failed = probes.filter((p) => !p.ok);
    const slow = probes.filter((p) => p.ms > 500);
    const markedDown = await haproxyMarkedDown('lab-1', 'lab-3', killed, 30_000);
    // lab-2's haproxy sees almost no traffic (its keepalived track script's connection every second): mostly checks
    const markedDownIdle = await haproxyMarkedDown('lab-2', 'lab-3', killed, 30_000);
    const statuses = [...new Set(probes.filter((p) => p.ok).map((p) => p.what))].join(', ');
    figure(`new connections through the VIP after a backend's power-off: ${failed.length} of ${probes.length} failed (${((100 * failed.length) / probes.length).toFixed(2)}%), ${slow.length} took over 0.5 s, HTTP ${statuses}; the slowest took`, Math.max(...probes.map((p) => p.ms)) / 1000);
    if (slow.length) figure(`the last connection haproxy sent to the dead backend (over 0.5 s) was opened after`, slow.at(-1)!.at / 1000);
    figure(`haproxy on lab-1 (the VIP's) marked the powered-off backend DOWN (${markedDown.reason}) after`, (markedDown.atMs - killed) / 1000);
    figure(`haproxy on lab-2 (almost idle) marked it DOWN (${markedDownIdle.reason}) after`, (markedDownIdle.atMs - killed) / 1000);
    for (const p of failed) process.stderr.write(`  failed: opened ${(p.at / 1000).toFixed(2)} s after the power-off, ${p.ms} ms: ${p.what}\n`);
    expect(failed.length / probes.length).toBeLessThan(0.01);
    expect((markedDown.atMs - killed) / 1000).toBeLessThan(5);
    expect((markedDownIdle.atMs - killed) / 1000).toBeLessThan(5);

    await labPower('lab-3', 'on', { projectDir });
    expect((await untilEveryMemberAnswersThroughVip(3, 120_000)).size).toBe(3);
  }, 240_000);

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
