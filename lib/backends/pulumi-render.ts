/** A plan's steps (or per-host groups) as `@pulumi/command` resources. */

import * as pulumi from '@pulumi/pulumi';
import { remote, type types } from '@pulumi/command';

import type { PlanFile, PlanStep } from '../plan/index.js';
import { groupHash, renderGroupRunner, stepSlug } from '../plan/index.js';

import type { PulumiStepResources } from './pulumi.js';

export interface RenderContext {
  readonly parent: pulumi.Resource;
  /** The SSH connection for steps of one host (quick when they all are quick checks). */
  readonly connection: (steps: readonly PlanStep[]) => types.input.remote.ConnectionArgs;
  readonly replaceWithStage: boolean;
}

/** Names of the resources a unit (a step, or a per-host group) becomes; the run command is the unit's first slug. */
export function resourceNames(unit: readonly PlanStep[], mode: 'per-step' | 'per-host'): string[] {
  const slug = stepSlug(unit[0]!.id);
  if (mode === 'per-step') {
    return [`${slug}-stage`, ...unit[0]!.files.map((_, i) => `${slug}-file-${i}`), `${slug}-script`, slug];
  }
  const secrets = unit.flatMap((step) => step.files.filter((f) => f.secret));
  return secrets.length === 0 ? [slug] : [`${slug}-stage`, ...secrets.map((_, i) => `${slug}-file-${i}`), slug];
}

export function renderStep(ctx: RenderContext, step: PlanStep, done: ReadonlyMap<string, PulumiStepResources>): PulumiStepResources {
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
export function renderGroup(ctx: RenderContext, group: readonly PlanStep[], done: ReadonlyMap<string, PulumiStepResources>): PulumiStepResources {
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

