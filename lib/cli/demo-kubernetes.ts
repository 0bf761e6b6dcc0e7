import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Construct } from 'constructs';
import { HaCluster } from '../../constructs/ha-cluster.js';
import { cachedLabArtifacts } from '../build/lab-artifacts.js';
import { engineEnv } from '../engine.js';
import { OPERATOR_KUBECONFIG_FILE } from '../pki/kubernetes.js';
import type { Host } from '../inventory.js';
import { labClusterSettings, labUp, readState } from '../lab/index.js';
import { say } from '../lab/progress.js';
import { demoEngine } from './demo.js';

/** The cluster's API VIP: in the lab's subnet, above the host addresses. */
export const CLUSTER_DEMO_VIP = '10.77.0.100';
/** haproxy's port on the VIP (seed 003's 8443: the API servers keep 6443 on the same hosts). */
export const CLUSTER_DEMO_PORT = 8443;
/** Stack of the Kubernetes demo app (`lab-cluster.ts`), and its cluster's name. */
export const CLUSTER_DEMO_STACK = 'lab-cluster';
/** The app `hakube demo kubernetes` deploys, relative to the project root. */
export const CLUSTER_DEMO_APP = 'lab-cluster.ts';
/** Secrets of the demo cluster, relative to the project (`HaCluster`'s default for its id). */
export const CLUSTER_DEMO_SECRETS_DIR = `.hakube/${CLUSTER_DEMO_STACK}`;
/** Where the app is synthesized (its own directory: the etcd demo's `cdktf.out` is left alone). */
export const CLUSTER_DEMO_OUT = 'cdktf.out.lab-cluster';
/** Hosts of the demo's lab: 3 masters and 3 workers. */
export const CLUSTER_DEMO_HOSTS = 6;

/**
 * Seed 003 on lab hosts: the first three hosts are masters carrying haproxy (8443) and keepalived with the VIP,
 * stacked etcd; the rest are workers; everything from the lab's site (`labClusterSettings`). Secrets go to
 * `options.secretsDir` (default `.hakube/lab-cluster`).
 */
export function labClusterTopology(scope: Construct, masters: Host[], workers: Host[], options: { projectDir?: string; secretsDir?: string } = {}): HaCluster {
  return new HaCluster(scope, CLUSTER_DEMO_STACK, {
    ...labClusterSettings(options.projectDir, `${CLUSTER_DEMO_VIP}:${CLUSTER_DEMO_PORT}`),
    ...(options.secretsDir ? { secretsDir: options.secretsDir } : {}),
    controlPlaneHosts: masters,
    workerHosts: workers,
    endpoint: {
      vip: `${CLUSTER_DEMO_VIP}/24`,
      port: CLUSTER_DEMO_PORT,
      // the VIP moves within about two seconds of haproxy stopping (kubeadm's reference waits 10 × 3 s)
      trackInterval: 1,
      trackFall: 2,
    },
  });
}

/** Options of {@link runKubernetesDemo}. */
export interface KubernetesDemoOptions {
  /** Project root holding `lab-cluster.ts`. @default the working directory */
  readonly projectDir?: string;
  /** Hosts the lab is started with (the app takes its hosts from `HAKUBE_HOSTS` when set, else all of them). @default 6 */
  readonly labHosts?: number;
  /** Environment of `cdktf deploy` (e.g. `HAKUBE_HOSTS`). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** What the demo did, for the CLI and the suite that runs it. */
export interface KubernetesDemoResult {
  readonly ok: boolean;
  /** Wall seconds of `cdktf deploy`. */
  readonly deploySeconds: number;
  /** Seconds from the start of `cdktf deploy` until every node was Ready. */
  readonly readySeconds: number;
  readonly kubeconfig: string;
}

/**
 * `hakube demo kubernetes`: lab up with the Kubernetes site, `cdktf deploy` of `lab-cluster.ts` (seed 003), wait until
 * every node is Ready, then show the nodes and the kube-system pods through the VIP with the operator's kubeconfig.
 */
export async function runKubernetesDemo(options: KubernetesDemoOptions = {}): Promise<KubernetesDemoResult> {
  const projectDir = options.projectDir ?? process.cwd();
  const engine = await demoEngine();
  await labUp({ hosts: options.labHosts ?? CLUSTER_DEMO_HOSTS, kubernetes: true, projectDir });
  retireStaleState(statePath(projectDir), readState()?.startedAt);
  // from here on the state describes this lab (also after a failed deploy, which a re-run finishes)
  recordLab(statePath(projectDir), readState()?.startedAt);
  const kubeconfig = join(projectDir, CLUSTER_DEMO_SECRETS_DIR, OPERATOR_KUBECONFIG_FILE);
  say(`deploying seed 003 (3 masters with haproxy + keepalived on ${CLUSTER_DEMO_VIP}:${CLUSTER_DEMO_PORT}, stacked etcd, workers) with cdktf deploy (${engine.version}); a first deploy takes minutes`, 'demo');
  const started = Date.now();
  const deploy = spawnSync('npx', ['cdktf', 'deploy', '--auto-approve', '--app', `npx tsx ${CLUSTER_DEMO_APP}`, '--output', CLUSTER_DEMO_OUT, CLUSTER_DEMO_STACK], {
    cwd: projectDir,
    stdio: 'inherit',
    env: engineEnv(engine, options.env ?? process.env),
  });
  const deploySeconds = (Date.now() - started) / 1000;
  if (deploy.status !== 0) {
    say(`cdktf deploy failed (exit ${deploy.status}) after ${deploySeconds.toFixed(0)} s; deploy again to finish from where it stopped`, 'demo');
    return { ok: false, deploySeconds, readySeconds: NaN, kubeconfig };
  }
  say(`deployed in ${deploySeconds.toFixed(0)} s; waiting for every node to be Ready (kubectl through the VIP, ${kubeconfig})`, 'demo');
  const kubectl = operatorKubectl(kubeconfig);
  const ready = await waitForReadyNodes(kubectl, 300);
  const readySeconds = (Date.now() - started) / 1000;
  process.stdout.write(kubectl(['get', 'nodes', '-o', 'wide']).stdout);
  process.stdout.write('\n');
  process.stdout.write(kubectl(['-n', 'kube-system', 'get', 'pods', '-o', 'wide']).stdout);
  say(
    ready
      ? `every node Ready ${readySeconds.toFixed(0)} s after the deploy started; try: ${kubectl.command} get pods -A`
      : `not every node is Ready after 5 minutes: ${kubectl.command} describe nodes`,
    'demo',
  );
  return { ok: ready, deploySeconds, readySeconds, kubeconfig };
}

/** kubectl (the lab's own build) with the operator's kubeconfig; returns status and output. */
export function operatorKubectl(kubeconfig: string) {
  const artifacts = cachedLabArtifacts();
  if (!artifacts) throw new Error('the lab artifacts are not built: run `hakube build all`');
  const binary = join(artifacts.kubernetes, 'kubectl');
  /** Run kubectl with `args`; `input` goes to its standard input (e.g. `apply -f -`). */
  const run = (args: readonly string[], timeoutSeconds = 20, input?: string) => {
    const r = spawnSync(binary, [`--kubeconfig=${kubeconfig}`, `--request-timeout=${timeoutSeconds}s`, ...args], { encoding: 'utf8', input, timeout: (timeoutSeconds + 10) * 1000 });
    return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };
  return Object.assign(run, { command: `${binary} --kubeconfig=${kubeconfig}` });
}

/** Poll until every node reports Ready (at least one node), printing changes; false at the deadline. */
async function waitForReadyNodes(kubectl: ReturnType<typeof operatorKubectl>, timeoutSeconds: number): Promise<boolean> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let last = '';
  for (;;) {
    const r = kubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}'], 10);
    const states = r.stdout.trim();
    const nodes = states ? states.split(' ') : [];
    const notReady = nodes.filter((n) => !n.endsWith('=True')).map((n) => n.split('=')[0]);
    if (r.ok && nodes.length > 0 && notReady.length === 0) return true;
    const line = r.ok ? `${nodes.length - notReady.length}/${nodes.length} nodes Ready${notReady.length ? ` (waiting for ${notReady.join(', ')})` : ''}` : 'the API does not answer yet';
    if (line !== last) say(line, 'demo');
    last = line;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

/** The demo stack's local state file (cdktf's default `terraform.<stack>.tfstate` in the project). */
function statePath(projectDir: string): string {
  return join(projectDir, `terraform.${CLUSTER_DEMO_STACK}.tfstate`);
}

/** Records which lab (its start time) the state file describes, beside it (`<state>.lab`). */
export function recordLab(state: string, labStartedAt: string | undefined): void {
  if (labStartedAt) writeFileSync(`${state}.lab`, `${labStartedAt}\n`);
}

/**
 * State written for an earlier lab describes hosts that are gone: `lab down` + `up` gives blank hosts, which
 * Terraform would report as "No changes". Such a state (or one without a record) is moved aside to
 * `<state>.previous-lab` so the deploy starts over; returns whether it was.
 */
export function retireStaleState(state: string, labStartedAt: string | undefined): boolean {
  if (!existsSync(state)) return false;
  const recorded = existsSync(`${state}.lab`) ? readFileSync(`${state}.lab`, 'utf8').trim() : undefined;
  if (recorded !== undefined && recorded === labStartedAt) return false;
  const aside = `${state}.previous-lab`;
  renameSync(state, aside);
  say(`${state} described an earlier lab's hosts: moved to ${aside}; deploying from scratch`, 'demo');
  return true;
}
