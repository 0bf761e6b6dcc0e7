import { hostScript, sh } from '../shell.js';
import { type PlanStep, sha256, stagePrepareCommand, stepSlug } from './step.js';

/** How {@link groupSteps} groups. */
export interface GroupStepsOptions {
  /** Steps that stay a group of their own (e.g. read-only checks a backend must still find by step). @default none */
  readonly alone?: (step: PlanStep) => boolean;
}

/**
 * A host's consecutive steps grouped, so a backend can run each group as one unit. `steps` are in plan order and
 * every step they run after is among them. A step joins the latest group of its host when it runs after a step of
 * that group and every other step it runs after is in the group or already a dependency of the group: the group
 * graph stays the step graph with chains contracted (no new edge, so no cycle), and within a group the steps keep
 * plan order. A step that a step of another host runs after ends its group, so no host waits for more than it needs.
 */
export function groupSteps(steps: readonly PlanStep[], options: GroupStepsOptions = {}): PlanStep[][] {
  const alone = options.alone ?? (() => false);
  const hostOf = new Map(steps.map((step) => [step.id, step.host]));
  const groups: Array<{ steps: PlanStep[]; ids: Set<string>; deps: Set<number>; closed: boolean }> = [];
  const groupOf = new Map<string, number>();
  const latest = new Map<string, number>();
  // steps another host waits for end their group: what joins after them would delay that host
  const awaitedElsewhere = new Set(steps.flatMap((step) => step.after.filter((dep) => hostOf.get(dep) !== step.host)));
  for (const step of steps) {
    const index = latest.get(step.host);
    const group = index === undefined ? undefined : groups[index]!;
    const joins =
      group !== undefined &&
      !group.closed &&
      !alone(step) &&
      step.after.some((dep) => group.ids.has(dep)) &&
      step.after.every((dep) => group.ids.has(dep) || group.deps.has(groupOf.get(dep)!));
    const closed = awaitedElsewhere.has(step.id) || alone(step);
    if (joins) {
      group.steps.push(step);
      group.ids.add(step.id);
      group.closed = closed;
      groupOf.set(step.id, index!);
    } else {
      const deps = new Set(step.after.map((dep) => groupOf.get(dep)!));
      groups.push({ steps: [step], ids: new Set([step.id]), deps, closed });
      groupOf.set(step.id, groups.length - 1);
      latest.set(step.host, groups.length - 1);
    }
  }
  return groups.map((g) => g.steps);
}

/** The content hash of a group of steps: a change of any of its steps changes it. */
export function groupHash(steps: readonly PlanStep[]): string {
  return sha256(steps.map((step) => step.hash).join(' '));
}

/** Where a group runner records, on its host, the hash of each step that succeeded there (one file per step). */
export const STEP_RECORD_DIR = '/var/lib/hakube/steps';

/** What runs a group of a host's steps as one unit (see {@link renderGroupRunner}). */
export interface GroupRunner {
  /** The runner's own stage directory (prepare it with `stageCommand`, upload `script` to `scriptPath`). */
  readonly stageDir: string;
  readonly stageCommand: string;
  readonly script: string;
  readonly scriptPath: string;
  /** The command that runs it over SSH (through sudo for a non-root user, like a step's). */
  readonly command: string;
}

/**
 * The runner of a group of one host's steps, staged like a step: it runs each step's script, in order, when the
 * step's hash differs from the one recorded in {@link STEP_RECORD_DIR} when the step last succeeded there (a step
 * that did not change has its stage directory removed instead), and records the hash after success. When the group
 * as a whole is the same as when it last finished there (`groupHash`), the run is a forced re-run: every step runs.
 * An interrupted group resumes at the step that failed. No staged file stays behind on any exit. Pure.
 */
export function renderGroupRunner(steps: readonly PlanStep[], groupHash: string): GroupRunner {
  const first = steps[0]!;
  const stageDir = `${first.stageDir}.group`;
  const scriptPath = `${stageDir}/run.sh`;
  const script = `#!/usr/bin/env bash\n# hakube: ${steps.length} steps on ${first.host}, each run when it changed since it last succeeded here\n${hostScript(
    {
      runner_stage: stageDir,
      group_hash: groupHash,
      group_record: `${STEP_RECORD_DIR}/${stepSlug(first.id)}.group`,
      record_dir: STEP_RECORD_DIR,
      step_ids: steps.map((s) => s.id),
      step_hashes: steps.map((s) => s.hash),
      step_scripts: steps.map((s) => s.scriptPath),
      step_stages: steps.map((s) => s.stageDir),
      step_records: steps.map((s) => `${STEP_RECORD_DIR}/${stepSlug(s.id)}`),
    },
    'group-runner.sh',
  )}`;
  // run as the steps are (sudo for a non-root user)
  const command = first.command.replace(sh(first.scriptPath), sh(scriptPath));
  return { stageDir, stageCommand: stagePrepareCommand(stageDir), script, scriptPath, command };
}
