import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sh } from '../shell.js';
import { createHostCgroups, hostCgroupPids, removeHostCgroups } from './cgroups.js';
import { LAB_BASE_DIR, type LabHostSpec } from './config.js';
import { containerNspawnArgs } from './containers.js';
import { LAB_PATH, LabError, run, sleep } from './exec.js';
import { currentMounts, mountsUnder } from './mounts.js';
import { procAlive, procArgs, procChildren, signal, waitForExit } from './proc.js';

/**
 * One lab host: its root (overlay over the cached base, writable layer on a tmpfs), its identity, and its
 * systemd-nspawn process.
 */

function isMounted(target: string): boolean {
  return currentMounts().some((m) => m.target === target);
}

/** Mount the host's root: a tmpfs for the writable layer, and an overlay with the base as lower dir. Idempotent. */
export function mountHostRoot(spec: LabHostSpec): void {
  mkdirSync(spec.rwDir, { recursive: true });
  mkdirSync(spec.root, { recursive: true });
  if (!isMounted(spec.rwDir)) run('mount', ['-t', 'tmpfs', '-o', 'mode=0755', spec.netns, spec.rwDir]);
  mkdirSync(join(spec.rwDir, 'upper'), { recursive: true });
  mkdirSync(join(spec.rwDir, 'work'), { recursive: true });
  if (!isMounted(spec.root)) {
    const options = `lowerdir=${LAB_BASE_DIR},upperdir=${join(spec.rwDir, 'upper')},workdir=${join(spec.rwDir, 'work')}`;
    run('mount', ['-t', 'overlay', '-o', options, spec.netns, spec.root]);
  }
}

/** `/etc/hosts` of a lab host: localhost plus every lab host. Pure. */
export function etcHosts(all: readonly LabHostSpec[]): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    '',
    '# hakube lab hosts',
    ...all.map((h) => `${h.address}\t${h.name}`),
    '',
  ].join('\n');
}

/**
 * Give the host its identity inside its root: host name, `/etc/hosts`, a fresh machine id, its own ed25519 SSH host
 * key, and the operator's public key for root. Returns the host's public key (`ssh-ed25519 AAAA…`).
 */
export function writeHostIdentity(spec: LabHostSpec, all: readonly LabHostSpec[], operatorPublicKey: string): string {
  const write = (path: string, content: string, mode = 0o644) => {
    const target = join(spec.root, path);
    mkdirSync(dirname(target), { recursive: true });
    rmSync(target, { force: true });
    writeFileSync(target, content, { mode });
  };
  write('/etc/hostname', `${spec.name}\n`);
  write('/etc/hosts', etcHosts(all));
  write('/etc/machine-id', `${randomBytes(16).toString('hex')}\n`, 0o444);
  const key = join(spec.root, 'etc/ssh/ssh_host_ed25519_key');
  rmSync(key, { force: true });
  rmSync(`${key}.pub`, { force: true });
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `root@${spec.name}`, '-f', key]);
  mkdirSync(join(spec.root, 'root/.ssh'), { recursive: true, mode: 0o700 });
  chmodSync(join(spec.root, 'root/.ssh'), 0o700);
  write('/root/.ssh/authorized_keys', `${operatorPublicKey}\n`, 0o600);
  return hostPublicKey(spec);
}

/** The host's ed25519 public key, read from its root (`ssh-ed25519 AAAA…`, no comment). */
export function hostPublicKey(spec: LabHostSpec): string {
  const [type, body] = readFileSync(join(spec.root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/);
  if (type !== 'ssh-ed25519' || !body) throw new LabError(`${spec.name}: unexpected SSH host key in its root`);
  return `${type} ${body}`;
}

/** systemd-nspawn arguments that boot the host (see docs/LAB.md for why each flag is there). Pure. */
export function nspawnArgs(spec: LabHostSpec): string[] {
  return [
    '-q',
    '-D', spec.root,
    '-b',
    '--register=no',
    '--keep-unit',
    `--network-namespace-path=/run/netns/${spec.netns}`,
    `--machine=${spec.name}`,
    '--resolv-conf=off',
    '--timezone=off',
    '--console=read-only',
    ...containerNspawnArgs(spec),
  ];
}

/**
 * Boot the host: a detached process (new session, i.e. setsid; stdin /dev/null; output to `logPath`) moves itself
 * into the host's cgroups (under each of `cgroupBases`) and then execs systemd-nspawn, so the returned PID is nspawn's. Console output is appended
 * to `logPath`.
 */
export function bootHost(spec: LabHostSpec, logPath: string, cgroupBases: readonly string[]): number {
  const procs = createHostCgroups(spec.name, cgroupBases);
  const command = ['systemd-nspawn', ...nspawnArgs(spec)].map(sh).join(' ');
  const script = [...procs.map((file) => `echo $$ > ${sh(file)}`), `exec ${command}`].join(' && ');
  mkdirSync(dirname(logPath), { recursive: true });
  const log = openSync(logPath, 'a');
  const child = spawn('/bin/sh', ['-c', script], {
    detached: true,
    stdio: ['ignore', log, log],
    env: { PATH: LAB_PATH, LC_ALL: 'C', SYSTEMD_NSPAWN_API_VFS_WRITABLE: 'network' },
  });
  closeSync(log);
  child.on('error', () => undefined);
  child.unref();
  if (child.pid === undefined) throw new LabError(`${spec.name}: could not start systemd-nspawn`);
  return child.pid;
}

/** True when `pid` is the systemd-nspawn of this host (checked through its command line). */
export function isHostNspawn(pid: number | undefined, name: string): pid is number {
  if (pid === undefined || !procAlive(pid)) return false;
  const args = procArgs(pid);
  return (args[0] ?? '').endsWith('systemd-nspawn') && args.includes(`--machine=${name}`);
}

/**
 * Stop hosts. `clean`: SIGTERM to nspawn (the container shuts down), SIGKILL after `timeoutMs`. `hard`: SIGKILL to
 * each container's init (the child of nspawn — killing nspawn alone leaves it running) and to nspawn. Only PIDs
 * that are verifiably the hosts' nspawn processes, and their children, are signalled. Removes the hosts' cgroups.
 */
export async function stopHosts(
  hosts: readonly { name: string; pid?: number }[],
  mode: 'clean' | 'hard',
  cgroupBases: readonly string[],
  timeoutMs = 30000,
  onTick?: (alive: number) => void,
): Promise<void> {
  const ours = hosts.filter((h) => isHostNspawn(h.pid, h.name)) as { name: string; pid: number }[];
  const hardKill = (pid: number) => {
    for (const child of procChildren(pid)) signal(child, 'SIGKILL');
    signal(pid, 'SIGKILL');
  };
  if (mode === 'hard') {
    for (const h of ours) hardKill(h.pid);
  } else {
    for (const h of ours) signal(h.pid, 'SIGTERM');
    const left = await waitForExit(
      ours.map((h) => h.pid),
      timeoutMs,
      (alive) => onTick?.(alive.length),
    );
    for (const pid of left) hardKill(pid);
  }
  const stuck = await waitForExit(
    ours.map((h) => h.pid),
    10000,
  );
  if (stuck.length) throw new LabError(`systemd-nspawn ${stuck.join(', ')} did not exit`);
  // The kernel reaps a dead container's processes asynchronously: let the cgroups drain before removing them.
  const deadline = Date.now() + 10000;
  while (hosts.some((h) => hostCgroupPids(h.name, cgroupBases).some(procAlive)) && Date.now() < deadline) await sleep(50);
  for (const h of hosts) {
    removeHostCgroups(h.name, cgroupBases);
    removeNspawnLeftovers(h.name);
  }
}

/** nspawn's per-machine runtime dir; left behind when nspawn is killed. */
export function nspawnPropagateDir(name: string): string {
  return join('/run/systemd/nspawn/propagate', name);
}

/** Remove what a killed nspawn leaves in /run/systemd/nspawn for this machine name. */
export function removeNspawnLeftovers(name: string): void {
  const dir = nspawnPropagateDir(name);
  if (existsSync(dir) && mountsUnder(dir).length === 0) run('rm', ['-rf', '--one-file-system', dir]);
}

/** Remove nspawn's runtime dirs when they are empty (no other container uses them). */
export function removeEmptyNspawnDirs(): void {
  for (const dir of ['/run/systemd/nspawn/propagate', '/run/systemd/nspawn/locks', '/run/systemd/nspawn']) {
    try {
      rmdirSync(dir);
    } catch {
      // not empty, in use, or absent
    }
  }
}
