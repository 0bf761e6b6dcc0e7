/**
 * What a large cluster costs before a single SSH command runs: for an HaCluster of 3 masters + N workers, planning
 * and cdktf synthesis (time, memory, and synthesis against its floor: writing the same JSON with JSON.stringify in
 * the same process), the stacks the plan is spread over, and `terraform apply` of those stacks with the provisioners
 * stripped, so only Terraform's own work is timed (local state, -parallelism=10), per resource.
 *
 *   npm run bench:scale                       # 100, 1000, 5000, 15000 workers; per-step, and per-host at 1000
 *   npm run bench:scale -- 1000 per-host      # one size, one mode
 *
 * Each size is synthesized in a child process (a fresh heap, Node's default heap limit). The worker stacks of one
 * size are alike, so apply times a sample of them: the core stack and HAKUBE_BENCH_APPLY_STACKS worker stacks
 * (default 2: the first and the last). The last line compares the sizes:
 * `scale: apply per resource 5000/100 = <ratio>; synth/floor at 15000 = <ratio>; stacks at 15000 = <n>`.
 * Then the Pulumi backend's per-host registration of 15,000 workers (bench/pulumi-scale.ts), unless
 * HAKUBE_BENCH_PULUMI=0.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { App, TerraformStack } from 'cdktf';
import { HaCluster, Host, Plan, TerraformProvisioner } from '../index.js';
import { engineEnv, findEngine } from '../lib/engine.js';

type Combine = 'per-step' | 'per-host';

/** What a child measures for one size. */
interface Synthesized {
  workers: number;
  combine: Combine;
  steps: number;
  planSeconds: number;
  synthSeconds: number;
  floorSeconds: number;
  /** Peak resident memory of the child, and the heap limit it ran under. */
  peakRssMiB: number;
  heapLimitMiB: number;
  /** Resources per stack, by stack name (the core stack first). */
  stacks: Record<string, number>;
  outdir: string;
}

function hosts(count: number, prefix: string, offset: number): Host[] {
  return Array.from({ length: count }, (_, i) => {
    const n = offset + i;
    return new Host({ name: `${prefix}-${i + 1}`, address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, privateKeyPath: '~/.ssh/id_ed25519' });
  });
}

/** Plan and synthesize in this process; the stacks stay in `outdir` for the parent to apply. */
async function synthesize(workers: number, combine: Combine): Promise<Synthesized> {
  const dir = mkdtempSync(join(tmpdir(), 'hakube-bench-'));
  const outdir = join(dir, 'out');
  const started = performance.now();
  const app = new App({ outdir });
  const stack = new TerraformStack(app, 'bench');
  new HaCluster(stack, 'bench', {
    kubernetesVersion: '1.34.2',
    controlPlaneHosts: hosts(3, 'cp', 10),
    workerHosts: hosts(workers, 'w', 1000),
    endpoint: { vip: '10.0.0.5/8' },
    podSubnet: '172.16.0.0/16',
    serviceSubnet: '172.17.0.0/16',
    cni: { plugin: 'calico' },
    secretsDir: join(dir, 'secrets'),
  });
  const plan = await Plan.of(stack);
  const planned = performance.now();
  const provisioner = new TerraformProvisioner(stack, 'provision', { plan, combine });
  app.synth();
  const synthesized = performance.now();
  // the floor: the same bytes, from the same objects, written by JSON.stringify in this process
  const files = provisioner.stacks.map((s) => join(outdir, 'stacks', s.node.id, 'cdk.tf.json'));
  const parsed = files.map((file) => JSON.parse(readFileSync(file, 'utf8')) as unknown);
  const floorStarted = performance.now();
  parsed.forEach((json, i) => writeFileSync(`${files[i]}.floor`, JSON.stringify(json, null, 2)));
  const floorSeconds = (performance.now() - floorStarted) / 1000;
  // the same bytes but for empty objects, which cdktf's writer spreads over two lines
  const normalized = (file: string) => readFileSync(file, 'utf8').replace(/\{\n\s*\}/g, '{}');
  for (const file of files) {
    if (normalized(file) !== normalized(`${file}.floor`)) throw new Error(`${file}: the floor did not write the same JSON`);
    rmSync(`${file}.floor`);
  }
  const stacks: Record<string, number> = {};
  parsed.forEach((json, i) => {
    stacks[provisioner.stacks[i]!.node.id] = Object.keys((json as { resource: Record<string, object> }).resource.terraform_data).length;
  });
  return {
    workers,
    combine,
    steps: plan.steps.length,
    planSeconds: (planned - started) / 1000,
    synthSeconds: (synthesized - planned) / 1000,
    floorSeconds,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    heapLimitMiB: getHeapStatistics().heap_size_limit / 2 ** 20,
    stacks,
    outdir,
  };
}

/** `terraform apply` of a synthesized stack with its provisioners stripped, in a copy; seconds and state size. */
function applyStripped(outdir: string, stack: string): { seconds: number; resources: number; stateMiB: number } {
  const engine = findEngine();
  if (!engine) throw new Error('bench: no Terraform or OpenTofu (run `npm run hakube -- build opentofu`)');
  const json = JSON.parse(readFileSync(join(outdir, 'stacks', stack, 'cdk.tf.json'), 'utf8'));
  const resources = Object.values(json.resource.terraform_data) as Array<Record<string, unknown>>;
  for (const r of resources) {
    delete r.provisioner;
    delete r.connection;
  }
  const dir = join(outdir, 'apply', stack);
  mkdirSync(dir, { recursive: true });
  json.terraform.backend = { local: { path: 'terraform.tfstate' } };
  writeFileSync(join(dir, 'main.tf.json'), JSON.stringify(json));
  const env = engineEnv(engine);
  execFileSync(engine.binary, ['init', '-input=false', '-no-color'], { cwd: dir, env, stdio: 'pipe' });
  const started = performance.now();
  execFileSync(engine.binary, ['apply', '-input=false', '-auto-approve', '-no-color', '-parallelism=10'], { cwd: dir, env, stdio: 'pipe', maxBuffer: 256 * 2 ** 20 });
  return { seconds: (performance.now() - started) / 1000, resources: resources.length, stateMiB: statSync(join(dir, 'terraform.tfstate')).size / 2 ** 20 };
}

/** The stacks whose apply is timed: the core and a sample of the (alike) worker stacks. */
function sample(stacks: readonly string[]): string[] {
  const workers = stacks.slice(1);
  const count = Number(process.env.HAKUBE_BENCH_APPLY_STACKS ?? 2);
  const picked = count >= workers.length ? workers : count <= 1 ? workers.slice(-1) : [workers[0]!, ...workers.slice(-(count - 1))];
  return [stacks[0]!, ...picked];
}

const fixed = (n: number, digits = 1) => n.toFixed(digits);

async function main(): Promise<void> {
  const [sizeArg, combineArg] = process.argv.slice(2);
  if (process.env.HAKUBE_BENCH_CHILD) {
    process.stdout.write(`${JSON.stringify(await synthesize(Number(sizeArg), combineArg as Combine))}\n`);
    return;
  }
  const runs: Array<[number, Combine]> = sizeArg
    ? [[Number(sizeArg), (combineArg as Combine) ?? 'per-step']]
    : [[100, 'per-step'], [1000, 'per-step'], [5000, 'per-step'], [15000, 'per-step'], [1000, 'per-host']];
  const rows: Array<Synthesized & { applySeconds: number; appliedResources: number; applied: string; largestStateMiB: number }> = [];
  for (const [workers, combine] of runs) {
    process.stderr.write(`bench: ${workers} workers, ${combine}: plan and synth…\n`);
    const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), String(workers), combine], {
      env: { ...process.env, HAKUBE_BENCH_CHILD: '1' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const s = JSON.parse(out.trim().split('\n').at(-1)!) as Synthesized;
    const names = Object.keys(s.stacks);
    const timed = sample(names);
    let applySeconds = 0;
    let appliedResources = 0;
    let largestStateMiB = 0;
    for (const stack of timed) {
      process.stderr.write(`bench: ${workers} workers: terraform apply ${stack} (${s.stacks[stack]} resources, provisioners stripped)…\n`);
      const a = applyStripped(s.outdir, stack);
      applySeconds += a.seconds;
      appliedResources += a.resources;
      largestStateMiB = Math.max(largestStateMiB, a.stateMiB);
    }
    rmSync(join(s.outdir, '..'), { recursive: true, force: true });
    const row = { ...s, applySeconds, appliedResources, applied: `${timed.length} of ${names.length}`, largestStateMiB };
    rows.push(row);
    const resources = Object.values(s.stacks).reduce((a, b) => a + b, 0);
    console.log(
      `${String(workers).padStart(6)} workers ${combine.padEnd(8)}: ${s.steps} steps, ${resources} resources in ${names.length} stack(s) (largest ${Math.max(...Object.values(s.stacks))}); ` +
        `plan ${fixed(s.planSeconds)} s, synth ${fixed(s.synthSeconds)} s = ${fixed(s.synthSeconds / s.floorSeconds)}× floor (${fixed(s.floorSeconds, 2)} s), ` +
        `peak RSS ${fixed(s.peakRssMiB, 0)} MiB (heap limit ${fixed(s.heapLimitMiB, 0)} MiB); ` +
        `apply ${row.applied} stacks: ${appliedResources} resources in ${fixed(applySeconds)} s = ${fixed((1000 * applySeconds) / appliedResources, 1)} ms/resource, largest state ${fixed(largestStateMiB)} MiB`,
    );
  }
  const perResource = (workers: number) => {
    const r = rows.find((row) => row.workers === workers && row.combine === 'per-step');
    return r ? r.applySeconds / r.appliedResources : undefined;
  };
  const at15000 = rows.find((row) => row.workers === 15000 && row.combine === 'per-step');
  if (!sizeArg && process.env.HAKUBE_BENCH_PULUMI !== '0') {
    process.stderr.write('bench: Pulumi per-host registration of 15000 workers (bench/pulumi-scale.ts)…\n');
    const pulumi = execFileSync(process.execPath, ['--expose-gc', ...process.execArgv, join(import.meta.dirname, 'pulumi-scale.ts'), '15000', 'per-host'], {
      env: { ...process.env, HAKUBE_BENCH_CHILD: '1' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const p = JSON.parse(pulumi.trim().split('\n').at(-1)!) as { resources: number; registerSeconds: number; peakHeapMiB: number };
    console.log(` 15000 workers pulumi per-host: ${p.resources} resources registered in ${fixed(p.registerSeconds)} s, peak heap ${p.peakHeapMiB} MiB`);
  }
  const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined ? fixed(a / b, 2) : 'n/a');
  console.log(
    `scale: apply per resource 5000/100 = ${ratio(perResource(5000), perResource(100))}; ` +
      `synth/floor at 15000 = ${at15000 ? fixed(at15000.synthSeconds / at15000.floorSeconds, 2) : 'n/a'}; stacks at 15000 = ${at15000 ? Object.keys(at15000.stacks).length : 'n/a'}`,
  );
}

await main();
