import type { IConstruct } from 'constructs';
import yaml from 'js-yaml';
import { Host, assertUniqueHosts } from '../inventory.js';
import { ValidationError } from '../validate.js';
import { unpinnedHostKeyWarnings, withReachabilityChecks } from './reachability.js';
import { type PlanStep, type StepSpec, resolveStep } from './step.js';

/** Implemented by every hakube construct that puts work on hosts. */
export interface PlanContributor {
  /** Called once per plan, after the whole tree validated: generate or load secrets, return the steps. */
  planSteps(): Promise<StepSpec[]>;
}

const WARNING = 'hakube:warning';

/** Record a warning on a construct; `Plan.of` collects it into `plan.warnings`. */
export function addWarning(scope: IConstruct, message: string): void {
  scope.node.addMetadata(WARNING, message);
}

function isPlanContributor(value: unknown): value is PlanContributor {
  return typeof (value as Partial<PlanContributor>).planSteps === 'function';
}

/**
 * The synthesized plan: hosts and the steps to run on them, as plain data. Steps are in a stable order
 * (by wave, then by id), so serialized plans only change when behaviour does.
 */
export class Plan {
  /** Hosts that have at least one step, sorted by name. */
  readonly hosts: readonly Host[];
  /** Steps in dependency order: each wave in turn, ids sorted within a wave. */
  readonly steps: readonly PlanStep[];
  /** Warnings the constructs raised (e.g. a one-member etcd cluster). */
  readonly warnings: readonly string[];
  private readonly byId: ReadonlyMap<string, PlanStep>;
  private readonly levels: readonly (readonly PlanStep[])[];

  /**
   * The plan of a construct tree: validates every construct under `scope` (all errors in one message, nothing
   * written), then asks each hakube construct for its steps. The whole-tree rules constructs registered with
   * `node.addValidation` run here, once the tree is complete; each message is a `problem()` and is reported as
   * `<Construct> <path>: <problem>`, the form `fail()` gives the constructor's own checks.
   */
  static async of(scope: IConstruct): Promise<Plan> {
    const nodes = scope.node.findAll();
    const errors = nodes.flatMap((c) => c.node.validate().map((message) => `${c.node.path ? `${c.constructor.name} ${c.node.path}` : '<root>'}: ${message}`));
    if (errors.length > 0) throw new ValidationError(`invalid topology:\n  - ${errors.join('\n  - ')}`);
    const warnings = nodes.flatMap((c) =>
      c.node.metadata.filter((m) => m.type === WARNING).map((m) => `${c.node.path}: ${String(m.data)}`),
    );
    const specs: StepSpec[] = [];
    for (const construct of nodes) {
      if (isPlanContributor(construct)) specs.push(...(await construct.planSteps()));
    }
    return new Plan(withReachabilityChecks(specs), [...warnings, ...unpinnedHostKeyWarnings(specs)]);
  }

  /** A plan from steps directly (constructs use `Plan.of`). Throws on duplicate ids, unknown `after` ids and cycles. */
  constructor(specs: readonly StepSpec[], warnings: readonly string[] = []) {
    const hosts = [...new Map(specs.map((s) => [s.host.name, s.host])).values()];
    assertUniqueHosts('plan', [...new Set(specs.map((s) => s.host))]);
    const specsById = new Map<string, StepSpec>();
    for (const spec of specs) {
      if (specsById.has(spec.id)) throw new ValidationError(`plan: step id ${JSON.stringify(spec.id)} is used twice`);
      specsById.set(spec.id, spec);
    }
    // a step is resolved after the steps whose hashes go into its own (rerunWith)
    const byId = new Map<string, PlanStep>();
    const resolving = new Set<string>();
    const resolve = (spec: StepSpec): PlanStep => {
      const done = byId.get(spec.id);
      if (done) return done;
      if (resolving.has(spec.id)) throw new ValidationError(`plan: rerunWith cycle through step ${JSON.stringify(spec.id)}`);
      resolving.add(spec.id);
      const hashes = (spec.rerunWith ?? []).map((id) => {
        const other = specsById.get(id);
        if (!other) throw new ValidationError(`plan: step ${JSON.stringify(spec.id)} re-runs with unknown step ${JSON.stringify(id)}`);
        return resolve(other).hash;
      });
      const step = resolveStep(spec, hashes);
      byId.set(spec.id, step);
      return step;
    };
    for (const spec of specs) resolve(spec);
    for (const step of byId.values()) {
      for (const dep of step.after) {
        if (!byId.has(dep)) throw new ValidationError(`plan: step ${JSON.stringify(step.id)} runs after unknown step ${JSON.stringify(dep)}`);
      }
    }
    this.levels = topologicalLevels(byId);
    this.steps = this.levels.flat();
    this.byId = byId;
    this.hosts = hosts.sort((a, b) => a.name.localeCompare(b.name));
    this.warnings = [...warnings];
  }

  step(id: string): PlanStep {
    const step = this.byId.get(id);
    if (!step) throw new ValidationError(`plan: no step ${JSON.stringify(id)}`);
    return step;
  }

  host(name: string): Host {
    const host = this.hosts.find((h) => h.name === name);
    if (!host) throw new ValidationError(`plan: no host ${JSON.stringify(name)}`);
    return host;
  }

  /** Topological levels: every step of a wave can run in parallel once the previous waves are done. */
  waves(): PlanStep[][] {
    return this.levels.map((level) => [...level]);
  }

  /**
   * The longest chain of dependent steps (the lower bound of any deploy). `cost` weighs each step; by default
   * every step costs 1, so the path is the one with the most steps.
   */
  criticalPath(cost: (step: PlanStep) => number = () => 1): PlanStep[] {
    const best = new Map<string, { total: number; prev?: string }>();
    for (const step of this.steps) {
      let entry: { total: number; prev?: string } = { total: cost(step) };
      for (const dep of step.after) {
        const candidate = best.get(dep)!.total + cost(step);
        if (candidate > entry.total) entry = { total: candidate, prev: dep };
      }
      best.set(step.id, entry);
    }
    let last: string | undefined;
    for (const [id, entry] of best) if (last === undefined || entry.total > best.get(last)!.total) last = id;
    const path: PlanStep[] = [];
    for (let id = last; id !== undefined; id = best.get(id)!.prev) path.unshift(this.byId.get(id)!);
    return path;
  }

  /**
   * The plan as YAML for review and snapshot tests: hosts, then steps with files (secrets by path inside their
   * secrets directory and hash, never content), scripts and hashes. Machine-specific paths are left out.
   */
  toYaml(): string {
    return yaml.dump(
      {
        hosts: this.hosts.map((h) => ({ name: h.name, address: h.address, user: h.user, port: h.port })),
        warnings: this.warnings.length ? this.warnings : undefined,
        steps: this.steps.map((s) => ({
          id: s.id,
          host: s.host,
          title: s.title,
          after: s.after.length ? s.after : undefined,
          files: s.files.length
            ? s.files.map((f) => ({
                path: f.path,
                mode: f.mode,
                owner: f.owner,
                ...(f.secret ? { secret: f.secret.file } : { content: f.content }),
                sha256: f.sha256,
              }))
            : undefined,
          script: s.script,
          hash: s.hash,
        })),
      },
      { lineWidth: -1, noRefs: true, skipInvalid: false },
    );
  }
}

/** Kahn's algorithm by levels; ids sorted within a level. Throws on a cycle, naming the steps in it. */
function topologicalLevels(steps: ReadonlyMap<string, PlanStep>): PlanStep[][] {
  const waiting = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const step of steps.values()) {
    waiting.set(step.id, step.after.length);
    for (const dep of step.after) {
      const list = dependents.get(dep);
      if (list) list.push(step.id);
      else dependents.set(dep, [step.id]);
    }
  }
  const levels: PlanStep[][] = [];
  let ready = [...waiting].filter(([, count]) => count === 0).map(([id]) => id);
  let placed = 0;
  while (ready.length > 0) {
    ready.sort();
    levels.push(ready.map((id) => steps.get(id)!));
    placed += ready.length;
    const next: string[] = [];
    for (const id of ready) {
      for (const dependent of dependents.get(id) ?? []) {
        const left = waiting.get(dependent)! - 1;
        waiting.set(dependent, left);
        if (left === 0) next.push(dependent);
      }
    }
    ready = next;
  }
  if (placed < steps.size) {
    const stuck = [...waiting].filter(([, count]) => count > 0).map(([id]) => id).sort();
    throw new ValidationError(`plan: dependency cycle among steps ${stuck.join(', ')}`);
  }
  return levels;
}
