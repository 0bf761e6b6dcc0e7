import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_CGROUP } from './config.js';
import { currentMounts, type MountEntry } from './mounts.js';

/**
 * Per-host cgroups. Without systemd as PID 1 and with `--keep-unit`, nspawn leaves each container in the cgroup of
 * the process that started it; containers sharing one cgroup fight over it. So each launching process moves itself
 * into `hakube-lab/<host>` — in the `name=systemd` v1 hierarchy and in the unified (v2) hierarchy, whichever of them
 * this machine has mounted (hybrid: both; pure v2: only the unified one; legacy: only name=systemd).
 */

/** Mount points of the hierarchies systemd cares about. Pure: takes the mount table. */
export function systemdCgroupRoots(mounts: readonly MountEntry[]): string[] {
  const v1 = mounts.find((m) => m.fstype === 'cgroup' && m.options.split(',').includes('name=systemd'));
  const v2 = mounts.find((m) => m.fstype === 'cgroup2');
  return [v1?.target, v2?.target].filter((t): t is string => t !== undefined);
}

/** This machine's systemd-relevant cgroup hierarchies. */
export function cgroupRoots(): string[] {
  return systemdCgroupRoots(currentMounts());
}

/** Directories `hakube-lab/<host>` in each hierarchy. */
export function hostCgroupDirs(host: string, roots: readonly string[] = cgroupRoots()): string[] {
  return roots.map((root) => join(root, LAB_CGROUP, host));
}

/** Create the host's cgroups; returns their `cgroup.procs` files (write a PID there to move it in). */
export function createHostCgroups(host: string): string[] {
  return hostCgroupDirs(host).map((dir) => {
    mkdirSync(dir, { recursive: true });
    return join(dir, 'cgroup.procs');
  });
}

/** PIDs in the host's cgroups, sub-cgroups included. */
export function hostCgroupPids(host: string): number[] {
  const pids = new Set<number>();
  for (const dir of hostCgroupDirs(host)) {
    for (const sub of [...subdirsDeepestFirst(dir), dir]) {
      try {
        for (const line of readFileSync(join(sub, 'cgroup.procs'), 'utf8').split('\n')) if (line) pids.add(Number(line));
      } catch {
        // gone meanwhile
      }
    }
  }
  return [...pids];
}

/** Remove the host's cgroups (sub-cgroups the container's systemd made first). Returns dirs that stay (busy). */
export function removeHostCgroups(host: string): string[] {
  return hostCgroupDirs(host).flatMap((dir) => removeTree(dir));
}

/** Remove `hakube-lab` and everything under it in each hierarchy. Returns dirs that stay (busy). */
export function removeLabCgroups(): string[] {
  return cgroupRoots().flatMap((root) => removeTree(join(root, LAB_CGROUP)));
}

function removeTree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const left: string[] = [];
  for (const sub of [...subdirsDeepestFirst(dir), dir]) {
    try {
      rmdirSync(sub);
    } catch {
      left.push(sub);
    }
  }
  return left;
}

function subdirsDeepestFirst(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.filter((e) => e.isDirectory()).flatMap((e) => [...subdirsDeepestFirst(join(dir, e.name)), join(dir, e.name)]);
}
