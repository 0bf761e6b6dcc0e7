import { join, resolve } from 'node:path';

/** Name of the bridge every lab host's veth is plugged into. */
export const LAB_BRIDGE = 'hakube0';
/** Machine-side address of the bridge; also where the apt proxy listens. */
export const LAB_GATEWAY = '10.77.0.1';
/** Prefix length of the lab network `10.77.0.0/24`. */
export const LAB_PREFIX_LENGTH = 24;
/** Port of the lab's apt-cacher-ng on the bridge address. */
export const LAB_PROXY_PORT = 3142;
/** The apt proxy URL the lab hosts use. */
export const LAB_PROXY_URL = `http://${LAB_GATEWAY}:${LAB_PROXY_PORT}`;
/** Number of hosts `lab up` starts when not told otherwise. */
export const LAB_DEFAULT_HOSTS = 3;
/** Most hosts the lab runs (addresses 10.77.0.11–10.77.0.18). */
export const LAB_MAX_HOSTS = 8;
/** Debian release of the lab hosts. */
export const LAB_SUITE = 'bookworm';

/** Machine-wide cache kept across `down`: the base root filesystem and the apt proxy's cache. */
export const LAB_CACHE_DIR = '/var/cache/hakube/lab';
/** Cached base root filesystem (overlay lower dir of every host). */
export const LAB_BASE_DIR = join(LAB_CACHE_DIR, `base-${LAB_SUITE}`);
/** Written last into the cache dir when the base is complete; its content is the base recipe version. */
export const LAB_BASE_MARKER = `${LAB_BASE_DIR}.complete`;
/** apt-cacher-ng's package cache (kept across `down`). */
export const LAB_PROXY_CACHE_DIR = join(LAB_CACHE_DIR, 'apt-cacher-ng');
/** Machine-wide runtime state: state.json, per-host mounts, apt proxy config and logs. Removed by `down`. */
export const LAB_RUN_DIR = '/run/hakube-lab';
/** The lab's state file. */
export const LAB_STATE_FILE = join(LAB_RUN_DIR, 'state.json');
/** Runtime dir of the lab's apt-cacher-ng (config, pid, socket, logs). */
export const LAB_PROXY_RUN_DIR = join(LAB_RUN_DIR, 'apt-cacher-ng');
/** Name of the cgroup (in each hierarchy) under which every host gets its own cgroup. */
export const LAB_CGROUP = 'hakube-lab';

/** Everything about one lab host that follows from its index (1-based). */
export interface LabHostSpec {
  /** 1-based index. */
  readonly index: number;
  /** Host name, `lab-<index>`. */
  readonly name: string;
  /** Address on the lab bridge, `10.77.0.<10+index>`. */
  readonly address: string;
  /** Network namespace name (`/run/netns/<netns>`), also the machine-side veth name. */
  readonly netns: string;
  /** Machine-side end of the host's veth pair. */
  readonly veth: string;
  /** Per-host runtime dir under `LAB_RUN_DIR`. */
  readonly dir: string;
  /** tmpfs holding the overlay's upper and work dirs. */
  readonly rwDir: string;
  /** Overlay mount the host boots from. */
  readonly root: string;
  /** Machine directory bind-mounted as the host's /var/lib/containerd (not on the host's overlay root). */
  readonly containerdDir: string;
}

/** The spec of lab host number `index` (1-based). */
export function labHostSpec(index: number): LabHostSpec {
  if (!Number.isInteger(index) || index < 1 || index > LAB_MAX_HOSTS) {
    throw new RangeError(`lab host index ${index} is not between 1 and ${LAB_MAX_HOSTS}`);
  }
  const name = `lab-${index}`;
  const dir = join(LAB_RUN_DIR, 'hosts', name);
  return {
    index,
    name,
    address: `10.77.0.${10 + index}`,
    netns: `hakube-${name}`,
    veth: `hakube-${name}`,
    dir,
    rwDir: join(dir, 'rw'),
    root: join(dir, 'root'),
    containerdDir: join(dir, 'containerd'),
  };
}

/** Specs of hosts `lab-1..lab-<count>`; throws on a count outside 1..LAB_MAX_HOSTS. */
export function labHostSpecs(count: number): LabHostSpec[] {
  assertHostCount(count);
  return Array.from({ length: count }, (_, i) => labHostSpec(i + 1));
}

/** Throw a clear error unless `count` is a whole number of hosts the lab can run. */
export function assertHostCount(count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > LAB_MAX_HOSTS) {
    throw new RangeError(`lab hosts ${JSON.stringify(count)} is not a whole number between 1 and ${LAB_MAX_HOSTS}`);
  }
}

/** Operator-side files of the lab, all under `<projectDir>/.hakube/lab`. */
export interface LabPaths {
  readonly projectDir: string;
  readonly labDir: string;
  readonly sshDir: string;
  /** Operator's SSH private key (ed25519, 0600). */
  readonly keyPath: string;
  readonly publicKeyPath: string;
  /** known_hosts with every live host's pinned key. */
  readonly knownHostsPath: string;
  /** Live inventory, present only while the lab is up. */
  readonly inventoryPath: string;
  /** Per-host console logs. */
  readonly logDir: string;
}

/** Operator-side paths of the lab for a project dir (default: the current working directory). */
export function labPaths(projectDir: string = process.cwd()): LabPaths {
  const root = resolve(projectDir);
  const labDir = join(root, '.hakube', 'lab');
  const sshDir = join(labDir, 'ssh');
  return {
    projectDir: root,
    labDir,
    sshDir,
    keyPath: join(sshDir, 'id_ed25519'),
    publicKeyPath: join(sshDir, 'id_ed25519.pub'),
    knownHostsPath: join(labDir, 'known_hosts'),
    inventoryPath: join(labDir, 'hosts.yaml'),
    logDir: join(labDir, 'logs'),
  };
}
