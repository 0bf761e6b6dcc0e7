import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_CGROUP } from './config.js';
import { currentMounts, type MountEntry } from './mounts.js';

/**
 * Per-host cgroups. Without systemd as PID 1 and with `--keep-unit`, nspawn leaves each container in the cgroup of
 * the process that started it, and the container's cgroup namespace is rooted there. So each launching process
 * moves itself into `hakube-lab/<host>` in *every* hierarchy the machine has mounted (each v1 controller,
 * `name=systemd`, and the unified one): containers then neither fight over one cgroup nor share one `kubepods`
 * tree. `hakube-lab` is created below this process's own cgroup in each hierarchy (on these machines the memory
 * controller puts every process under its supervisor's cgroup: nest there, never move anything out of it).
 */

/** One mounted hierarchy: where it is mounted and how /proc/<pid>/cgroup names it. */
export interface CgroupHierarchy {
  readonly mountPoint: string;
  /** The controller list of its /proc/<pid>/cgroup line (`cpu`, `name=systemd`, `` for the unified one). */
  readonly controllers: string;
}

/** The mounted hierarchies (v1 controllers, named v1 hierarchies, the unified v2 one). Pure: takes the mount table. */
export function cgroupHierarchies(mounts: readonly MountEntry[]): CgroupHierarchy[] {
  const seen = new Set<string>();
  const found: CgroupHierarchy[] = [];
  for (const m of mounts) {
    let controllers: string;
    if (m.fstype === 'cgroup2') controllers = '';
    else if (m.fstype === 'cgroup') controllers = m.options.split(',').filter((o) => V1_CONTROLLER_OPTION.test(o) && !V1_MOUNT_OPTIONS.has(o)).join(',');
    else continue;
    if (seen.has(controllers)) continue; // the same hierarchy mounted twice
    seen.add(controllers);
    found.push({ mountPoint: m.target, controllers });
  }
  return found;
}

const V1_MOUNT_OPTIONS = new Set(['rw', 'ro', 'nosuid', 'nodev', 'noexec', 'relatime', 'noatime', 'nodiratime', 'strictatime', 'xattr', 'noprefix', 'clone_children', 'cpuset_v2_mode']);
const V1_CONTROLLER_OPTION = /^(name=[\w.-]+|[a-z_]+)$/;

/** Parse /proc/<pid>/cgroup: controller list → path. Pure. */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) paths.set(m[1]!, m[2]!);
  }
  return paths;
}

/**
 * Directories `<mount>/<own path>/hakube-lab` under which the lab's host cgroups go, one per hierarchy. Pure:
 * takes the hierarchies and this process's /proc/self/cgroup. A hierarchy this process is not listed in is skipped.
 */
export function labCgroupBasesOf(hierarchies: readonly CgroupHierarchy[], ownCgroups: Map<string, string>): string[] {
  return hierarchies.flatMap((h) => {
    const own = ownCgroups.get(h.controllers);
    return own === undefined ? [] : [join(h.mountPoint, own, LAB_CGROUP)];
  });
}

/** The lab's cgroup bases for this process on this machine. */
export function labCgroupBases(): string[] {
  return labCgroupBasesOf(cgroupHierarchies(currentMounts()), parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8')));
}

/** Directories `<base>/<host>` of one host. */
export function hostCgroupDirs(host: string, bases: readonly string[]): string[] {
  return bases.map((base) => join(base, host));
}

/**
 * Create the host's cgroups; returns their `cgroup.procs` files (write a PID there to move it in). cpuset cgroups
 * start with no CPUs or memory nodes (a task cannot join them), so each new level copies its parent's.
 */
export function createHostCgroups(host: string, bases: readonly string[]): string[] {
  return hostCgroupDirs(host, bases).map((dir) => {
    for (const level of [join(dir, '..'), dir]) {
      mkdirSync(level, { recursive: true });
      inheritCpuset(level);
    }
    return join(dir, 'cgroup.procs');
  });
}

function inheritCpuset(dir: string): void {
  for (const file of ['cpuset.cpus', 'cpuset.mems']) {
    const own = join(dir, file);
    if (!existsSync(own) || readFileSync(own, 'utf8').trim() !== '') continue;
    writeFileSync(own, readFileSync(join(dir, '..', file), 'utf8').trim());
  }
}

/** PIDs in the host's cgroups, sub-cgroups included. */
export function hostCgroupPids(host: string, bases: readonly string[]): number[] {
  const pids = new Set<number>();
  for (const dir of hostCgroupDirs(host, bases)) {
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

/** Remove the host's cgroups (sub-cgroups the container made first). Returns dirs that stay (busy). */
export function removeHostCgroups(host: string, bases: readonly string[]): string[] {
  return hostCgroupDirs(host, bases).flatMap((dir) => removeTree(dir));
}

/** Remove each base (`…/hakube-lab`) and everything under it. Returns dirs that stay (busy). */
export function removeLabCgroups(bases: readonly string[]): string[] {
  return [...new Set(bases)].flatMap((base) => removeTree(base));
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
