import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { unescapeTemplate } from '../backends/cdktf.js';
import { Host } from '../inventory.js';
import { UsageError } from '../lab/cli.js';
import { sshRun } from './ssh.js';

/** Usage text of `hakube status`. */
export const STATUS_USAGE = `usage: hakube status [cdktf.out]

Runs every read-only check of the synthesized stacks (cdktf synth first) on its host now, without deploying: each
host answers over SSH and runs steps as root, every etcd member is healthy, every VIP accepts connections. Prints
one line per check; exit 1 when one fails.`;

/** A read-only check found in a synthesized stack. */
export interface StackCheck {
  readonly stack: string;
  /** The plan step id, e.g. `etcd-demo/health`. */
  readonly step: string;
  readonly host: Host;
  /** The step's script, as the deploy runs it. */
  readonly script: string;
}

/** The outcome of one check. */
export interface CheckResult extends StackCheck {
  readonly ok: boolean;
  readonly seconds: number;
  /** The last line the check printed (stderr when it failed). */
  readonly summary: string;
}

type Json = Record<string, any>;

/** How long a check may wait for convergence under `hakube status` (its deploy-time wait is minutes). */
const STATUS_WAIT_SECONDS = 5;

/**
 * The read-only checks of every stack under `outdir` (`cdktf.out`), with the host each runs on as the stack connects
 * to it (address, user, port, pinned key, the key file of its key variable, bastion).
 */
export function stackChecks(outdir: string): StackCheck[] {
  const stacksDir = join(outdir, 'stacks');
  if (!existsSync(stacksDir)) throw new Error(`${stacksDir} does not exist: run \`cdktf synth\` first`);
  return readdirSync(stacksDir).sort().flatMap((stack) => {
    const stackDir = join(stacksDir, stack);
    const file = join(stackDir, 'cdk.tf.json');
    if (!existsSync(file)) return [];
    const json = JSON.parse(readFileSync(file, 'utf8')) as Json;
    const variables = (json.variable ?? {}) as Record<string, { default?: string }>;
    const resources = Object.values((json.resource ?? {}) as Record<string, Record<string, Json>>).flatMap((byName) => Object.values(byName));
    return resources
      .filter((r) => r['//']?.hakube?.check === true)
      .map((r): StackCheck => ({ stack, step: r['//'].hakube.step, host: hostOf(r['//'].hakube.host, r.connection, variables, stackDir), script: scriptOf(r) }));
  });
}

/** The host `name` as its connection block reaches it. */
function hostOf(name: string, c: Json, variables: Record<string, { default?: string }>, stackDir: string): Host {
  const keyPath = (expression: string | undefined) => {
    const variable = expression && /var\.([A-Za-z0-9_]+)/.exec(expression)?.[1];
    const path = variable ? variables[variable]?.default : undefined;
    return path && !isAbsolute(path) && !path.startsWith('~') ? resolve(stackDir, path) : path;
  };
  return new Host({
    name,
    address: c.host,
    user: c.user,
    port: c.port,
    hostKey: c.host_key,
    privateKeyPath: keyPath(c.private_key),
    ...(c.bastion_host ? { bastion: { address: c.bastion_host, port: c.bastion_port, user: c.bastion_user, privateKeyPath: keyPath(c.bastion_private_key) } } : {}),
  });
}

/** The step script a resource uploads (its `run.sh`), with Terraform's template escapes undone. */
function scriptOf(resource: Json): string {
  const upload = (resource.provisioner as Json[]).map((p) => p.file).find((f) => f && String(f.destination).endsWith('/run.sh'));
  return unescapeTemplate(String(upload.content));
}

/**
 * Steps a deploy left unfinished, by stack: resources the local state marks tainted (a step failed or the deploy was
 * interrupted). Stacks with another backend are skipped.
 */
export function taintedSteps(outdir: string): Array<{ stack: string; steps: string[] }> {
  const stacksDir = join(outdir, 'stacks');
  return readdirSync(stacksDir).sort().flatMap((stack) => {
    const file = join(stacksDir, stack, 'cdk.tf.json');
    const local = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Json).terraform?.backend?.local?.path : undefined;
    const state = local ? resolve(stacksDir, stack, local) : undefined;
    if (!state || !existsSync(state)) return [];
    const resources = ((JSON.parse(readFileSync(state, 'utf8')) as Json).resources ?? []) as Json[];
    const steps = resources.filter((r) => (r.instances as Json[] | undefined)?.some((i) => i.status === 'tainted')).map((r) => String(r.name));
    return steps.length ? [{ stack, steps }] : [];
  });
}

/** Run the checks, all hosts in parallel. */
export function runChecks(checks: readonly StackCheck[]): Promise<CheckResult[]> {
  return Promise.all(
    checks.map(async (check): Promise<CheckResult> => {
      const started = Date.now();
      // a check waits for convergence during a deploy; here it answers after one short look
      const shell = `${check.host.user === 'root' ? '' : 'sudo -n '}env HAKUBE_CHECK_WAIT=${STATUS_WAIT_SECONDS} bash -s`;
      const r = await sshRun(check.host, shell, { input: check.script });
      // the check's own verdict: its last "hakube:" line when it passed, its first complaint when it failed
      const ok = r.code === 0;
      const lines = (ok ? r.stdout : r.stderr).trim().split('\n').filter(Boolean);
      const verdicts = lines.filter((line) => line.startsWith('hakube:'));
      const summary = (ok ? verdicts.at(-1) : verdicts[0]) ?? lines.at(-1) ?? `exit ${r.code}`;
      return { ...check, ok, seconds: (Date.now() - started) / 1000, summary };
    }),
  );
}

/** `hakube status [cdktf.out]`: returns the exit code. */
export async function statusCommand(args: readonly string[]): Promise<number> {
  const { positionals } = parseArgs({ args: [...args], options: {}, allowPositionals: true, strict: true });
  if (positionals.length > 1) throw new UsageError(`expected at most one directory, got ${JSON.stringify(positionals)}`);
  const outdir = positionals[0] ?? 'cdktf.out';
  const checks = stackChecks(outdir);
  if (checks.length === 0) {
    process.stderr.write('hakube status: the synthesized stacks have no checks (are they hakube stacks?)\n');
    return 1;
  }
  const results = await runChecks(checks);
  const width = Math.max(...results.map((r) => `${r.stack}: ${r.step}`.length));
  for (const r of results) {
    process.stdout.write(`${`${r.stack}: ${r.step}`.padEnd(width)}  ${r.host.name.padEnd(12)}  ${r.ok ? 'ok    ' : 'FAILED'}  ${r.seconds.toFixed(1).padStart(5)} s  ${r.summary}\n`);
  }
  const failed = results.filter((r) => !r.ok).length;
  process.stdout.write(`hakube status: ${results.length - failed} of ${results.length} checks ok\n`);
  const tainted = taintedSteps(outdir);
  for (const { stack, steps } of tainted) {
    process.stdout.write(`hakube status: ${stack}: ${steps.length} step(s) did not finish (a step failed or the deploy was interrupted): ${steps.join(', ')}; the next \`cdktf deploy\` runs them again and finishes the rollout\n`);
  }
  return failed === 0 && tainted.length === 0 ? 0 : 1;
}
