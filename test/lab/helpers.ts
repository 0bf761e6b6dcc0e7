import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { App, LocalBackend, TerraformStack } from 'cdktf';
import { join } from 'node:path';
import { TerraformProvisioner } from '../../lib/backends/cdktf.js';
import { quietEnv } from '../../lib/engine.js';
import type { Inventory } from '../../lib/inventory.js';
import yaml from 'js-yaml';
import { labInventoryPath, labPaths, labSsh, labStatus, labUp } from '../../lib/lab/index.js';
import { Plan } from '../../lib/plan/index.js';
import type { Construct } from 'constructs';
import { engineBinary } from '../fixtures.js';

export const projectDir = join(import.meta.dirname, '..', '..');

/** Synthesize a stack whose constructs `declare` adds, into `outdir`; returns the plan and the stack directory. */
export async function synthStack(outdir: string, declare: (stack: Construct) => void) {
  const app = new App({ outdir });
  const stack = new TerraformStack(app, 'lab');
  new LocalBackend(stack, { path: join(outdir, 'terraform.tfstate') });
  declare(stack);
  const plan = await Plan.of(stack);
  new TerraformProvisioner(stack, 'provision', { plan });
  app.synth();
  return { plan, stackDir: join(outdir, 'stacks', 'lab') };
}

export interface Tf {
  status: number;
  /** Standard output only (JSON for `-json` commands). */
  stdout: string;
  /** Standard output and error. */
  output: string;
  seconds: number;
}

/** Run the engine (Terraform or OpenTofu, see test/engine-setup.ts) in a stack dir; output is kept for assertions and echoed on failure. */
export function terraform(stackDir: string, ...args: string[]): Tf {
  return runEngine(engineBinary(), stackDir, ...args);
}

/** Run `binary` (a Terraform-compatible engine) in a stack dir. */
export function runEngine(binary: string, stackDir: string, ...args: string[]): Tf {
  const started = Date.now();
  const result = spawnSync(binary, [...args, '-no-color'], {
    cwd: stackDir,
    encoding: 'utf8',
    env: { ...quietEnv(), TF_IN_AUTOMATION: '1' },
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = { status: result.status ?? -1, stdout: result.stdout, output: `${result.stdout}${result.stderr}`, seconds: (Date.now() - started) / 1000 };
  if (out.status !== 0 && out.status !== 2) process.stderr.write(out.output);
  return out;
}

/** Run a command on a lab host as root; returns exit status and output. */
export async function onHost(inventory: Inventory, host: string, command: string, timeoutMs = 60_000) {
  const address = inventory.get(host)[0].address;
  const r = await labSsh(labPaths(projectDir), address, command, { timeoutMs });
  return { ok: r.ok, out: `${r.stdout}${r.stderr}` };
}

export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Print a measured figure so it shows in the test log. */
export function figure(label: string, seconds: number): void {
  process.stderr.write(`[figure] ${label}: ${seconds.toFixed(1)} s\n`);
}

/**
 * Bring the lab up for a test file. The lab is machine-wide: when one is already up (someone else's run), wait
 * until it is down rather than share or stop it.
 */
export async function acquireLab(hosts = 3, options: { kubernetes?: boolean } = {}) {
  await until('the lab to be free', 20 * 60_000, async () => ((await labStatus()).phase === 'down' ? true : undefined));
  return labUp({ hosts, projectDir, ...options });
}

/** Whether a TCP connection to `address:port` opens within `timeoutMs`. */
export function tcpOpen(address: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** An inventory file in `dir` with the first `count` hosts of the running lab (an app reads it from HAKUBE_HOSTS). */
export function labHostsFile(dir: string, count: number): string {
  const doc = yaml.load(readFileSync(labInventoryPath(projectDir), 'utf8')) as { hosts: unknown[] };
  const file = join(dir, `hosts-${count}.yaml`);
  writeFileSync(file, yaml.dump({ ...doc, hosts: doc.hosts.slice(0, count) }));
  return file;
}
