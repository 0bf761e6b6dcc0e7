/**
 * End-to-end test of the local lab: boots real hosts. Needs root; runs only under vitest.lab.config.ts
 * (`npx vitest run -c vitest.lab.config.ts`), which sets HAKUBE_LAB_E2E=1.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordHostKeys, scanInventory } from '../../lib/cli/hosts.js';
import { labCgroupBases } from '../../lib/lab/cgroups.js';
import { Inventory } from '../../lib/inventory.js';
import {
  LAB_BRIDGE,
  LAB_RUN_DIR,
  labDown,
  labInventory,
  labPaths,
  labPower,
  labSsh,
  labStatus,
  labUp,
  readState,
  type LabPaths,
  type LabState,
} from '../../lib/lab/index.js';

const enabled = process.env.HAKUBE_LAB_E2E === '1' && process.getuid?.() === 0;
let projectDir = '';
let paths: LabPaths;
const timings: Record<string, string> = {};

const ip = (...args: string[]) => spawnSync('ip', args, { encoding: 'utf8' });
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
};
const address = (name: string) => labInventory(3).get(name)[0]!.address;
const ssh = (name: string, command: string, timeoutMs = 60_000) => labSsh(paths, address(name), command, { timeoutMs, connectTimeoutSeconds: 5 });

describe.skipIf(!enabled)('hakube lab (end to end)', () => {
  let stateWhileUp: LabState | undefined;
  let owned = false; // set once this test may take the lab down (never someone else's lab)

  beforeAll(async () => {
    const running = readState();
    if (running) {
      // Never take down someone else's lab: the lab is machine-wide.
      throw new Error(`a lab is already running (started from ${running.projectDir}): run \`hakube lab down\` first`);
    }
    projectDir = mkdtempSync(join(tmpdir(), 'hakube-lab-e2e-'));
    paths = labPaths(projectDir);
    owned = true;
    const result = await labUp({ hosts: 3, projectDir });
    if (!result.started) {
      owned = false;
      throw new Error('a lab was started by someone else meanwhile');
    }
    timings[result.seconds.base > 0 ? 'cold base build' : 'base'] = result.seconds.base > 0 ? `${result.seconds.base.toFixed(1)} s` : 'cached';
    timings['up (3 hosts, total)'] = `${result.seconds.total.toFixed(1)} s`;
    timings['boot until sshd answers'] = `${result.seconds.boot.toFixed(1)} s`;
    stateWhileUp = readState();
  });

  afterAll(async () => {
    try {
      if (owned) await labDown();
    } finally {
      if (projectDir) rmSync(projectDir, { recursive: true, force: true });
      process.stderr.write(`\nlab e2e timings:\n${Object.entries(timings).map(([k, v]) => `  ${k}: ${v}`).join('\n')}\n`);
    }
  });

  it('writes an inventory with pinned host keys that matches the would-be inventory', () => {
    const live = Inventory.fromYamlFile(paths.inventoryPath);
    const planned = labInventory(3, paths.keyPath);
    expect(live.hosts.map((h) => [h.name, h.address, h.privateKeyPath, h.labels.lab])).toEqual(
      planned.hosts.map((h) => [h.name, h.address, h.privateKeyPath, 'true']),
    );
    for (const host of live.hosts) expect(host.hostKey).toMatch(/^ssh-ed25519 AAAA/);
    expect(new Set(live.hosts.map((h) => h.hostKey)).size).toBe(3);
  });

  it('every host answers ssh with its pinned key and runs systemd', async () => {
    const results = await Promise.all(['lab-1', 'lab-2', 'lab-3'].map((h) => ssh(h, 'hostname; systemctl is-system-running --wait || true')));
    results.forEach((r, i) => {
      expect(r.ok, r.stderr).toBe(true);
      const [hostname, systemState] = r.stdout.trim().split('\n');
      expect(hostname).toBe(`lab-${i + 1}`);
      expect(['running', 'degraded']).toContain(systemState);
    });
  });

  it('hakube hosts scan records the keys the hosts really have', async () => {
    const live = Inventory.fromYamlFile(paths.inventoryPath);
    const unpinned = new Inventory(live.hosts.map((h) => ({ name: h.name, address: h.address, privateKeyPath: h.privateKeyPath })));
    const results = await scanInventory(unpinned);
    expect(results.map((r) => [r.host, r.status, r.key])).toEqual(live.hosts.map((h) => [h.name, 'recorded', h.hostKey]));
    const recorded = Inventory.fromYaml(recordHostKeys(unpinned.toYaml(), results));
    expect(recorded.hosts.map((h) => h.hostKey)).toEqual(live.hosts.map((h) => h.hostKey));
  });

  it('rejects a host key that is not the pinned one', async () => {
    const live = Inventory.fromYamlFile(paths.inventoryPath);
    const wrong = join(projectDir, 'wrong_known_hosts');
    writeFileSync(wrong, `${address('lab-1')} ${live.get('lab-2')[0]!.hostKey}\n`);
    const r = spawnSync('ssh', ['-F', 'none', '-i', paths.keyPath, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${wrong}`, `root@${address('lab-1')}`, 'true'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  it('hosts reach each other by name', async () => {
    const r = await ssh('lab-1', 'ping -c 2 -W 2 lab-2');
    expect(r.ok, r.stdout + r.stderr).toBe(true);
    expect(r.stdout).toContain('10.77.0.12');
  });

  it('has an on-link default route that leads nowhere outside the lab', async () => {
    // 192.0.2.1 (TEST-NET-1): the host asks for it by ARP on the lab bridge only, and nobody answers
    const r = await ssh('lab-1', 'ip route get 192.0.2.1; ping -c 1 -W 1 192.0.2.1 >/dev/null 2>&1 && echo reached || echo unreachable');
    expect(r.ok, r.stderr).toBe(true);
    expect(r.stdout).toMatch(/^192\.0\.2\.1 dev eth0 src 10\.77\.0\.11/m);
    expect(r.stdout).not.toContain(' via ');
    expect(r.stdout).toContain('unreachable');
  });

  it('installs packages through the apt proxy', async () => {
    const started = Date.now();
    const r = await ssh('lab-2', 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy && haproxy -v', 300_000);
    timings['apt-get update + install haproxy (lab-2)'] = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    expect(r.ok, r.stderr.slice(-2000)).toBe(true);
    expect(r.stdout).toMatch(/HAProxy version 2\.6/);
  });

  it('each host has its own cgroup in every hierarchy, writable inside, and what kubelet checks at start', async () => {
    const state = readState()!;
    const machinePanic = readFileSync('/proc/sys/kernel/panic', 'utf8');
    for (const node of state.nodes) {
      // its nspawn sits in hakube-lab/<host> (or below) in every hierarchy, memory included
      const lines = readFileSync(`/proc/${node.pid}/cgroup`, 'utf8').trim().split('\n');
      expect(lines.length).toBe(state.cgroupBases!.length);
      for (const line of lines) expect(line, line).toMatch(new RegExp(`/hakube-lab/${node.name}(/|$)`));
    }
    const r = await ssh('lab-1', [
      'touch /sys/fs/cgroup/memory/probe 2>&1 || true; mkdir /sys/fs/cgroup/memory/probe && rmdir /sys/fs/cgroup/memory/probe && echo memory-writable',
      'mkdir /sys/fs/cgroup/cpu/probe && rmdir /sys/fs/cgroup/cpu/probe && echo cpu-writable',
      'readlink /dev/kmsg',
      'cat /proc/sys/vm/overcommit_memory /proc/sys/kernel/panic /proc/sys/kernel/panic_on_oops',
      'findmnt -no PROPAGATION /',
      'findmnt -no SOURCE,FSTYPE /var/lib/containerd',
    ].join('; '));
    expect(r.ok, r.stderr).toBe(true);
    expect(r.stdout).toContain('memory-writable');
    expect(r.stdout).toContain('cpu-writable');
    expect(r.stdout).toContain('/dev/console');
    expect(r.stdout).toContain('1\n10\n1\n');
    expect(r.stdout).toContain('shared');
    expect(r.stdout).not.toMatch(/overlay\s*$/m);
    // the machine's own kernel settings are untouched
    expect(readFileSync('/proc/sys/kernel/panic', 'utf8')).toBe(machinePanic);
  });

  it('up again with the same count only reports; another count is refused', async () => {
    const again = await labUp({ hosts: 3, projectDir });
    expect(again.started).toBe(false);
    expect(again.status.hosts.every((h) => h.running && h.sshReachable)).toBe(true);
    await expect(labUp({ hosts: 2, projectDir })).rejects.toThrow(/run `hakube lab down` first/);
  });

  it('power kill takes a host off the network; power on brings it back with the same identity', async () => {
    const before = await ssh('lab-3', 'cat /etc/machine-id');
    const pid = readState()!.nodes.find((n) => n.name === 'lab-3')!.pid!;
    let started = Date.now();
    await labPower('lab-3', 'kill');
    timings['power kill'] = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    expect(alive(pid)).toBe(false);
    expect(ip('-n', 'hakube-lab-3', '-o', '-4', 'addr', 'show', 'dev', 'eth0').stdout.trim()).toBe('');
    const down = await ssh('lab-3', 'true', 20_000);
    expect(down.ok).toBe(false);
    const status = await labStatus();
    expect(status.hosts.find((h) => h.name === 'lab-3')).toMatchObject({ running: false, sshReachable: false });
    expect(status.hosts.filter((h) => h.name !== 'lab-3').every((h) => h.running && h.sshReachable)).toBe(true);

    started = Date.now();
    await labPower('lab-3', 'on');
    timings['power on (until ssh works)'] = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    const after = await ssh('lab-3', 'cat /etc/machine-id; systemctl is-system-running --wait || true');
    expect(after.ok, after.stderr).toBe(true);
    expect(after.stdout.split('\n')[0]).toBe(before.stdout.trim());
    expect(after.stdout).toMatch(/running|degraded/);

    started = Date.now();
    await labPower('lab-3', 'off');
    timings['power off (clean)'] = `${((Date.now() - started) / 1000).toFixed(1)} s`;
    expect((await ssh('lab-3', 'true', 20_000)).ok).toBe(false);
    await labPower('lab-3', 'on');
    expect((await ssh('lab-3', 'true')).ok).toBe(true);
  });

  it('down leaves nothing behind', async () => {
    const state = readState()!;
    const pids = [...state.nodes.map((n) => n.pid!), state.proxyPid!];
    expect(stateWhileUp?.nodes.length).toBe(3);
    const result = await labDown();
    timings.down = `${result.seconds.toFixed(1)} s`;
    expect(result.leftovers).toEqual([]);
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
    expect(ip('netns', 'list').stdout).not.toMatch(/hakube-lab/);
    expect(ip('link', 'show', LAB_BRIDGE).status).not.toBe(0);
    expect(ip('-o', 'link').stdout).not.toMatch(/hakube-lab|hkp-lab/);
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(LAB_RUN_DIR);
    expect(existsSync(LAB_RUN_DIR)).toBe(false);
    expect(state.cgroupBases?.length).toBeGreaterThanOrEqual(2);
    for (const base of [...state.cgroupBases!, ...labCgroupBases()]) expect(existsSync(base), base).toBe(false);
    expect(existsSync(paths.inventoryPath)).toBe(false);
    expect(readState()).toBeUndefined();
    expect(existsSync(paths.keyPath)).toBe(true);
    expect((await labStatus()).phase).toBe('down');
    // down again is harmless
    expect((await labDown()).leftovers).toEqual([]);
  });
});
