import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Inventory, type HostProps } from '../inventory.js';
import { ensureBase } from './base.js';
import { hostCgroupPids, labCgroupBases, removeLabCgroups } from './cgroups.js';
import { enableContainers, writeContainerSupport } from './containers.js';
import { runningSiteServers } from '../airgap/index.js';
import { announceSite, buildLabSite, serveLabSite, stopLabSite, writeSiteAccess, writeSiteResolver } from './site.js';
import {
  LAB_BRIDGE,
  LAB_DEFAULT_HOSTS,
  LAB_MAX_HOSTS,
  LAB_RUN_DIR,
  assertHostCount,
  labHostSpec,
  labHostSpecs,
  labPaths,
  type LabHostSpec,
  type LabPaths,
} from './config.js';
import { LabError, run } from './exec.js';
import { bootHost, isHostNspawn, mountHostRoot, removeEmptyNspawnDirs, removeNspawnLeftovers, stopHosts, writeHostIdentity } from './host.js';
import { withLabLock } from './lock.js';
import { machineMirrors } from './mirror.js';
import { mountsUnder, unmountUnder } from './mounts.js';
import {
  ensureBridge,
  ensureHostNetwork,
  hostLinkDown,
  hostLinkUp,
  labNetnsNames,
  linkExists,
  removeBridge,
  removeHostNetwork,
} from './network.js';
import { LAB_PACKAGES, LAB_SITE_PACKAGES, assertRoot, ensurePackages } from './prereqs.js';
import { procAlive } from './proc.js';
import { isLabProxy, recordedProxyPid, startProxy, stopProxy } from './proxy.js';
import { knownHostsText, ensureOperatorKey, labSsh, waitForSshBanners } from './ssh.js';
import { Progress, say, step } from './progress.js';
import { readState, removeState, writeState, type LabHostState, type LabState } from './state.js';

/** Where the lab keeps operator-side files; default: the current working directory. */
export interface LabOptions {
  /** Project dir whose `.hakube/lab` holds the SSH key, known_hosts, hosts.yaml and console logs. @default process.cwd() */
  readonly projectDir?: string;
}

/** Options of `labUp`. */
export interface LabUpOptions extends LabOptions {
  /** Number of hosts, 1–8. @default 3 */
  readonly hosts?: number;
  /**
   * Also serve the lab as an air-gapped Kubernetes site (apt repository and registry on the bridge; see
   * `labClusterSettings`). Builds Kubernetes and its parts from source modules first when they are not cached (tens
   * of minutes on 2 cores). @default false
   */
  readonly kubernetes?: boolean;
}

/** One host in `labStatus`. */
export interface LabHostStatus {
  readonly name: string;
  readonly address: string;
  /** Its systemd-nspawn process runs. */
  readonly running: boolean;
  /** `ssh root@address true` with the operator key and the pinned host key works. */
  readonly sshReachable: boolean;
  /** PID of its systemd-nspawn while running. */
  readonly pid?: number;
}

/** The lab's state as `labStatus` sees it. */
export interface LabStatus {
  /** `down`: nothing recorded; `starting`: an `up` is running or was interrupted; `up`: ready. */
  readonly phase: 'down' | 'starting' | 'up';
  readonly hosts: readonly LabHostStatus[];
  /** The lab's apt-cacher-ng runs. */
  readonly proxyRunning: boolean;
  /** The Kubernetes site (apt repository, registry) when the lab serves one. */
  readonly site?: { readonly kubernetesRepoBaseUrl: string; readonly imageRepository: string };
  /** The live inventory, when the lab is up. */
  readonly inventoryPath?: string;
}

/** What `labUp` did. */
export interface LabUpResult {
  readonly status: LabStatus;
  /** The live inventory (host keys pinned). */
  readonly inventory: Inventory;
  readonly inventoryPath: string;
  /** False when the lab was already up and nothing was started. */
  readonly started: boolean;
  /** Seconds spent: building the base (0 when cached), booting until sshd answered everywhere, and in total. */
  readonly seconds: { readonly base: number; readonly boot: number; readonly total: number };
}

/** What `labDown` did. */
export interface LabDownResult {
  readonly seconds: number;
  /** Things that could not be removed (empty when the machine is clean). */
  readonly leftovers: readonly string[];
}

/** Host props of lab host `spec` (the shape of both the would-be and the live inventory). */
function labHostProps(spec: LabHostSpec, keyPath: string, hostKey?: string): HostProps {
  return { name: spec.name, address: spec.address, privateKeyPath: keyPath, hostKey, labels: { lab: 'true' } };
}

/**
 * The inventory the lab would have with `count` hosts — without host keys, since those are generated at `up`. Pure:
 * for synthesizing against the lab when it is not running.
 */
export function labInventory(count: number = LAB_DEFAULT_HOSTS, keyPath: string = labPaths().keyPath): Inventory {
  return new Inventory(labHostSpecs(count).map((spec) => labHostProps(spec, keyPath)));
}

/** Path of the live lab inventory (`<projectDir>/.hakube/lab/hosts.yaml`); the file exists only while the lab is up. */
export function labInventoryPath(projectDir?: string): string {
  return labPaths(projectDir).inventoryPath;
}

/** The live lab inventory, or undefined when the lab is not up (no hosts.yaml). */
export function liveLabInventory(projectDir?: string): Inventory | undefined {
  const path = labInventoryPath(projectDir);
  return existsSync(path) ? Inventory.fromYamlFile(path) : undefined;
}

/**
 * Start the lab: prerequisites, base (cached), bridge, apt proxy, and `hosts` booted hosts that answer SSH; writes
 * `.hakube/lab/hosts.yaml`. Idempotent: when the lab is up with the same number of hosts it only reports.
 */
export async function labUp(options: LabUpOptions = {}): Promise<LabUpResult> {
  assertRoot();
  return withLabLock(() => up(options));
}

async function up(options: LabUpOptions): Promise<LabUpResult> {
  const count = options.hosts ?? LAB_DEFAULT_HOSTS;
  assertHostCount(count);
  const paths = labPaths(options.projectDir);
  const existing = readState();
  if (existing) return alreadyUp(existing, count, paths, options.kubernetes ?? false);
  assertNoLeftovers();
  const started = Date.now();

  await ensurePackages(options.kubernetes ? [...LAB_PACKAGES, ...LAB_SITE_PACKAGES] : LAB_PACKAGES);
  const mirrors = machineMirrors();
  const operatorKey = ensureOperatorKey(paths);
  const baseSeconds = await ensureBase(mirrors);
  const site = options.kubernetes ? await buildLabSite() : undefined;

  const specs = labHostSpecs(count);
  const state: LabState = {
    version: 1,
    phase: 'starting',
    hosts: count,
    projectDir: paths.projectDir,
    nodes: specs.map((s) => ({ name: s.name, address: s.address, log: join(paths.logDir, `${s.name}.log`) })),
    startedAt: new Date().toISOString(),
    cgroupBases: labCgroupBases(),
  };
  writeState(state);
  try {
    const hostKeys = await step(`preparing network, apt proxy and ${count} host roots`, async () => {
      ensureBridge();
      state.proxyPid = await startProxy(mirrors);
      writeState(state);
      return specs.map((spec) => {
        ensureHostNetwork(spec);
        mountHostRoot(spec);
        writeContainerSupport(spec);
        writeSiteAccess(spec);
        if (site) writeSiteResolver(spec);
        return writeHostIdentity(spec, specs, operatorKey);
      });
    });

    if (site) {
      state.site = await serveLabSite(site);
      writeState(state);
      announceSite(state.site);
    }
    const bootStarted = Date.now();
    await bootAndWait(specs, state, paths);
    const bootSeconds = (Date.now() - bootStarted) / 1000;

    const inventory = new Inventory(specs.map((spec, i) => labHostProps(spec, paths.keyPath, hostKeys[i])));
    writeOperatorFiles(paths, inventory);
    await step('checking ssh with the pinned host keys', () => verifySsh(paths, specs));
    state.phase = 'up';
    writeState(state);
    const total = (Date.now() - started) / 1000;
    say(`up: ${count} hosts in ${total.toFixed(1)} s; inventory: ${paths.inventoryPath}`);
    return {
      status: await labStatus({ projectDir: paths.projectDir }),
      inventory,
      inventoryPath: paths.inventoryPath,
      started: true,
      seconds: { base: baseSeconds, boot: bootSeconds, total },
    };
  } catch (error) {
    say('`lab up` failed; `hakube lab down` removes what it created');
    throw error;
  }
}

async function alreadyUp(existing: LabState, count: number, paths: LabPaths, kubernetes: boolean): Promise<LabUpResult> {
  if (existing.phase !== 'up') {
    throw new LabError('an earlier `hakube lab up` did not finish (or is still running): run `hakube lab down` first');
  }
  if (existing.hosts !== count) {
    throw new LabError(`the lab is up with ${existing.hosts} hosts, not ${count}: run \`hakube lab down\` first to change the number of hosts`);
  }
  if (kubernetes && !existing.site) {
    throw new LabError('the lab is up without the Kubernetes site: run `hakube lab down` first, then `hakube lab up --kubernetes`');
  }
  const livePaths = labPaths(existing.projectDir);
  if (livePaths.projectDir !== paths.projectDir) say(`note: the lab was started from ${existing.projectDir}`);
  say(`the lab is already up with ${count} hosts`);
  const inventory = Inventory.fromYamlFile(livePaths.inventoryPath);
  return {
    status: await labStatus({ projectDir: existing.projectDir }),
    inventory,
    inventoryPath: livePaths.inventoryPath,
    started: false,
    seconds: { base: 0, boot: 0, total: 0 },
  };
}

/** Refuse to start over remains of a lab whose state is gone. */
function assertNoLeftovers(): void {
  const found = [
    ...(linkExists(LAB_BRIDGE) ? [`bridge ${LAB_BRIDGE}`] : []),
    ...labNetnsNames().map((n) => `netns ${n}`),
    ...mountsUnder(LAB_RUN_DIR).map((m) => `mount ${m}`),
  ];
  if (found.length) throw new LabError(`remains of an earlier lab exist (${found.join(', ')}): run \`hakube lab down\` first`);
}

/** Boot hosts (recording each PID at once) and wait until each one's sshd answers. */
async function bootAndWait(specs: readonly LabHostSpec[], state: LabState, paths: LabPaths): Promise<void> {
  const nodes = specs.map((spec) => nodeOf(state, spec.name));
  await step(`booting ${specs.map((s) => s.name).join(', ')}`, async (progress) => {
    specs.forEach((spec, i) => {
      const node = nodes[i]!;
      mkdirSync(paths.logDir, { recursive: true });
      writeFileSync(node.log, '');
      node.pid = bootHost(spec, node.log, hostCgroupBasesOf(state));
      writeState(state);
    });
    await waitForHosts(specs, nodes, progress);
    specs.forEach((spec, i) => enableContainers(spec, nodes[i]!.pid!));
  });
}

async function waitForHosts(specs: readonly LabHostSpec[], nodes: readonly LabHostState[], progress: Progress): Promise<void> {
  const addresses = specs.map((s) => s.address);
  const assertAlive = () => {
    const dead = nodes.find((n) => n.pid !== undefined && !procAlive(n.pid));
    if (dead) throw new LabError(`${dead.name}: systemd-nspawn exited; see its console log ${dead.log}`);
  };
  await waitForSshBanners(addresses, 90000, (ready) => progress.update(`sshd answers on ${ready}/${addresses.length}`), assertAlive);
}

/** Write `.hakube/lab/known_hosts` and `.hakube/lab/hosts.yaml`. */
function writeOperatorFiles(paths: LabPaths, inventory: Inventory): void {
  mkdirSync(paths.labDir, { recursive: true });
  const hosts = inventory.hosts.map((h) => ({ address: h.address, hostKey: h.hostKey ?? '' }));
  writeFileSync(paths.knownHostsPath, knownHostsText(hosts), { mode: 0o644 });
  const header = '# The running hakube lab (written by `hakube lab up`, removed by `hakube lab down`).\n';
  writeFileSync(paths.inventoryPath, header + inventory.toYaml(), { mode: 0o644 });
}

/** `ssh … root@host true` with strict host key checking against the pinned keys, on every host. */
async function verifySsh(paths: LabPaths, specs: readonly LabHostSpec[]): Promise<void> {
  const results = await Promise.all(specs.map((s) => labSsh(paths, s.address, 'true', { timeoutMs: 30000 })));
  const failed = results.map((r, i) => ({ r, spec: specs[i]! })).filter(({ r }) => !r.ok);
  if (failed.length) {
    throw new LabError(`ssh failed on ${failed.map(({ spec, r }) => `${spec.name}: ${r.stderr.trim() || `exit ${r.code}`}`).join('; ')}`);
  }
}

function nodeOf(state: LabState, name: string): LabHostState {
  const node = state.nodes.find((n) => n.name === name);
  if (!node) throw new LabError(`no lab host ${JSON.stringify(name)} (hosts: ${state.nodes.map((n) => n.name).join(', ')})`);
  return node;
}

/** Where a host boots: under the cgroup bases recorded at `up` (one per hierarchy), whoever powers it on. */
function hostCgroupBasesOf(state: LabState): readonly string[] {
  return state.cgroupBases ?? labCgroupBases();
}

/** Where to look for and clean up the hosts' cgroups: the bases recorded at `up` and this process's own. */
function cgroupBasesOf(state: LabState | undefined): string[] {
  return [...new Set([...(state?.cgroupBases ?? []), ...labCgroupBases()])];
}

function nodePid(state: LabState | undefined, name: string): number | undefined {
  return state?.nodes.find((n) => n.name === name)?.pid;
}

function specOf(name: string): LabHostSpec {
  const m = /^lab-(\d+)$/.exec(name);
  return labHostSpec(Number(m?.[1]));
}

/**
 * Take the lab down and leave nothing behind: hosts (SIGTERM, SIGKILL after a timeout), the apt proxy, mounts,
 * namespaces, veths, the bridge, cgroups, state, hosts.yaml and known_hosts. Tolerates an interrupted `up` and runs
 * again harmlessly. Only processes the lab recorded (and verified by command line) are signalled. Keeps the base
 * cache, the apt cache and the operator key.
 */
export async function labDown(options: LabOptions = {}): Promise<LabDownResult> {
  assertRoot();
  return withLabLock(() => down(options));
}

async function down(options: LabOptions): Promise<LabDownResult> {
  const started = Date.now();
  const state = readState();
  const paths = labPaths(state?.projectDir ?? options.projectDir);
  const leftovers: string[] = [];
  const cgroupBases = cgroupBasesOf(state);
  await step('taking the lab down', async (progress) => {
    const running = (state?.nodes ?? []).filter((n) => isHostNspawn(n.pid, n.name));
    if (running.length) {
      progress.update(`stopping ${running.map((n) => n.name).join(', ')}`);
      await stopHosts(running, 'clean', cgroupBases, 30000, (alive) => progress.update(`${alive} host(s) shutting down`));
    }
    assertNoUnrecordedHosts(cgroupBases);
    progress.update('site, apt proxy, mounts, network, cgroups');
    if (state?.site) await stopLabSite(state.site);
    await stopProxy(state?.proxyPid ?? recordedProxyPid());
    leftovers.push(...unmountUnder(LAB_RUN_DIR).map((m) => `mount ${m}`));
    const netns = new Set([...labNetnsNames(), ...labHostSpecs(LAB_MAX_HOSTS).map((s) => s.netns)]);
    for (const name of netns) removeHostNetwork(name);
    removeBridge();
    for (const spec of labHostSpecs(LAB_MAX_HOSTS)) if (!isHostNspawn(nodePid(state, spec.name), spec.name)) removeNspawnLeftovers(spec.name);
    removeEmptyNspawnDirs();
    leftovers.push(...removeLabCgroups(cgroupBases).map((dir) => `cgroup ${dir}`));
    if (mountsUnder(LAB_RUN_DIR).length === 0) run('rm', ['-rf', '--one-file-system', LAB_RUN_DIR]);
    removeState();
    rmSync(paths.inventoryPath, { force: true });
    rmSync(paths.knownHostsPath, { force: true });
  });
  leftovers.push(...labNetnsNames().map((n) => `netns ${n}`));
  if (linkExists(LAB_BRIDGE)) leftovers.push(`bridge ${LAB_BRIDGE}`);
  for (const node of state?.nodes ?? []) if (isHostNspawn(node.pid, node.name)) leftovers.push(`process ${node.pid} (${node.name})`);
  if (state?.proxyPid !== undefined && isLabProxy(state.proxyPid)) leftovers.push(`process ${state.proxyPid} (apt-cacher-ng)`);
  if (state?.site) leftovers.push(...runningSiteServers(state.site));
  if (leftovers.length) say(`could not remove: ${leftovers.join(', ')}`);
  return { seconds: (Date.now() - started) / 1000, leftovers };
}

/**
 * Refuse to tear down under processes the lab did not record (e.g. its state file was deleted while hosts ran):
 * they are never killed by guesswork, so name them for the operator instead.
 */
function assertNoUnrecordedHosts(cgroupBases: readonly string[]): void {
  const stray = labHostSpecs(LAB_MAX_HOSTS).flatMap((spec) => {
    const pids = hostCgroupPids(spec.name, cgroupBases).filter(procAlive);
    return pids.length ? [`${spec.name}: ${pids.join(' ')}`] : [];
  });
  if (stray.length) {
    throw new LabError(`processes the lab has no record of still run in its cgroups (${stray.join('; ')}); stop them, then run \`hakube lab down\` again`);
  }
}

/** Each host: running? answers SSH with its pinned key? */
export async function labStatus(options: LabOptions = {}): Promise<LabStatus> {
  const state = readState();
  if (!state) return { phase: 'down', hosts: [], proxyRunning: false };
  const paths = labPaths(state.projectDir ?? options.projectDir);
  const hasInventory = existsSync(paths.inventoryPath);
  const hosts = await Promise.all(
    state.nodes.map(async (node): Promise<LabHostStatus> => {
      const running = isHostNspawn(node.pid, node.name);
      const sshReachable =
        running && hasInventory && (await labSsh(paths, node.address, 'true', { connectTimeoutSeconds: 3, timeoutMs: 10000 })).ok;
      return { name: node.name, address: node.address, running, sshReachable, pid: running ? node.pid : undefined };
    }),
  );
  return {
    phase: state.phase,
    hosts,
    proxyRunning: state.proxyPid !== undefined && isLabProxy(state.proxyPid),
    site: state.site && { kubernetesRepoBaseUrl: state.site.kubernetesRepoBaseUrl, imageRepository: state.site.imageRepository },
    inventoryPath: hasInventory ? paths.inventoryPath : undefined,
  };
}

/** Status as a small table for the terminal. Pure. */
export function formatStatus(status: LabStatus): string {
  if (status.phase === 'down') return 'lab is down\n';
  const rows = [['HOST', 'ADDRESS', 'RUNNING', 'SSH'], ...status.hosts.map((h) => [h.name, h.address, h.running ? 'yes' : 'no', h.sshReachable ? 'yes' : 'no'])];
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  const lines = rows.map((r) => r.map((cell, col) => cell.padEnd(widths[col]!)).join('  ').trimEnd());
  lines.push('', `lab: ${status.phase}; apt proxy: ${status.proxyRunning ? 'running' : 'not running'}`);
  if (status.site) lines.push(`site: packages ${status.site.kubernetesRepoBaseUrl}, images ${status.site.imageRepository}`);
  if (status.inventoryPath) lines.push(`inventory: ${status.inventoryPath}`);
  return `${lines.join('\n')}\n`;
}

/** Power actions of `labPower`. */
export type LabPowerAction = 'off' | 'on' | 'kill';

/**
 * Power a lab host: `off` = clean shutdown (SIGTERM to its nspawn), `kill` = hard power-off (SIGKILL to its init and
 * nspawn), `on` = boot it again with the same root and identity and wait for sshd. After `off`/`kill` the host's
 * `eth0` is down and without addresses (a dead VIP holder must not answer); `on` restores its address.
 */
export async function labPower(host: string, action: LabPowerAction, options: LabOptions = {}): Promise<void> {
  assertRoot();
  if (!['off', 'on', 'kill'].includes(action)) throw new LabError(`power action ${JSON.stringify(action)} is not off, on or kill`);
  return withLabLock(() => power(host, action, options));
}

async function power(host: string, action: LabPowerAction, options: LabOptions): Promise<void> {
  const state = readState();
  if (!state || state.phase !== 'up') throw new LabError('the lab is not up: run `hakube lab up` first');
  const node = nodeOf(state, host);
  const spec = specOf(node.name);
  const paths = labPaths(state.projectDir ?? options.projectDir);
  const running = isHostNspawn(node.pid, node.name);
  if (action === 'on') {
    if (running) return say(`${host} is already running`);
    await step(`powering on ${host}`, async (progress) => {
      hostLinkUp(spec);
      node.pid = bootHost(spec, node.log, hostCgroupBasesOf(state));
      writeState(state);
      await waitForHosts([spec], [node], progress);
      enableContainers(spec, node.pid);
      await verifySsh(paths, [spec]);
    });
    return;
  }
  await step(`${action === 'kill' ? 'killing' : 'powering off'} ${host}`, async () => {
    // a power cut silences the host at once: its link goes first, before the kernel has reaped its processes
    if (action === 'kill') hostLinkDown(spec);
    if (running) await stopHosts([{ name: node.name, pid: node.pid }], action === 'kill' ? 'hard' : 'clean', cgroupBasesOf(state));
    hostLinkDown(spec);
    node.pid = undefined;
    writeState(state);
    const stray = hostCgroupPids(node.name, cgroupBasesOf(state));
    if (stray.length) say(`${host}: processes ${stray.join(', ')} remain in its cgroup`);
  });
}

