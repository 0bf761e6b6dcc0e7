/**
 * Seed 003 on six lab hosts spread over three Terraform stacks in per-host mode, deployed with `cdktf deploy '*'` as
 * a user with a large cluster would: `maxHostsPerStack: 2` puts the three masters in the core stack (a core is never
 * split) and the workers in `lab-stacks-workers-1` (lab-4, lab-5) and `-2` (lab-6); each worker's steps after its
 * reachability check are one resource run by the group runner. Then: every node Ready; a re-deploy runs no step on
 * any host; a forced replacement of one worker's group runs exactly that group's steps again, on that host only.
 *
 * A full cluster deploy more than the CI lab suite's time allows, so it runs when asked:
 *   HAKUBE_LAB_STACKS=1 npx vitest run -c vitest.lab.config.ts test/lab/cluster-stacks.e2e.test.ts
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { operatorKubectl } from '../../lib/cli/demo-kubernetes.js';
import { engineEnv, findEngine } from '../../lib/engine.js';
import type { Inventory } from '../../lib/inventory.js';
import { labDown } from '../../lib/lab/index.js';
import { OPERATOR_KUBECONFIG_FILE } from '../../lib/pki/kubernetes.js';
import { STEP_LOG, parseStepLog } from '../../lib/plan/step.js';
import { tempDir } from '../fixtures.js';
import { acquireLab, figure, labHostsFile, onHost, projectDir, terraform, until } from './helpers.js';

const HOSTS = ['lab-1', 'lab-2', 'lab-3', 'lab-4', 'lab-5', 'lab-6'];
const STACK = 'lab-stacks';
const STACKS = [STACK, `${STACK}-workers-1`, `${STACK}-workers-2`];
const DEPLOY_TIMEOUT = 30 * 60_000;
const work = tempDir('hakube-lab-stacks-');
const outdir = join(work, 'cdktf.out');
const secretsDir = join(work, 'secrets');
let inventory: Inventory;

/** The user's app: seed 003 from the Kubernetes demo, its steps spread over stacks of 2 hosts, per host. */
function writeApp(): string {
  // inside the project, where its packages resolve (.hakube is not committed)
  const app = join(projectDir, '.hakube', 'lab-stacks-app.ts');
  const from = (path: string) => JSON.stringify(join(projectDir, path));
  mkdirSync(join(projectDir, '.hakube'), { recursive: true });
  writeFileSync(
    app,
    `import { App, LocalBackend, TerraformStack } from 'cdktf';
import { labClusterTopology } from ${from('lib/cli/demo-kubernetes.js')};
import { Inventory, Plan, TerraformProvisioner } from ${from('index.js')};
const hosts = Inventory.fromYamlFile(process.env.HAKUBE_HOSTS!).hosts;
const app = new App();
const stack = new TerraformStack(app, ${JSON.stringify(STACK)});
const state = (name: string) => ${JSON.stringify(work)} + '/' + name + '.tfstate';
new LocalBackend(stack, { path: state(stack.node.id) });
labClusterTopology(stack, hosts.slice(0, 3), hosts.slice(3), { projectDir: ${JSON.stringify(projectDir)}, secretsDir: ${JSON.stringify(secretsDir)} });
new TerraformProvisioner(stack, 'provision', {
  plan: await Plan.of(stack),
  maxHostsPerStack: 2,
  combine: 'per-host',
  workerStackBackend: (s) => new LocalBackend(s, { path: state(s.node.id) }),
});
app.synth();
`,
  );
  return app;
}

function deployAll(app: string) {
  const engine = findEngine()!;
  const started = Date.now();
  const r = spawnSync('npx', ['cdktf', 'deploy', '*', '--auto-approve', '--app', `npx tsx ${app}`, '--output', outdir], {
    cwd: projectDir,
    env: { ...engineEnv(engine), HAKUBE_HOSTS: labHostsFile(work, HOSTS.length) },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 256 * 2 ** 20,
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}`, seconds: (Date.now() - started) / 1000 };
}

/** How many step runs each host's step log holds. */
async function stepRuns(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const host of HOSTS) {
    const r = await onHost(inventory, host, `cat ${STEP_LOG} 2>/dev/null || true`);
    expect(r.ok, r.out).toBe(true);
    counts[host] = parseStepLog(r.out).length;
  }
  return counts;
}

describe.skipIf(process.env.HAKUBE_LAB_STACKS !== '1')('seed 003 over three stacks, per host, with cdktf deploy', () => {
  afterAll(async () => {
    await labDown({ projectDir });
  }, 10 * 60_000);

  it('deploys every stack, the core first; every node Ready; a re-deploy runs nothing; a forced group re-runs its steps only', async () => {
    inventory = (await acquireLab(HOSTS.length, { kubernetes: true })).inventory;
    const app = writeApp();
    const started = Date.now();
    const deployed = deployAll(app);
    expect(deployed.status, deployed.output.slice(-5000)).toBe(0);
    figure('three stacks, per host: cdktf deploy', deployed.seconds);
    const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8')) as { stacks: Record<string, { dependencies: string[] }> };
    expect(Object.keys(manifest.stacks).sort()).toEqual(STACKS);
    // cdktf deployed the core stack before any worker stack: every step on a master ended before the first one on a
    // worker started (the hosts share this machine's clock)
    const logs = Object.fromEntries(await Promise.all(HOSTS.map(async (h) => [h, parseStepLog((await onHost(inventory, h, `cat ${STEP_LOG}`)).out)] as const)));
    const coreEnded = Math.max(...HOSTS.slice(0, 3).flatMap((h) => logs[h].map((e) => e.ended)));
    const workersStarted = Math.min(...HOSTS.slice(3).flatMap((h) => logs[h].map((e) => e.started)));
    expect(workersStarted).toBeGreaterThan(coreEnded);

    const kubectl = operatorKubectl(join(secretsDir, OPERATOR_KUBECONFIG_FILE));
    await until('every node Ready', 10 * 60_000, async () => {
      const r = kubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}'], 10);
      const ready = r.ok ? r.stdout.trim().split(' ').filter((p) => p.endsWith('=True')).map((p) => p.split('=')[0]) : [];
      return HOSTS.every((h) => ready.includes(h)) ? true : undefined;
    });
    figure('three stacks, per host: every node Ready after the start of the deploy', (Date.now() - started) / 1000);

    const before = await stepRuns();
    const again = deployAll(app);
    expect(again.status, again.output.slice(-3000)).toBe(0);
    expect(await stepRuns()).toEqual(before);
    figure('three stacks, per host: a re-deploy that runs no step', again.seconds);

    // lab-6's group: every step after its reachability check, one resource
    const workerStack = join(outdir, 'stacks', `${STACK}-workers-2`);
    const resources = JSON.parse(readFileSync(join(workerStack, 'cdk.tf.json'), 'utf8')).resource.terraform_data as Record<string, { '//': { hakube: { host: string; steps?: string[] } } }>;
    const [name, group] = Object.entries(resources).find(([, r]) => r['//'].hakube.host === 'lab-6' && r['//'].hakube.steps)!;
    expect(group['//'].hakube.steps!.length).toBeGreaterThanOrEqual(5);
    const forced = terraform(workerStack, 'apply', '-input=false', '-auto-approve', `-replace=terraform_data.${name}`);
    expect(forced.status, forced.output.slice(-3000)).toBe(0);
    figure(`three stacks, per host: lab-6's group of ${group['//'].hakube.steps!.length} steps forced to run again`, forced.seconds);
    const after = await stepRuns();
    expect(after).toEqual({ ...before, 'lab-6': before['lab-6'] + group['//'].hakube.steps!.length });
    const log = parseStepLog((await onHost(inventory, 'lab-6', `cat ${STEP_LOG}`)).out).slice(-group['//'].hakube.steps!.length);
    expect(log.map((e) => [e.id, e.exitStatus])).toEqual(group['//'].hakube.steps!.map((id) => [id, 0]));
    expect(kubectl(['get', 'node', 'lab-6', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'], 10).stdout.trim()).toBe('True');
  }, DEPLOY_TIMEOUT);
});
