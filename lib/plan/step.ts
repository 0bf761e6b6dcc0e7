import { createHash } from 'node:crypto';
import type { Host } from '../inventory.js';
import { hostScript, sh } from '../shell.js';
import { fail, isAbsolutePath } from '../validate.js';

/** A file a step places on its host. Exactly one of `content` and `secret` is set. */
export interface StepFile {
  /** Absolute destination path on the host. */
  readonly path: string;
  /** Octal mode, e.g. "0644". */
  readonly mode: string;
  /** "user:group" that owns the file. @default "root:root" */
  readonly owner?: string;
  /** Inline text. Never key material: that goes through `secret`. */
  readonly content?: string;
  /** A file in the operator's secrets directory, copied by path and never inlined. */
  readonly secret?: SecretRef;
}

/** A file in a secrets directory on the operator's machine (made by `SecretStore.ref`). */
export interface SecretRef {
  /** Absolute path of the secrets directory. */
  readonly dir: string;
  /** Path of the file inside `dir`. */
  readonly file: string;
  /** sha256 of the file's bytes (of its path, for placeholder secrets). */
  readonly sha256: string;
}

/** What a construct contributes: one unit of work on one host. */
export interface StepSpec {
  /** Stable id, `<component>/<host>/<action>` or `<component>/<action>`. */
  readonly id: string;
  readonly host: Host;
  /** One line for humans. */
  readonly title: string;
  /** Files placed (atomically, only when changed) before `script` runs. @default [] */
  readonly files?: StepFile[];
  /** Bash body; runs after the files are in place, with `$CHANGED` = 1 when any file changed. */
  readonly script: string;
  /** Ids of steps that must finish first. @default [] */
  readonly after?: string[];
  /**
   * Ids of steps whose change re-runs this one too: their hashes go into this step's hash (a component's health
   * check re-runs whenever a step of the component ran). @default []
   */
  readonly rerunWith?: string[];
  /** A check that must fail within seconds when its host does not answer, instead of retrying SSH for minutes. @default false */
  readonly quickConnect?: boolean;
  /** Read-only: it verifies and changes nothing, so `hakube status` may run it at any time. @default false */
  readonly check?: boolean;
}

/** A file of a resolved step, with its content hash and where the backend stages it. */
export interface PlanFile {
  readonly path: string;
  readonly mode: string;
  readonly owner: string;
  readonly content?: string;
  readonly secret?: SecretRef;
  /** sha256 of the file's bytes. */
  readonly sha256: string;
  /** Where the backend uploads the file before the step's script installs it. */
  readonly stagedAt: string;
}

/** A step as backends see it: the full script, staged files and a content hash. */
export interface PlanStep {
  readonly id: string;
  /** Name of the host it runs on. */
  readonly host: string;
  readonly title: string;
  readonly files: readonly PlanFile[];
  /** Complete bash script (prologue that installs the files, then the body). */
  readonly script: string;
  /** Where the backend uploads `script` before running it. */
  readonly scriptPath: string;
  /** The command the backend runs over SSH (through sudo for a non-root user). */
  readonly command: string;
  /** The directory the backend creates (mode 0700) before uploading. */
  readonly stageDir: string;
  /** The command that prepares `stageDir` over SSH before the uploads: private (umask 077), emptied, parent created. */
  readonly stageCommand: string;
  readonly after: readonly string[];
  /** Steps whose change re-runs this one (see {@link StepSpec.rerunWith}). */
  readonly rerunWith: readonly string[];
  /** Fail within seconds when the host does not answer (see {@link StepSpec.quickConnect}). */
  readonly quickConnect: boolean;
  /** Read-only, for `hakube status` (see {@link StepSpec.check}). */
  readonly check: boolean;
  /** sha256 over the host's identity, the script, the files and the hashes of `rerunWith`: a change re-runs the step. */
  readonly hash: string;
}

const STEP_ID = /^[a-z0-9][a-z0-9.-]*(\/[a-z0-9][a-z0-9.-]*)*$/;
const MODE = /^0[0-7]{3}$/;
const OWNER = /^[a-z_][a-z0-9_-]*:[a-z_][a-z0-9_-]*$/;

/**
 * Resolve a construct's step into a plan step: validate it, hash it, write its script prologue. `rerunHashes` are the
 * hashes of its `rerunWith` steps, in that order.
 */
export function resolveStep(spec: StepSpec, rerunHashes: readonly string[] = []): PlanStep {
  const where = `step ${JSON.stringify(spec.id)}`;
  if (!STEP_ID.test(spec.id)) fail(where, 'id', spec.id, 'must be lowercase words joined by "/"');
  const stageDir = `${spec.host.stageDir}/${stepSlug(spec.id)}`;
  const files = (spec.files ?? []).map((file, index): PlanFile => {
    if (!isAbsolutePath(file.path)) fail(where, 'file path', file.path, 'must be an absolute path of safe characters');
    if (!MODE.test(file.mode)) fail(where, `mode of ${file.path}`, file.mode, 'must be an octal mode like "0644"');
    const owner = file.owner ?? 'root:root';
    if (!OWNER.test(owner)) fail(where, `owner of ${file.path}`, owner, 'must be "user:group"');
    if ((file.content === undefined) === (file.secret === undefined)) {
      fail(where, `file ${file.path}`, Object.keys(file), 'needs exactly one of content and secret');
    }
    return { ...file, owner, sha256: file.secret ? file.secret.sha256 : sha256(file.content!), stagedAt: `${stageDir}/${index}` };
  });
  const paths = new Set<string>();
  for (const file of files) {
    if (paths.has(file.path)) fail(where, 'file path', file.path, 'is placed twice');
    paths.add(file.path);
  }
  const script = renderStepScript(spec, stageDir, files);
  const scriptPath = `${stageDir}/run.sh`;
  // sudo -n: a host that asks for a password fails at once instead of waiting for one nobody types
  const command = spec.host.user === 'root' ? `bash ${sh(scriptPath)}` : `sudo -n bash ${sh(scriptPath)}`;
  const after = [...new Set(spec.after ?? [])].sort();
  const hash = sha256(
    JSON.stringify({
      // a pinned host key identifies the machine: a rebuilt host at the same address gets every step again
      host: [spec.host.name, spec.host.address, spec.host.user, spec.host.port, spec.host.hostKey ?? ''],
      script,
      files: files.map((f) => [f.path, f.mode, f.owner, f.sha256]),
      ...(rerunHashes.length ? { rerunWith: rerunHashes } : {}),
    }),
  );
  const rerunWith = [...(spec.rerunWith ?? [])];
  const stageCommand = stagePrepareCommand(stageDir);
  return { id: spec.id, host: spec.host.name, title: spec.title, files, script, scriptPath, command, stageDir, stageCommand, after, rerunWith, quickConnect: spec.quickConnect ?? false, check: spec.check ?? false, hash };
}

/** The command that prepares a stage directory: private (umask 077), emptied, parent created. */
export function stagePrepareCommand(dir: string): string {
  return `umask 077 && mkdir -p ${sh(dir.slice(0, dir.lastIndexOf('/')))} && rm -rf ${sh(dir)} && mkdir ${sh(dir)}`;
}

/** Step id as a single path or resource name segment: `etcd/node-1/configure` → `etcd_node-1_configure`. */
export function stepSlug(id: string): string {
  return id.replace(/\//g, '_').replace(/\./g, '-');
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Every host's step log: one line per step run, `<step id> TAB <start> TAB <end> TAB <exit status>` (times in epoch
 * seconds with nanoseconds), appended when the step ends — what each step cost, measured on the host.
 */
export const STEP_LOG = '/var/log/hakube/steps.log';

/** One line of a host's {@link STEP_LOG}. */
export interface StepLogEntry {
  readonly id: string;
  /** Epoch seconds. */
  readonly started: number;
  readonly ended: number;
  readonly exitStatus: number;
}

/** The lines of a step log (malformed lines are skipped). Pure. */
export function parseStepLog(text: string): StepLogEntry[] {
  return text.split('\n').flatMap((line) => {
    const [id, started, ended, status] = line.split('\t');
    const entry = { id, started: Number(started), ended: Number(ended), exitStatus: Number(status) };
    return id && status !== undefined && [entry.started, entry.ended, entry.exitStatus].every(Number.isFinite) ? [entry] : [];
  });
}

/**
 * The script every step runs: the step prologue (lib/scripts/step-prologue.sh, which documents what a step body may
 * rely on: strict mode, `$STAGE`, `$CHANGED`, `HAKUBE_CLEANUP`, the step log), the placing of the step's files
 * (step-files.sh, in steps with files), then the body.
 */
function renderStepScript(spec: StepSpec, stageDir: string, files: PlanFile[]): string {
  const prologue = hostScript({ step_id: spec.id, host_name: spec.host.name, stage_dir: stageDir, step_log: STEP_LOG }, 'step-prologue.sh');
  const placing = files.length ? [hostScript({ placements: files.flatMap((file, index) => [index, file.path, file.mode, file.owner]) }, 'step-files.sh')] : [];
  return ['#!/usr/bin/env bash', `# hakube step ${spec.id} on ${spec.host.name}`, prologue, ...placing, '# --- the step body', spec.script.trimEnd(), ''].join('\n');
}
