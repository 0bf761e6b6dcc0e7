/**
 * How PulumiProvisioner holds up on a large plan: builds a synthetic plan (one control-plane host, N worker hosts
 * with 4 steps each: prepare, install, configure, join; inline and secret files) and registers it under Pulumi mocks,
 * printing resources, seconds and peak heap for each combine mode. Not a test: it prints figures.
 *
 *   npm run bench:pulumi                       # N = 1000, 5000, 15000; modes per-step and per-host
 *   npm run bench:pulumi -- 15000 per-host     # one size, one mode
 *
 * Each run is a child process (a fresh heap, Node's default heap limit) so the figures do not add up across runs;
 * HAKUBE_BENCH_TIMEOUT (seconds, default 1800) stops a run that does not finish.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import * as pulumi from '@pulumi/pulumi';
import { PulumiProvisioner } from '../lib/backends/pulumi.js';
import { Host } from '../lib/inventory.js';
import { Plan, type StepSpec } from '../lib/plan/index.js';
import { SecretStore } from '../lib/pki/index.js';

type Mode = 'per-step' | 'per-host';

/**
 * A plan shaped like a WorkerPool's: `workers` hosts with 4 steps each (prepare, install, configure with inline files;
 * join with the one secret file, after the control plane's init step).
 */
export function syntheticPlan(workers: number): Plan {
  const dir = mkdtempSync(join(tmpdir(), 'hakube-bench-'));
  const keyPath = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyPath]);
  writeFileSync(join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nbench-ca\n-----END CERTIFICATE-----\n');
  writeFileSync(join(dir, 'join-token'), 'abcdef.0123456789abcdef\n', { mode: 0o600 });
  const secret = (file: string) => new SecretStore(dir).ref(file);
  const body = (what: string) => `echo ${what}\n${'# a realistic script body, about 2 KB\n'.repeat(55)}`;
  const cp = new Host({ name: 'cp-1', address: '10.0.0.10', privateKeyPath: keyPath });
  const specs: StepSpec[] = [
    {
      id: 'cp/init', host: cp, title: 'init', script: body('init'),
      files: [{ path: '/etc/kubernetes/kubeadm.yaml', mode: '0600', content: 'kind: InitConfiguration\n' }, { path: '/etc/kubernetes/pki/ca.crt', mode: '0644', secret: secret('ca.crt') }],
    },
  ];
  for (let i = 0; i < workers; i++) {
    const n = i + 1;
    const host = new Host({ name: `w-${n}`, address: `10.${1 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`, privateKeyPath: keyPath });
    const id = (action: string) => `workers/w-${n}/${action}`;
    specs.push(
      { id: id('prepare'), host, title: 'prepare', script: body('prepare'), files: [{ path: '/etc/sysctl.d/90-k8s.conf', mode: '0644', content: `net.ipv4.ip_forward = 1\n# w-${n}\n` }] },
      { id: id('install'), host, title: 'install', script: body('install'), after: [id('prepare')] },
      {
        id: id('configure'), host, title: 'configure', script: body('configure'), after: [id('install')],
        files: [
          { path: '/etc/default/kubelet', mode: '0644', content: `KUBELET_EXTRA_ARGS=--node-ip=${host.address}\n` },
          { path: '/etc/containerd/config.toml', mode: '0644', content: 'version = 2\n'.repeat(40) },
        ],
      },
      {
        // like WorkerPool's join: the JoinConfiguration (with the bootstrap token) is the worker's one secret file
        id: id('join'), host, title: 'join', script: body('join'), after: [id('configure'), 'cp/init'],
        files: [{ path: '/etc/kubernetes/kubeadm-join.yaml', mode: '0600', secret: secret('join-token') }],
      },
    );
  }
  return new Plan(specs);
}

/** Register the plan under mocks; resolves when every resource is registered. */
async function measure(workers: number, mode: Mode) {
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  };
  const timer = setInterval(sample, 20);
  const t0 = performance.now();
  const plan = syntheticPlan(workers);
  const planSeconds = (performance.now() - t0) / 1000;
  sample();
  const planHeap = process.memoryUsage().heapUsed;
  let count = 0;
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        count++;
        // a provider echoes its inputs as outputs (plus stdout/stderr for a command)
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    'bench',
    'bench',
    false,
  );
  const t1 = performance.now();
  const provisioner = new PulumiProvisioner('provision', { plan, combine: mode });
  const constructSeconds = (performance.now() - t1) / 1000;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const liveAfterConstruct = process.memoryUsage().heapUsed;
  if (process.env.HAKUBE_BENCH_SNAPSHOT) (await import('node:v8')).writeHeapSnapshot(process.env.HAKUBE_BENCH_SNAPSHOT);
  sample();
  await provisioner.registered;
  const seconds = (performance.now() - t1) / 1000;
  clearInterval(timer);
  sample();
  return {
    workers,
    mode,
    steps: plan.steps.length,
    resources: count,
    maxPending: provisioner.maxPending,
    planSeconds: round(planSeconds),
    constructSeconds: round(constructSeconds),
    registerSeconds: round(seconds),
    resourcesPerSecond: Math.round(count / seconds),
    planHeapMiB: mib(planHeap),
    peakHeapMiB: mib(peak),
    liveAfterConstructMiB: gc ? mib(liveAfterConstruct) : undefined,
    heapLimitMiB: mib(getHeapStatistics().heap_size_limit),
  };
}

const round = (n: number) => Math.round(n * 100) / 100;
const mib = (n: number) => Math.round(n / 2 ** 20);

const [sizeArg, modeArg] = process.argv.slice(2);
if (process.env.HAKUBE_BENCH_CHILD) {
  const result = await measure(Number(sizeArg), modeArg as Mode);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} else {
  const sizes = sizeArg ? [Number(sizeArg)] : [1000, 5000, 15000];
  const modes: Mode[] = modeArg ? [modeArg as Mode] : ['per-step', 'per-host'];
  const self = fileURLToPath(import.meta.url);
  const rows: Array<Record<string, unknown>> = [];
  for (const size of sizes) {
    for (const mode of modes) {
      try {
        const out = execFileSync(process.execPath, ['--expose-gc', ...process.execArgv, self, String(size), mode], {
          timeout: Number(process.env.HAKUBE_BENCH_TIMEOUT ?? 1800) * 1000,
          env: { ...process.env, HAKUBE_BENCH_CHILD: '1' },
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          maxBuffer: 64 * 2 ** 20,
        });
        rows.push(JSON.parse(out.trim().split('\n').at(-1)!));
      } catch (e) {
        const err = e as { status?: number | null; signal?: string | null; stderr?: string };
        const how = err.signal ? `killed by ${err.signal} (timeout ${process.env.HAKUBE_BENCH_TIMEOUT ?? 1800} s)` : `exit ${err.status}`;
        const oom = /heap out of memory/.test(err.stderr ?? '') ? ' — JavaScript heap out of memory' : '';
        rows.push({ workers: size, mode, failed: `${how}${oom}` });
      }
      console.table([rows.at(-1)]);
    }
  }
  console.log('\nsummary');
  console.table(rows);
}
