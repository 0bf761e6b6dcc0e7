import { describe, expect, it } from 'vitest';
import { cgroupHierarchies, hostCgroupDirs, labCgroupBasesOf, parseProcCgroup } from '../lib/lab/cgroups.js';
import { labHostSpec } from '../lib/lab/config.js';
import { HOST_MASKED_UNITS, containerNspawnArgs, containerSupportScript, kmsgTmpfiles, writeContainerSupport } from '../lib/lab/containers.js';
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './fixtures.js';
import { nspawnArgs } from '../lib/lab/host.js';
import { parseMounts } from '../lib/lab/mounts.js';

// A hybrid cgroup machine as this project's CI machines have it (v1 controllers, name=systemd, unified v2).
const MACHINE_MOUNTS = parseMounts(`sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/cpuset cgroup rw,relatime,cpuset 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/net_cls,net_prio cgroup rw,nosuid,nodev,noexec,relatime,net_cls,net_prio 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,xattr,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
cgroup /mnt/again/cpu cgroup rw,relatime,cpu 0 0
`);

const OWN_CGROUPS = parseProcCgroup(`10:net_cls,net_prio:/
9:name=systemd:/
4:memory:/process_api/0fdb
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`);

describe('lab cgroups', () => {
  it('finds every hierarchy once: each v1 controller, named and combined ones, and the unified one', () => {
    expect(cgroupHierarchies(MACHINE_MOUNTS)).toEqual([
      { mountPoint: '/sys/fs/cgroup/cpu', controllers: 'cpu' },
      { mountPoint: '/sys/fs/cgroup/cpuacct', controllers: 'cpuacct' },
      { mountPoint: '/sys/fs/cgroup/cpuset', controllers: 'cpuset' },
      { mountPoint: '/sys/fs/cgroup/memory', controllers: 'memory' },
      { mountPoint: '/sys/fs/cgroup/net_cls,net_prio', controllers: 'net_cls,net_prio' },
      { mountPoint: '/sys/fs/cgroup/systemd', controllers: 'name=systemd' },
      { mountPoint: '/sys/fs/cgroup/unified', controllers: '' },
    ]);
  });

  it('nests the lab below this process own cgroup in each hierarchy (memory under its supervisor)', () => {
    const bases = labCgroupBasesOf(cgroupHierarchies(MACHINE_MOUNTS), OWN_CGROUPS);
    expect(bases).toContain('/sys/fs/cgroup/memory/process_api/0fdb/hakube-lab');
    expect(bases).toContain('/sys/fs/cgroup/cpu/hakube-lab');
    expect(bases).toContain('/sys/fs/cgroup/net_cls,net_prio/hakube-lab');
    expect(bases).toContain('/sys/fs/cgroup/unified/hakube-lab');
    expect(bases).toHaveLength(7);
    expect(hostCgroupDirs('lab-2', bases)[3]).toBe('/sys/fs/cgroup/memory/process_api/0fdb/hakube-lab/lab-2');
  });

  it('skips a hierarchy this process is not listed in', () => {
    const own = new Map(OWN_CGROUPS);
    own.delete('cpuacct');
    expect(labCgroupBasesOf(cgroupHierarchies(MACHINE_MOUNTS), own).some((b) => b.includes('cpuacct'))).toBe(false);
  });
});

describe('lab hosts that run containers', () => {
  const spec = labHostSpec(3);

  it('boots with containerd state outside the overlay root, the keyring syscalls and CAP_NET_ADMIN', () => {
    const args = nspawnArgs(spec);
    expect(args).toContain(`--bind=/run/hakube-lab/hosts/lab-3/containerd:/var/lib/containerd`);
    expect(args).toContain('--system-call-filter=@keyring');
    const caps = args.find((a) => a.startsWith('--capability='))!.slice('--capability='.length).split(',');
    expect(caps).toContain('CAP_NET_ADMIN');
    // never a capability that reaches the machine's clock or its kernel log
    for (const cap of ['CAP_SYS_TIME', 'CAP_SYSLOG', 'CAP_SYS_MODULE']) expect(caps).not.toContain(cap);
    expect(containerNspawnArgs(spec).every((a) => args.includes(a))).toBe(true);
  });

  it('masks the console getty and logind (inotify instances the machine root shares with every host), again on a second write', () => {
    const dir = tempDir();
    const host = { ...spec, root: join(dir, 'root'), containerdDir: join(dir, 'containerd') };
    writeContainerSupport(host);
    writeContainerSupport(host);
    expect([...HOST_MASKED_UNITS]).toEqual(['console-getty.service', 'systemd-logind.service']);
    for (const unit of HOST_MASKED_UNITS) expect(readlinkSync(join(host.root, 'etc/systemd/system', unit))).toBe('/dev/null');
  });

  it('links /dev/kmsg to the console at boot', () => {
    expect(kmsgTmpfiles()).toMatch(/^L \/dev\/kmsg - - - - \/dev\/console$/m);
  });

  const hostMounts = (extra = '') =>
    parseMounts(`overlay / overlay rw,relatime 0 0
proc /proc/sys proc ro,nosuid,nodev,noexec,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0
cgroup /sys/fs/cgroup/memory cgroup ro,nosuid,nodev,noexec,relatime,memory 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup ro,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,name=systemd 0 0
cgroup /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime 0 0
${extra}`);

  it('remounts only the read-only cgroup v1 hierarchies, binds the kubelet /proc/sys values, then shares /', () => {
    const lines = containerSupportScript(hostMounts()).split('\n');
    expect(lines.filter((l) => l.includes('remount'))).toEqual([
      'mount -o remount,bind,rw /sys/fs/cgroup/memory',
      'mount -o remount,bind,rw /sys/fs/cgroup/cpu,cpuacct',
    ]);
    expect(lines).toContain('mount --bind /etc/hakube-lab/proc-sys/vm.overcommit_memory /proc/sys/vm/overcommit_memory');
    expect(lines).toContain('mount --bind /etc/hakube-lab/proc-sys/kernel.panic_on_oops /proc/sys/kernel/panic_on_oops');
    expect(lines.at(-1)).toBe('mount --make-rshared /');
  });

  it('does nothing twice on a host that already has it', () => {
    const done = hostMounts(`cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
overlay /proc/sys/vm/overcommit_memory overlay rw 0 0
overlay /proc/sys/vm/panic_on_oom overlay rw 0 0
overlay /proc/sys/kernel/panic overlay rw 0 0
overlay /proc/sys/kernel/panic_on_oops overlay rw 0 0
`).filter((m) => !(m.fstype === 'cgroup' && m.options.startsWith('ro')));
    expect(containerSupportScript(done).split('\n')).toEqual(['set -eu', 'mount --make-rshared /']);
  });
});
