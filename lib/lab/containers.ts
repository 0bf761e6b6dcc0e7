import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LabHostSpec } from './config.js';
import { LabError, tryRun } from './exec.js';
import { type MountEntry, parseMounts } from './mounts.js';
import { procChildren } from './proc.js';
import { sh } from '../shell.js';

/**
 * What a lab host needs so that containerd, runc and kubelet run inside it — given inside the host, never by
 * changing the machine's own kernel settings:
 * - cgroup v1 controllers writable (nspawn mounts them read-only; a bind remount from the machine's side lifts that),
 * - `/` shared (kubelet's volume mounts propagate into containers),
 * - the `/proc/sys` values kubelet checks at start already at the values it wants, as files bind-mounted over those
 *   keys (so kubelet writes nothing to the machine's kernel; `kernel.panic*` stay as the machine has them),
 * - `/dev/kmsg` for kubelet's OOM watcher: a link to the host's console (the machine's log is restricted),
 * - containerd's state on a bind mount of a machine directory (its overlay snapshotter cannot use the host's own
 *   overlay root as an upper dir), the keyring syscalls runc uses, and the capabilities kubelet needs,
 * - fewer inotify instances: every host's root is the machine's root user, and the kernel allows that user 128
 *   inotify instances in all (`user.max_inotify_instances`, not ours to raise). A Kubernetes node takes about 14
 *   (kubelet 6, systemd 5, containerd, kube-proxy…), a master about 25; the login consoles and logind the lab never
 *   uses are masked (2 per host), and a lab runs at most 6 Kubernetes nodes and 3 more small hosts at once.
 */

/** Units a lab host never needs that each hold an inotify instance (logins are over ssh, as root). */
export const HOST_MASKED_UNITS = ['console-getty.service', 'systemd-logind.service'] as const;

/** `/proc/sys` keys kubelet 1.34 sets at start unless they already hold these values (`setupKernelTunables`). */
export const KUBELET_PROC_SYS: Readonly<Record<string, string>> = {
  'vm/overcommit_memory': '1',
  'vm/panic_on_oom': '0',
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
};

/** Inside a host: where the files with those values live. */
export const HOST_PROC_SYS_DIR = '/etc/hakube-lab/proc-sys';
/** Inside a host: containerd's state directory (bind-mounted from `spec.containerdDir`). */
export const HOST_CONTAINERD_DIR = '/var/lib/containerd';

/**
 * Capabilities a host gets beyond nspawn's default set: VIPs and pod networks, and memory locking. (CAP_SYS_RESOURCE
 * would let kubelet lower OOM scores, but this machine's own bounding set lacks it.)
 */
export const HOST_CAPABILITIES = ['CAP_NET_ADMIN', 'CAP_IPC_LOCK'] as const;

/** systemd-nspawn arguments that make a host able to run containers. Pure. */
export function containerNspawnArgs(spec: LabHostSpec): string[] {
  return [`--capability=${HOST_CAPABILITIES.join(',')}`, '--system-call-filter=@keyring', `--bind=${spec.containerdDir}:${HOST_CONTAINERD_DIR}`];
}

/** tmpfiles.d line that links `/dev/kmsg` to the console at every boot. Pure. */
export function kmsgTmpfiles(): string {
  return '# kubelet reads /dev/kmsg (its OOM watcher); the machine restricts its own, so the host console stands in\nL /dev/kmsg - - - - /dev/console\n';
}

/** Write the host's files for container support into its root, and create its containerd directory. */
export function writeContainerSupport(spec: LabHostSpec): void {
  const write = (path: string, content: string) => {
    const target = join(spec.root, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content, { mode: 0o644 });
  };
  write('/etc/tmpfiles.d/hakube-lab-kmsg.conf', kmsgTmpfiles());
  for (const unit of HOST_MASKED_UNITS) {
    const link = join(spec.root, 'etc/systemd/system', unit);
    mkdirSync(dirname(link), { recursive: true });
    rmSync(link, { force: true });
    symlinkSync('/dev/null', link);
  }
  for (const [key, value] of Object.entries(KUBELET_PROC_SYS)) write(`${HOST_PROC_SYS_DIR}/${key.replace('/', '.')}`, `${value}\n`);
  mkdirSync(spec.containerdDir, { recursive: true, mode: 0o711 });
}

/**
 * Commands run in a booted host's mount namespace (from the machine, through nsenter), given the host's mount table:
 * remount read-only cgroup v1 hierarchies writable, make `/` shared, and bind the `/proc/sys` value files not yet
 * bound. Nothing is left to do on a host that has all of it. Pure.
 */
export function containerSupportScript(hostMounts: readonly MountEntry[]): string {
  const isReadOnly = (m: MountEntry) => m.options.split(',').includes('ro');
  const remounts = hostMounts.filter((m) => m.fstype === 'cgroup' && isReadOnly(m)).map((m) => `mount -o remount,bind,rw ${sh(m.target)}`);
  const bound = new Set(hostMounts.map((m) => m.target));
  const binds = Object.keys(KUBELET_PROC_SYS)
    .filter((key) => !bound.has(`/proc/sys/${key}`))
    .map((key) => `mount --bind ${HOST_PROC_SYS_DIR}/${key.replace('/', '.')} /proc/sys/${key}`);
  return ['set -eu', ...remounts, ...binds, 'mount --make-rshared /'].join('\n');
}

/** Apply `containerSupportScript` inside a booted host (its init is the child of its nspawn, `nspawnPid`). */
export function enableContainers(spec: LabHostSpec, nspawnPid: number): void {
  const [init] = procChildren(nspawnPid);
  if (init === undefined) throw new LabError(`${spec.name}: its systemd-nspawn (${nspawnPid}) has no init process`);
  const mounts = parseMounts(readFileSync(`/proc/${init}/mounts`, 'utf8'));
  const result = tryRun('nsenter', ['-t', String(init), '-m', '--', 'sh', '-c', containerSupportScript(mounts)]);
  if (!result.ok) throw new LabError(`${spec.name}: could not prepare the host for containers: ${result.stderr.trim()}`);
}
