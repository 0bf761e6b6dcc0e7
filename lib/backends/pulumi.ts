/**
 * The Pulumi backend (`hakube/pulumi`): the component that renders a plan with `@pulumi/command` 1.2+ remote
 * resources over SSH. It and its parts (pulumi-render.ts: a plan's resources; pulumi-windows.ts: registering a large
 * plan in windows; pulumi-ssh.ts: connections) are the only modules that import `@pulumi/*` (both optional peer
 * dependencies: a cdktf-only user never loads them).
 */

import * as pulumi from '@pulumi/pulumi';
import { remote } from '@pulumi/command';

import type { Plan, PlanStep } from '../plan/index.js';
import { groupSteps } from '../plan/index.js';
import { ValidationError } from '../validate.js';
import { defaultMaxPending, heapWarning, registerInWindows, withoutPromiseStacks } from './pulumi-windows.js';
import { type RenderContext, renderGroup, renderStep, resourceNames } from './pulumi-render.js';
import { KeyReader, QUICK_DIAL, pulumiConnection } from './pulumi-ssh.js';
export { STDIN_WRITER, encodeStdin } from './pulumi-render.js';
export { KeyReader, expandHome, pulumiConnection } from './pulumi-ssh.js';

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

