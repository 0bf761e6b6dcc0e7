/**
 * The Pulumi backend, and the only module that imports `@pulumi/*` (both optional peer dependencies: a cdktf-only
 * user never loads them). It renders a plan with `@pulumi/command` 1.2+ remote resources over SSH.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import * as pulumi from '@pulumi/pulumi';
import { remote, type types } from '@pulumi/command';
import type { Host } from '../inventory.js';
import type { Plan, PlanFile, PlanStep } from '../plan/index.js';
import { groupHash, groupSteps, renderGroupRunner, stepSlug } from '../plan/index.js';
import { ValidationError } from '../validate.js';

/** How plan steps map to Pulumi resources. */
export type PulumiCombine = 'per-step' | 'per-host' | 'auto';

export interface PulumiProvisionerArgs {
  /** The plan to provision. */
  readonly plan: Plan;
  /**
   * How steps become resources. `per-step`: for every step a stage command, one upload per file and one for the
   * script, and a run command (what `cdktf` renders as the provisioners of one resource). `per-host`: consecutive
   * steps of a host that add no dependency become a group: one command that prepares the group's stage directories,
   * writes its inline files and scripts from stdin and runs its steps in plan order — plus, when the group has secret
   * files, one upload per secret file and a separate run command. `auto`: `per-step` up to `autoThreshold` steps,
   * `per-host` above. Either way the steps run in the same order with the same hashes as triggers.
   * @default "auto"
   */
  readonly combine?: PulumiCombine;
  /** Steps up to which `auto` renders `per-step`. @default 2000 */
  readonly autoThreshold?: number;
  /**
   * Resources registered but not yet finished at any time. Every pending registration costs the Pulumi SDK about
   * 100–160 KB of heap (and a settled one about 11 KB), so a plan larger than this is registered in plan order as
   * earlier resources finish, and `steps` fills up as that happens (see `registered`). @default what fits in 75 % of
   * the heap limit next to the plan and the settled resources, between 250 and 20,000
   */
  readonly maxPending?: number;
  /**
   * Failed SSH dials before a resource fails (the provider waits 0.1 s, growing to 5 s, between dials; -1 retries
   * forever). @default 30 (a booting host gets about two minutes)
   */
  readonly dialErrorLimit?: number;
  /** Seconds each SSH dial may take. @default 15 */
  readonly perDialTimeout?: number;
  /**
   * Replace every resource of a step (or group) whenever its stage command is replaced (the `replaceWith` resource
   * option), so `pulumi up --replace <stage URN>` re-stages and re-runs a step whose script failed. Needs a Pulumi CLI
   * that knows the option (December 2025 or newer); turn it off for an older CLI. @default true
   */
  readonly replaceWithStage?: boolean;
}

/** The Pulumi resources that carry out one plan step. */
export interface PulumiStepResources {
  /**
   * Prepares the private stage directory (per-host: the group's directories, and writes its inline files and
   * scripts). Absent for a per-host group without secret files: its one command does everything.
   */
  readonly stage?: remote.Command;
  /** Uploads, in order: per-step, every file then the script; per-host, the group's secret files. */
  readonly uploads: readonly remote.CopyToRemote[];
  /** Runs the step (per-host: every step of its group, in plan order). Later steps depend on this resource. */
  readonly run: remote.Command;
  /** Ids of the steps these resources carry out, in the order they run (just this step in per-step mode). */
  readonly group: readonly string[];
}

/** Type token of the component. */
export const PROVISIONER_TYPE = 'hakube:index:Provisioner';

/**
 * Provisions a plan with `@pulumi/command`: per step a `remote.Command` that prepares a private stage directory, a
 * `remote.CopyToRemote` per file (secrets as `FileAsset` by path, never inlined; inline content as `StringAsset`) and
 * for the script, then a `remote.Command` that runs it, each depending on the one before; `dependsOn` from the step's
 * `after` (the run command of each dependency); the step's content hash as `triggers` on every resource, with
 * `replaceOnChanges: ["*"]` so that a change — or a failure last time — replaces (re-runs) the step, never updates it
 * in place. The SSH private key is read when the program runs and passed as a Pulumi secret. Large plans are combined
 * per host (see `combine`) and registered in windows (see `maxPending`).
 *
 * Unlike Terraform, which taints a resource whose provisioner failed and re-runs all of them, Pulumi retries only the
 * failed run command, and the script removed its stage directory when it exited: re-run such a step with
 * `pulumi up --replace <URN of its -stage command>` (see `replaceWithStage`). A per-host group without secret files
 * is one command and retries as a whole.
 */
export class PulumiProvisioner extends pulumi.ComponentResource {
  /**
   * The resources of each step, by step id. Complete when the constructor returns unless the plan needs more than
   * `maxPending` resources; then complete once `registered` resolves (use `resourcesOf` to wait for one step).
   */
  readonly steps: ReadonlyMap<string, PulumiStepResources>;
  /** The mode used (`auto` resolved). */
  readonly combine: 'per-step' | 'per-host';
  /** Resources registered and pending at most at any time (`maxPending` resolved). */
  readonly maxPending: number;
  /** Resolves when every resource of the plan has been registered (and, in a deployment, has finished). */
  readonly registered: Promise<void>;
  private readonly waiters = new Map<string, Array<(resources: PulumiStepResources) => void>>();
  private readonly plannedIds: ReadonlySet<string>;

  constructor(name: string, args: PulumiProvisionerArgs, opts?: pulumi.ComponentResourceOptions) {
    super(PROVISIONER_TYPE, name, {}, opts);
    const { plan } = args;
    const requested = args.combine ?? 'auto';
    this.combine = requested === 'auto' ? (plan.steps.length > (args.autoThreshold ?? 2000) ? 'per-host' : 'per-step') : requested;
    for (const warning of plan.warnings) pulumi.log.warn(warning, this);
    const dial = { dialErrorLimit: args.dialErrorLimit ?? 30, perDialTimeout: args.perDialTimeout ?? 15 };
    // Everything that can fail (unreadable keys, clashing names) fails here, before any resource is registered.
    const keys = new KeyReader();
    const connections = new Map(plan.hosts.map((host) => [host.name, pulumiConnection(host, { ...dial, keys })]));
    // the first wave's reachability checks give up after a few dials instead of minutes
    const quickConnections = new Map(plan.hosts.map((host) => [host.name, pulumiConnection(host, { ...QUICK_DIAL, keys })]));
    const units = this.combine === 'per-step' ? plan.steps.map((step) => [step]) : groupSteps(plan.steps);
    const names = new Map<string, string>();
    for (const unit of units) {
      for (const resourceName of resourceNames(unit, this.combine)) {
        const clash = names.get(resourceName);
        if (clash !== undefined) {
          throw new ValidationError(`PulumiProvisioner ${name}: steps ${JSON.stringify(clash)} and ${JSON.stringify(unit[0]!.id)} both need resource name ${resourceName}`);
        }
        names.set(resourceName, unit[0]!.id);
      }
    }
    const ctx: RenderContext = {
      parent: this,
      connection: (steps) => (steps.every((step) => step.quickConnect) ? quickConnections : connections).get(steps[0]!.host)!,
      replaceWithStage: args.replaceWithStage ?? true,
    };
    const steps = new Map<string, PulumiStepResources>();
    this.steps = steps;
    this.plannedIds = new Set(plan.steps.map((step) => step.id));
    const render = (unit: readonly PlanStep[]): PulumiStepResources => {
      const resources = withoutPromiseStacks(() =>
        this.combine === 'per-step' ? renderStep(ctx, unit[0]!, steps) : renderGroup(ctx, unit, steps),
      );
      for (const step of unit) {
        steps.set(step.id, resources);
        for (const wake of this.waiters.get(step.id) ?? []) wake(resources);
        this.waiters.delete(step.id);
      }
      return resources;
    };
    const warning = heapWarning(names.size, this.combine);
    if (warning) pulumi.log.warn(warning, this);
    const maxPending = Math.max(1, args.maxPending ?? defaultMaxPending(names.size));
    this.maxPending = maxPending;
    // An async function runs synchronously up to its first await: a plan that fits in the window is rendered
    // completely before the constructor returns.
    const keepAlive = pulumi.runtime.rpcKeepAlive();
    this.registered = registerInWindows(units, render, maxPending).finally(keepAlive);
    this.registerOutputs({});
  }

  /** The resources of a step, once they are registered (immediately unless the plan is registered in windows). */
  resourcesOf(stepId: string): Promise<PulumiStepResources> {
    const known = this.steps.get(stepId);
    if (known) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      if (!this.plannedIds.has(stepId)) {
        reject(new ValidationError(`PulumiProvisioner: no step ${JSON.stringify(stepId)}`));
        return;
      }
      const list = this.waiters.get(stepId) ?? [];
      list.push(resolve);
      this.waiters.set(stepId, list);
    });
  }
}

/**
 * Render units in plan order, keeping at most `maxPending` resources registered but unsettled: a unit waits until
 * enough earlier resources have settled (finished, or failed). Units only depend on earlier units, and the earliest
 * pending resource only on settled ones, so the window always moves.
 */
async function registerInWindows(
  units: readonly (readonly PlanStep[])[],
  render: (unit: readonly PlanStep[]) => PulumiStepResources,
  maxPending: number,
): Promise<void> {
  let pending = 0;
  let wake: (() => void) | undefined;
  const settledOne = () => {
    pending--;
    if (wake && pending < maxPending) {
      const w = wake;
      wake = undefined;
      w();
    }
  };
  for (const unit of units) {
    while (pending >= maxPending) await new Promise<void>((resolve) => (wake = resolve));
    const r = render(unit);
    const all: pulumi.Resource[] = [...(r.stage ? [r.stage] : []), ...r.uploads, r.run];
    pending += all.length;
    for (const resource of all) settled(resource).then(settledOne);
  }
  while (pending > 0) await new Promise<void>((resolve) => (wake = resolve));
}

/** Resolves (never rejects) when a resource's registration has finished or failed. */
function settled(resource: pulumi.Resource): Promise<void> {
  // Output.promise() is not in the public typings but is how the SDK itself awaits outputs; a failed registration
  // rejects it, and the failure is reported by the SDK itself.
  const urn = resource.urn as unknown as { promise?: () => Promise<unknown> };
  if (typeof urn.promise === 'function') {
    return urn.promise().then(
      () => undefined,
      () => undefined,
    );
  }
  return new Promise((resolve) => resource.urn.apply(() => resolve()));
}

/**
 * Run `fn` with `Error.stackTraceLimit` at 0. The Pulumi SDK formats a stack trace for each of the dozens of promises
 * it creates per resource (only shown when a promise leaks); with source maps on, that is most of the time spent
 * registering a resource. The SDK captures a resource's own source position with its own limit, so that stays.
 */
function withoutPromiseStacks<T>(fn: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return fn();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * Heap the Pulumi SDK holds per registered resource while it is pending (up to 150 KB measured for a Command), and
 * after it settled (outputs and bookkeeping; about 11 KB measured over 240,000 resources), with mocks.
 */
const PENDING_BYTES = 160 * 1024;
const SETTLED_BYTES = 12 * 1024;

/**
 * The default window: what is left of 75 % of the heap limit, after the heap in use now (the plan) and what every
 * settled resource keeps, at PENDING_BYTES per pending registration; between 250 and 20,000.
 */
function defaultMaxPending(total: number): number {
  const { heap_size_limit: limit, used_heap_size: used } = getHeapStatistics();
  const budget = limit * 0.75 - used - total * SETTLED_BYTES;
  return Math.min(20_000, Math.max(250, Math.floor(budget / PENDING_BYTES)));
}

/** A warning when the plan's resources will likely not fit in the heap whatever the window. */
function heapWarning(total: number, mode: 'per-step' | 'per-host'): string | undefined {
  const { heap_size_limit: limit, used_heap_size: used } = getHeapStatistics();
  if (used + total * SETTLED_BYTES + 250 * PENDING_BYTES < limit * 0.9) return undefined;
  const mib = (n: number) => Math.round(n / 2 ** 20);
  return (
    `PulumiProvisioner: ${total} resources (${mode}) need about ${mib(used + total * SETTLED_BYTES)} MiB of the ` +
    `${mib(limit)} MiB heap${mode === 'per-step' ? "; use combine: 'per-host'" : ''} or raise it (NODE_OPTIONS=--max-old-space-size=<MiB>)`
  );
}

/** Dial settings of quick checks: about 20 s before a host that does not answer fails the deploy. */
const QUICK_DIAL = { dialErrorLimit: 4, perDialTimeout: 5 };

interface RenderContext {
  readonly parent: pulumi.Resource;
  /** The SSH connection for steps of one host (quick when they all are quick checks). */
  readonly connection: (steps: readonly PlanStep[]) => types.input.remote.ConnectionArgs;
  readonly replaceWithStage: boolean;
}

/** Names of the resources a unit (a step, or a per-host group) becomes; the run command is the unit's first slug. */
function resourceNames(unit: readonly PlanStep[], mode: 'per-step' | 'per-host'): string[] {
  const slug = stepSlug(unit[0]!.id);
  if (mode === 'per-step') {
    return [`${slug}-stage`, ...unit[0]!.files.map((_, i) => `${slug}-file-${i}`), `${slug}-script`, slug];
  }
  const secrets = unit.flatMap((step) => step.files.filter((f) => f.secret));
  return secrets.length === 0 ? [slug] : [`${slug}-stage`, ...secrets.map((_, i) => `${slug}-file-${i}`), slug];
}

function renderStep(ctx: RenderContext, step: PlanStep, done: ReadonlyMap<string, PulumiStepResources>): PulumiStepResources {
  const slug = stepSlug(step.id);
  const connection = ctx.connection([step]);
  const triggers = [step.hash];
  const stage = new remote.Command(
    `${slug}-stage`,
    { connection, create: step.stageCommand, triggers, addPreviousOutputInEnv: false },
    { parent: ctx.parent, dependsOn: dependencies([step], done), replaceOnChanges: ['*'] },
  );
  const after = { parent: ctx.parent, dependsOn: [stage], replaceOnChanges: ['*'], replaceWith: ctx.replaceWithStage ? [stage] : undefined };
  const uploads = step.files.map(
    (file, index) =>
      new remote.CopyToRemote(`${slug}-file-${index}`, { connection, source: fileAsset(file), remotePath: file.stagedAt, triggers }, after),
  );
  uploads.push(
    new remote.CopyToRemote(
      `${slug}-script`,
      { connection, source: new pulumi.asset.StringAsset(step.script), remotePath: step.scriptPath, triggers },
      after,
    ),
  );
  const run = new remote.Command(
    slug,
    { connection, create: step.command, triggers, addPreviousOutputInEnv: false },
    { ...after, dependsOn: [stage, ...uploads] },
  );
  return { stage, uploads, run, group: [step.id] };
}

/**
 * One group of a host's steps (per-host mode). Without secret files, one command prepares every stage directory,
 * writes the inline files and scripts from its stdin and runs the steps in order. With secret files, a stage command
 * prepares and writes, the secret files are uploaded, and a run command runs the steps. A group of several steps runs
 * them through the group runner (`renderGroupRunner`): only the steps whose content changed, all of them on
 * `pulumi up --replace`.
 */
function renderGroup(ctx: RenderContext, group: readonly PlanStep[], done: ReadonlyMap<string, PulumiStepResources>): PulumiStepResources {
  const slug = stepSlug(group[0]!.id);
  const connection = ctx.connection(group);
  const triggers = group.map((s) => s.hash);
  const ids = group.map((s) => s.id);
  const inline: Array<{ path: string; content: string }> = [];
  const secrets: PlanFile[] = [];
  for (const step of group) {
    for (const file of step.files) {
      if (file.secret) secrets.push(file);
      else inline.push({ path: file.stagedAt, content: file.content! });
    }
    inline.push({ path: step.scriptPath, content: step.script });
  }
  const runner = group.length > 1 ? renderGroupRunner(group, groupHash(group)) : undefined;
  if (runner) inline.push({ path: runner.scriptPath, content: runner.script });
  const prepare = [...group.map((s) => s.stageCommand), ...(runner ? [runner.stageCommand] : []), STDIN_WRITER].join(' && ');
  const stdin = encodeStdin(inline);
  const run = runner ? runner.command : group[0]!.command;
  const first = { parent: ctx.parent, dependsOn: dependencies(group, done), replaceOnChanges: ['*'] };
  if (secrets.length === 0) {
    const command = new remote.Command(slug, { connection, create: `${prepare} && ${run}`, stdin, triggers, addPreviousOutputInEnv: false }, first);
    return { uploads: [], run: command, group: ids };
  }
  const stage = new remote.Command(`${slug}-stage`, { connection, create: prepare, stdin, triggers, addPreviousOutputInEnv: false }, first);
  const after = { parent: ctx.parent, dependsOn: [stage], replaceOnChanges: ['*'], replaceWith: ctx.replaceWithStage ? [stage] : undefined };
  const uploads = secrets.map(
    (file, index) =>
      new remote.CopyToRemote(`${slug}-file-${index}`, { connection, source: fileAsset(file), remotePath: file.stagedAt, triggers }, after),
  );
  const command = new remote.Command(
    slug,
    { connection, create: run, triggers, addPreviousOutputInEnv: false },
    { ...after, dependsOn: [stage, ...uploads] },
  );
  return { stage, uploads, run: command, group: ids };
}

/**
 * Reads `<path> <base64>` lines from stdin and writes each file (under the umask 077 the stage commands set). Paths
 * are stage paths of the plan: absolute, of safe characters, without spaces.
 */
export const STDIN_WRITER = `while read -r p b; do printf '%s' "$b" | base64 -d > "$p" || exit 1; done`;

/** The stdin of a per-host stage command: one `<path> <base64 of the content>` line per file. */
export function encodeStdin(files: ReadonlyArray<{ path: string; content: string }>): string {
  return files.map((f) => `${f.path} ${Buffer.from(f.content).toString('base64')}\n`).join('');
}

/** The run commands of the steps a group runs after (outside the group), deduplicated, in plan order. */
function dependencies(group: readonly PlanStep[], done: ReadonlyMap<string, PulumiStepResources>): remote.Command[] {
  const inGroup = new Set(group.map((s) => s.id));
  const runs = new Set<remote.Command>();
  for (const step of group) {
    for (const dep of step.after) if (!inGroup.has(dep)) runs.add(done.get(dep)!.run);
  }
  return [...runs];
}

function fileAsset(file: PlanFile): pulumi.asset.Asset {
  return file.secret
    ? new pulumi.asset.FileAsset(`${file.secret.dir}/${file.secret.file}`)
    : new pulumi.asset.StringAsset(file.content!);
}

/**
 * The SSH connection to a host (one object per host, shared by its resources): address, port, user; the private key
 * read from `privateKeyPath` now and passed as a secret, or the ssh-agent at `$SSH_AUTH_SOCK` when there is none;
 * the pinned host key; a bastion as `proxy`.
 */
export function pulumiConnection(
  host: Host,
  options: { dialErrorLimit?: number; perDialTimeout?: number; keys?: KeyReader } = {},
): types.input.remote.ConnectionArgs {
  const keys = options.keys ?? new KeyReader();
  const dial = {
    ...(options.dialErrorLimit !== undefined ? { dialErrorLimit: options.dialErrorLimit } : {}),
    ...(options.perDialTimeout !== undefined ? { perDialTimeout: options.perDialTimeout } : {}),
  };
  return {
    host: host.address,
    port: host.port,
    user: host.user,
    ...(host.privateKeyPath ? { privateKey: keys.read(host.privateKeyPath, host.name) } : {}),
    ...(host.hostKey ? { hostKey: host.hostKey } : {}),
    ...dial,
    ...(host.bastion
      ? {
          proxy: {
            host: host.bastion.address,
            port: host.bastion.port,
            user: host.bastion.user,
            ...(host.bastion.privateKeyPath ? { privateKey: keys.read(host.bastion.privateKeyPath, `${host.name} (bastion)`) } : {}),
            ...dial,
          },
        }
      : {}),
  };
}

/** Reads private keys once per path (`~` expanded) into Pulumi secrets. */
export class KeyReader {
  private readonly cache = new Map<string, pulumi.Output<string>>();

  read(path: string, forHost: string): pulumi.Output<string> {
    const full = expandHome(path);
    let key = this.cache.get(full);
    if (!key) {
      let text: string;
      try {
        text = readFileSync(full, 'utf8');
      } catch (e) {
        throw new ValidationError(`PulumiProvisioner: cannot read the SSH private key ${JSON.stringify(path)} of host ${forHost}: ${(e as Error).message}`);
      }
      key = pulumi.secret(text);
      this.cache.set(full, key);
    }
    return key;
  }
}

/** `~` and `~/…` to the operator's home directory (like Terraform's `pathexpand`). */
export function expandHome(path: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return `${homedir()}/${path.slice(2)}`;
  return path;
}
