/**
 * End to end on the built-in lab: a 3-member TLS etcd cluster deployed by Terraform from the synthesized plan,
 * then quorum behaviour under hard power-offs, idempotent re-deploys and a rolling settings change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdCluster } from '../../constructs/etcd-cluster.js';
import { identityProblems, probeIdentities } from '../../lib/cli/identities.js';
import { runChecks, stackChecks, taintedSteps } from '../../lib/cli/status.js';
import { Host, type Inventory } from '../../lib/inventory.js';
import { labDown, labPower } from '../../lib/lab/index.js';
import { tempDir } from '../fixtures.js';
import { acquireLab, figure, onHost, projectDir, synthStack, terraform, until } from './helpers.js';

const secretsDir = tempDir('hakube-lab-secrets-');
const outdir = tempDir('hakube-lab-out-');
let inventory: Inventory;
let stackDir: string;

function declare(snapshotCount: number) {
  return synthStack(outdir, (stack) => {
    new EtcdCluster(stack, 'etcd', { clusterName: 'e2e', members: inventory.hosts.slice(0, 3), secretsDir, snapshotCount });
  });
}

const TLS = '--cacert=/etc/etcd/pki/ca.crt --cert=/etc/etcd/pki/healthcheck-client.crt --key=/etc/etcd/pki/healthcheck-client.key';
const etcdctl = (endpoint: string, args: string) => `ETCDCTL_API=3 etcdctl --endpoints=https://${endpoint}:2379 ${TLS} --command-timeout=4s ${args}`;
const address = (host: string) => inventory.get(host)[0].address;

async function healthyEverywhere(): Promise<boolean> {
  const endpoints = inventory.hosts.slice(0, 3).map((h) => `https://${h.address}:2379`).join(',');
  const r = await onHost(inventory, 'lab-1', `ETCDCTL_API=3 etcdctl --endpoints=${endpoints} ${TLS} endpoint health`);
  return r.ok;
}

beforeAll(async () => {
  const up = await acquireLab(3);
  inventory = up.inventory;
  figure(`lab up (base build ${up.seconds.base.toFixed(1)} s, boot ${up.seconds.boot.toFixed(1)} s)`, up.seconds.total);
  ({ stackDir } = await declare(100000));
  expect(terraform(stackDir, 'init', '-input=false').status).toBe(0);
}, 900_000);

afterAll(async () => {
  const down = await labDown({ projectDir });
  figure('lab down', down.seconds);
  expect(down.leftovers).toEqual([]);
}, 300_000);

describe('hakube identities on the lab', () => {
  it('finds the lab hosts distinct (hostnames match the inventory; machine-ids and MACs differ)', async () => {
    const identities = await probeIdentities(inventory.hosts);
    expect(identities.map((i) => i.hostname)).toEqual(['lab-1', 'lab-2', 'lab-3']);
    expect(new Set(identities.map((i) => i.machineId)).size).toBe(3);
    expect(identityProblems(identities)).toEqual([]);
  });
});

describe('etcd on the lab', () => {
  it('deploys a healthy 3-member cluster over TLS', async () => {
    const apply = terraform(stackDir, 'apply', '-auto-approve', '-input=false');
    figure('first deploy (3 members, packages through the apt proxy)', apply.seconds);
    expect(apply.status).toBe(0);
    expect(await healthyEverywhere()).toBe(true);
    const members = await onHost(inventory, 'lab-1', etcdctl(address('lab-1'), 'member list'));
    expect(members.out.trim().split('\n')).toHaveLength(3);
  }, 600_000);

  it('rejects a client without a certificate', async () => {
    const r = await onHost(inventory, 'lab-1', `ETCDCTL_API=3 etcdctl --endpoints=https://${address('lab-2')}:2379 --cacert=/etc/etcd/pki/ca.crt --command-timeout=4s endpoint health`);
    expect(r.ok).toBe(false);
  });

  it('writes and reads through every member', async () => {
    for (const host of ['lab-1', 'lab-2', 'lab-3']) {
      expect((await onHost(inventory, 'lab-1', etcdctl(address(host), `put /e2e/via-${host} ok`))).ok).toBe(true);
    }
    for (const host of ['lab-1', 'lab-2', 'lab-3']) {
      const r = await onHost(inventory, 'lab-1', etcdctl(address(host), 'get --prefix --keys-only /e2e/'));
      expect(r.out.split('\n').filter(Boolean).sort()).toEqual(['/e2e/via-lab-1', '/e2e/via-lab-2', '/e2e/via-lab-3']);
    }
  });

  it('keeps quorum with one member powered off, loses it with two, and recovers every key', async () => {
    await labPower('lab-3', 'kill', { projectDir });
    expect((await onHost(inventory, 'lab-1', etcdctl(address('lab-1'), 'put /e2e/one-down ok'))).ok).toBe(true);

    await labPower('lab-2', 'kill', { projectDir });
    // No quorum: the write cannot commit now (it may still commit once quorum returns — never assert "not applied").
    expect((await onHost(inventory, 'lab-1', etcdctl(address('lab-1'), 'put /e2e/two-down maybe'))).ok).toBe(false);

    const started = Date.now();
    await labPower('lab-2', 'on', { projectDir });
    await labPower('lab-3', 'on', { projectDir });
    await until('writes after both members returned', 120_000, async () =>
      (await onHost(inventory, 'lab-1', etcdctl(address('lab-1'), 'put /e2e/back ok'))).ok ? true : undefined);
    figure('writes again after both members were powered on', (Date.now() - started) / 1000);
    await until('all members healthy', 60_000, async () => ((await healthyEverywhere()) ? true : undefined));
    const keys = (await onHost(inventory, 'lab-1', etcdctl(address('lab-3'), 'get --prefix --keys-only /e2e/'))).out;
    for (const key of ['/e2e/via-lab-1', '/e2e/via-lab-2', '/e2e/via-lab-3', '/e2e/one-down', '/e2e/back']) expect(keys).toContain(key);
  }, 300_000);

  it('re-deploys as a no-op: no changes and no remote command', () => {
    const plan = terraform(stackDir, 'plan', '-detailed-exitcode', '-input=false');
    expect(plan.status).toBe(0);
    const apply = terraform(stackDir, 'apply', '-auto-approve', '-input=false');
    figure('no-op re-deploy', apply.seconds);
    expect(apply.status).toBe(0);
    expect(apply.output).toContain('No changes.');
    expect(apply.output).not.toContain('Provisioning with');
  });

  it('re-runs only the configure steps after a settings change, one member at a time, and stays healthy', async () => {
    ({ stackDir } = await declare(20000));
    const plan = terraform(stackDir, 'plan', '-input=false', '-out=changed.tfplan');
    expect(plan.status).toBe(0);
    const show = JSON.parse(terraform(stackDir, 'show', '-json', 'changed.tfplan').stdout) as {
      resource_changes: Array<{ address: string; change: { actions: string[] } }>;
    };
    const replaced = show.resource_changes.filter((c) => c.change.actions.includes('create')).map((c) => c.address).sort();
    // the configure steps; the health check, because they ran; the first wave, because their hosts have work to do
    expect(replaced).toEqual([
      'terraform_data.etcd-e2e_health',
      'terraform_data.etcd-e2e_lab-1_configure',
      'terraform_data.etcd-e2e_lab-2_configure',
      'terraform_data.etcd-e2e_lab-3_configure',
      'terraform_data.hosts_lab-1_reachable',
      'terraform_data.hosts_lab-2_reachable',
      'terraform_data.hosts_lab-3_reachable',
      'terraform_data.hosts_ready',
    ]);
    const apply = terraform(stackDir, 'apply', '-auto-approve', '-input=false', 'changed.tfplan');
    figure('rolling settings change', apply.seconds);
    expect(apply.status).toBe(0);
    expect(apply.output).toContain('configuration changed, restarting etcd');
    expect(await healthyEverywhere()).toBe(true);
    for (const host of ['lab-1', 'lab-2', 'lab-3']) {
      expect((await onHost(inventory, host, 'grep ^ETCD_SNAPSHOT_COUNT= /etc/etcd/etcd.env')).out.trim()).toBe('ETCD_SNAPSHOT_COUNT=20000');
    }
  }, 300_000);

  it('changes nothing while a member it has work for is down, says so within a minute, and finishes once it is back', async () => {
    const before = (await onHost(inventory, 'lab-1', 'grep ^ETCD_SNAPSHOT_COUNT= /etc/etcd/etcd.env')).out.trim();
    await labPower('lab-3', 'kill', { projectDir });
    ({ stackDir } = await declare(30000));
    const failed = terraform(stackDir, 'apply', '-auto-approve', '-input=false');
    figure('deploy with one member powered off, until it fails', failed.seconds);
    expect(failed.status).not.toBe(0);
    expect(failed.seconds).toBeLessThan(90);
    expect(failed.output).toContain('terraform_data.hosts_lab-3_reachable');
    // the reachable members were not reconfigured: no mixed cluster
    expect((await onHost(inventory, 'lab-1', 'grep ^ETCD_SNAPSHOT_COUNT= /etc/etcd/etcd.env')).out.trim()).toBe(before);
    const status = await runChecks(stackChecks(outdir));
    expect(status.filter((r) => !r.ok).map((r) => r.step).sort()).toEqual(['etcd-e2e/health', 'hosts/lab-3/reachable']);
    expect(taintedSteps(outdir)).toEqual([{ stack: 'lab', steps: ['hosts_lab-3_reachable'] }]);

    await labPower('lab-3', 'on', { projectDir });
    await until('lab-3 answers ssh', 60_000, async () => ((await onHost(inventory, 'lab-3', 'true')).ok ? true : undefined));
    const finished = terraform(stackDir, 'apply', '-auto-approve', '-input=false');
    figure('the same deploy once the member is back', finished.seconds);
    expect(finished.status).toBe(0);
    for (const host of ['lab-1', 'lab-2', 'lab-3']) {
      expect((await onHost(inventory, host, 'grep ^ETCD_SNAPSHOT_COUNT= /etc/etcd/etcd.env')).out.trim()).toBe('ETCD_SNAPSHOT_COUNT=30000');
    }
    expect((await runChecks(stackChecks(outdir))).every((r) => r.ok)).toBe(true);
    expect(taintedSteps(outdir)).toEqual([]);
  }, 600_000);

  it('re-checks health when the configure step of a member is run again by hand', () => {
    const plan = terraform(stackDir, 'plan', '-input=false', '-replace=terraform_data.etcd-e2e_lab-2_configure', '-out=replace.tfplan');
    expect(plan.status).toBe(0);
    const show = JSON.parse(terraform(stackDir, 'show', '-json', 'replace.tfplan').stdout) as {
      resource_changes: Array<{ address: string; change: { actions: string[] } }>;
    };
    const replaced = show.resource_changes.filter((c) => c.change.actions.includes('create')).map((c) => c.address).sort();
    expect(replaced).toEqual(['terraform_data.etcd-e2e_health', 'terraform_data.etcd-e2e_lab-2_configure']);
    const apply = terraform(stackDir, 'apply', '-auto-approve', '-input=false', 'replace.tfplan');
    expect(apply.status).toBe(0);
    expect(apply.output).toContain('terraform_data.etcd-e2e_health: Provisioning with');
  }, 300_000);

  it('saves a snapshot', async () => {
    const save = await onHost(inventory, 'lab-1', `${etcdctl(address('lab-1'), 'snapshot save /root/e2e.db')} && ETCDCTL_API=3 etcdctl snapshot status /root/e2e.db -w json`);
    expect(save.ok).toBe(true);
    const json = save.out.split('\n').find((line) => line.startsWith('{"hash"'));
    expect(json, save.out).toBeDefined();
    const status = JSON.parse(json!) as { revision: number; totalKey: number };
    expect(status.revision).toBeGreaterThan(0);
    expect(status.totalKey).toBeGreaterThanOrEqual(5);
  });

  it('stops within a minute, changing nothing, when a host answers with another key than the pinned one (last: it leaves a failed deploy)', async () => {
    const before = (await onHost(inventory, 'lab-1', 'grep ^ETCD_SNAPSHOT_COUNT= /etc/etcd/etcd.env')).out.trim();
    const [lab1, lab2, lab3] = inventory.hosts;
    const impostor = new Host({ name: lab2.name, address: lab2.address, privateKeyPath: lab2.privateKeyPath, hostKey: lab1.hostKey });
    const mismatched = await synthStack(outdir, (stack) => {
      new EtcdCluster(stack, 'etcd', { clusterName: 'e2e', members: [lab1, impostor, lab3], secretsDir, snapshotCount: 40000 });
    });
    const failed = terraform(mismatched.stackDir, 'apply', '-auto-approve', '-input=false');
    figure('deploy with a host key that does not match, until it fails', failed.seconds);
    expect(failed.status).not.toBe(0);
    expect(failed.seconds).toBeLessThan(90);
    expect(failed.output).toContain('terraform_data.hosts_lab-2_reachable');
    expect(failed.output).toMatch(/host key mismatch|key mismatch|handshake failed/i);
    expect((await onHost(inventory, 'lab-1', 'grep ^ETCD_SNAPSHOT_COUNT= /etc/etcd/etcd.env')).out.trim()).toBe(before);
  }, 300_000);
});
