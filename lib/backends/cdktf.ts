import { readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { Construct } from 'constructs';
import type { Host } from '../inventory.js';
import { CORE_PART, type Plan, type PlanStep, groupHash, groupSteps, partitionPlan, renderGroupRunner, stepSlug } from '../plan/index.js';
import { ValidationError, fail } from '../validate.js';
import { Annotations, App, LocalBackend, TerraformBackend, TerraformStack, TerraformVariable, nullProvider } from './cdktf-lib.js';

export interface TerraformProvisionerProps {
  /** The plan to provision. */
  readonly plan: Plan;
  /**
   * Resource each step becomes: `terraform_data` is built into Terraform (1.4+) and needs no provider download;
   * `null_resource` needs the hashicorp/null provider. @default "terraform_data"
   */
  readonly resourceType?: 'terraform_data' | 'null_resource';
  /**
   * How long Terraform keeps retrying a host's SSH connection in a step (hosts may be rebooting). The first wave's
   * reachability checks give up after 30 s instead. @default "5m"
   */
  readonly connectionTimeout?: string;
  /**
   * Most hosts one Terraform stack holds. Terraform writes its whole state after every resource, so an apply's cost
   * per resource grows with the stack; a plan with more hosts is split ({@link partitionPlan}): the hosts other hosts
   * wait for stay in the enclosing stack, the rest (the workers) fill stacks `<stack>-workers-1`, `-2`, … that
   * depend on it, so `cdktf deploy '*'` deploys the core first. @default 250
   */
  readonly maxHostsPerStack?: number;
  /**
   * Gives each worker stack the provisioner makes its backend, e.g.
   * `(stack) => new S3Backend(stack, { bucket, key: \`${stack.node.id}.tfstate\` })`.
   * @default cdktf's local state, `terraform.<stack>.tfstate` in the project
   */
  readonly workerStackBackend?: (stack: TerraformStack) => void;
  /**
   * `per-step`: one resource per step. `per-host`: a host's consecutive steps become one resource (checks and the
   * reachability gate stay their own), which runs each of its steps only when that step's content hash differs from
   * the one the host recorded when the step last succeeded there — fewer resources, the same steps re-run by a change;
   * a forced replacement (`-replace`) of the resource runs all of them. @default "per-step"
   */
  readonly combine?: 'per-step' | 'per-host';
}

/** Where a step's resource is: the stack (construct id, the directory under `cdktf.out/stacks`) and its address. */
export interface StepResource {
  readonly stack: string;
  /** e.g. `terraform_data.etcd-lab_node-1_configure` (per-host: the resource of the step's group). */
  readonly address: string;
}

/** SSH connection timeout of the quick checks (the first wave): a host that does not answer fails the deploy early. */
const QUICK_CONNECTION_TIMEOUT = '30s';

/**
 * Renders a plan as Terraform resources: one per step (or per group of a host's steps), named after the step id,
 * with an SSH connection to the step's host, `file` provisioners that stage the step's files (secrets by `source`
 * path, never inlined), a `remote-exec` that runs the step's script under bash, `depends_on` from the step's `after`,
 * and the step's content hash as the replacement trigger, so a change re-runs exactly the steps it affects. A plan
 * larger than `maxHostsPerStack` is spread over several stacks (see the prop).
 *
 * The resources are plain JSON added to each stack's output (no construct and no token per resource; see
 * `addPlainResources`): what keeps synthesizing 15,000 workers near a few times writing their JSON.
 */
export class TerraformProvisioner extends Construct {
  /** The resource of each step, by step id. */
  readonly resources: ReadonlyMap<string, StepResource>;
  /** The stacks the plan is rendered into: the enclosing stack first, then the worker stacks made for it. */
  readonly stacks: readonly TerraformStack[];

  constructor(scope: Construct, id: string, props: TerraformProvisionerProps) {
    super(scope, id);
    const resourceType = props.resourceType ?? 'terraform_data';
    const maxHosts = props.maxHostsPerStack ?? 250;
    if (!Number.isInteger(maxHosts) || maxHosts < 1) fail(this.node.path, 'maxHostsPerStack', maxHosts, 'must be a whole number of hosts, 1 or more');
    if (App.of(this).hclOutput) fail(this.node.path, 'the app\'s hclOutput', true, 'is not supported: the steps synthesize as JSON (cdk.tf.json); synthesize without --hcl');
    for (const warning of props.plan.warnings) Annotations.of(this).addWarning(warning);
    const core = TerraformStack.of(this);
    const resources = new Map<string, StepResource>();
    const stacks: TerraformStack[] = [];
    for (const part of partitionPlan(props.plan, maxHosts)) {
      const stack = part.name === CORE_PART ? core : new TerraformStack(App.of(core), `${core.node.id}-${part.name}`);
      if (stack !== core) props.workerStackBackend?.(stack);
      if (part.after.length) stack.addDependency(core);
      const scope = stack === core ? this : stack;
      if (resourceType === 'null_resource') new nullProvider.NullProvider(scope, 'null');
      const paths = new OperatorPaths(resolve(App.of(this).outdir, 'stacks', stack.node.id));
      defaultToRelativeLocalState(stack, paths);
      const units = props.combine === 'per-host' ? groupSteps(part.steps, { alone: (step) => step.check || step.quickConnect }) : part.steps.map((step) => [step]);
      const ctx: RenderContext = { plan: props.plan, resourceType, timeout: props.connectionTimeout ?? '5m', keys: new KeyVariables(scope, paths), paths, where: this.node.path };
      const body = renderResources(units, ctx);
      addPlainResources(stack, resourceType, body);
      for (const unit of units) for (const step of unit) resources.set(step.id, { stack: stack.node.id, address: `${resourceType}.${stepSlug(unit[0]!.id)}` });
      stacks.push(stack);
    }
    this.resources = resources;
    this.stacks = stacks;
  }
}

/**
 * Adds a stack's step resources (plain JSON, no token) to what the stack synthesizes, past cdktf's own work on them:
 * cdktf walks every element's JSON three times looking for tokens and writes the stack with a key-sorting
 * JavaScript serializer, which for a large plan's scripts costs several times writing them. `toTerraform` (what
 * `Testing.synth` reads) returns the whole stack; the synthesizer writes the rest first, then `cdk.tf.json` again
 * with the resources by `JSON.stringify` — the same JSON, as the resources are built with their keys in order.
 */
function addPlainResources(stack: TerraformStack, resourceType: string, body: Record<string, unknown>): void {
  let writing = false;
  const toTerraform = stack.toTerraform.bind(stack);
  stack.toTerraform = () => {
    const tf = toTerraform();
    return writing ? tf : withResources(tf, resourceType, body);
  };
  const synthesizer = stack.synthesizer;
  stack.synthesizer = {
    synthesize(session) {
      writing = true;
      try {
        synthesizer.synthesize(session);
      } finally {
        writing = false;
      }
      const file = join(session.outdir, session.manifest.forStack(stack).synthesizedStackPath);
      writeFileSync(file, JSON.stringify(withResources(JSON.parse(readFileSync(file, 'utf8')), resourceType, body), null, 2));
    },
  };
}

/** A stack's JSON with `body` merged into its `resource` block, keys in order (as cdktf writes them). */
function withResources(tf: Record<string, any>, resourceType: string, body: Record<string, unknown>): Record<string, unknown> {
  const sorted = (object: Record<string, any>) => Object.fromEntries(Object.keys(object).sort().map((key) => [key, object[key]]));
  return sorted({ ...tf, resource: sorted({ ...tf.resource, [resourceType]: sorted({ ...tf.resource?.[resourceType], ...body }) }) });
}

interface RenderContext {
  readonly plan: Plan;
  readonly resourceType: 'terraform_data' | 'null_resource';
  readonly timeout: string;
  readonly keys: KeyVariables;
  readonly paths: OperatorPaths;
  /** Construct path, for errors. */
  readonly where: string;
}

/** The resources of a stack's units (a unit is one step, or a host's group of steps), by resource name. */
function renderResources(units: readonly (readonly PlanStep[])[], ctx: RenderContext): Record<string, unknown> {
  const nameOf = new Map<string, string>();
  const slugs = new Map<string, string>();
  for (const unit of units) {
    const name = stepSlug(unit[0]!.id);
    const clash = slugs.get(name);
    if (clash) throw new ValidationError(`${ctx.where}: steps ${JSON.stringify(clash)} and ${JSON.stringify(unit[0]!.id)} both become resource ${name}`);
    slugs.set(name, unit[0]!.id);
    for (const step of unit) nameOf.set(step.id, name);
  }
  const address = (id: string) => `${ctx.resourceType}.${nameOf.get(id)!}`;
  const body: Record<string, unknown> = {};
  for (const unit of units) {
    const first = unit[0]!;
    const name = nameOf.get(first.id)!;
    const outside = (ids: readonly string[]) => [...new Set(ids.filter((id) => nameOf.get(id) !== name))].map(address);
    const dependsOn = outside(unit.flatMap((step) => step.after));
    // a forced or interrupted re-run of a step the check depends on re-runs the check as well (e.g. etcd health)
    const replaceTriggeredBy = outside(unit.flatMap((step) => step.rerunWith.filter((id) => step.after.includes(id))));
    const hash = unit.length === 1 ? first.hash : groupHash(unit);
    body[name] = {
      // for `hakube status`, which reads the synthesized stack: the step, and whether it is a read-only check
      '//': { hakube: unit.length === 1 ? { ...(first.check ? { check: true } : {}), host: first.host, step: first.id } : { host: first.host, steps: unit.map((s) => s.id) } },
      connection: terraformConnection(ctx.plan.host(first.host), first.quickConnect ? QUICK_CONNECTION_TIMEOUT : ctx.timeout, ctx.keys),
      ...(dependsOn.length ? { depends_on: dependsOn } : {}),
      ...(replaceTriggeredBy.length ? { lifecycle: { replace_triggered_by: replaceTriggeredBy } } : {}),
      provisioner: unit.length === 1 ? stepProvisioners(first, ctx.paths) : groupProvisioners(unit, hash, ctx.paths),
      ...(ctx.resourceType === 'terraform_data' ? { triggers_replace: hash } : { triggers: { hash } }),
    };
  }
  return body;
}

/**
 * Paths of operator-side files (secrets, SSH keys) as the synthesized stack names them: a file inside the project
 * (the directory synth runs in) relative to the stack directory, where Terraform runs — so the JSON is the same in
 * every clone; any other path as given.
 */
class OperatorPaths {
  private readonly projectDir = process.cwd();
  constructor(private readonly stackDir: string) {}

  of(path: string): string {
    if (!isAbsolute(path)) return path;
    const inProject = relative(this.projectDir, path);
    return inProject.startsWith('..') || isAbsolute(inProject) ? path : relative(this.stackDir, path);
  }
}

/**
 * A stack without a backend gets cdktf's default local state file, `terraform.<stack>.tfstate` in the project, but
 * named relative to the stack directory instead of by its absolute path. cdktf adds its default while synthesizing,
 * after every construct is built (a backend the user adds later still wins), so this replaces that one method.
 */
function defaultToRelativeLocalState(stack: TerraformStack, paths: OperatorPaths): void {
  const ensureBackendExists = stack.ensureBackendExists.bind(stack);
  stack.ensureBackendExists = () => {
    const declared = stack.node.findAll().some((c) => c instanceof TerraformBackend);
    return declared ? ensureBackendExists() : new LocalBackend(stack, { path: paths.of(resolve(`terraform.${stack.node.id}.tfstate`)) });
  };
}

/**
 * One Terraform variable per private key path (default: the path), read with `file()` only inside connection
 * blocks: `terraform validate` and `plan` leave it unevaluated, so a machine without the key (a CI job that only
 * checks infrastructure code) validates and plans the stack; apply reads it when a step connects. Override with
 * `-var ssh_private_key_1=…` or `TF_VAR_ssh_private_key_1`.
 */
class KeyVariables {
  private readonly names = new Map<string, string>();
  constructor(private readonly scope: Construct, private readonly paths: OperatorPaths) {}

  /** `${file(pathexpand(var.<name>))}` for the key at `path` (a plain expression: no token per connection). */
  key(path: string): string {
    let name = this.names.get(path);
    if (!name) {
      name = `ssh_private_key_${this.names.size + 1}`;
      new TerraformVariable(this.scope, name, { type: 'string', default: this.paths.of(path), description: 'Path of an SSH private key the provisioners connect with (read at apply time only)' }).overrideLogicalId(name);
      this.names.set(path, name);
    }
    return `\${file(pathexpand(var.${name}))}`;
  }
}

/** The SSH connection block to a host; the private key is read by Terraform when a step connects, never synthesized. */
function terraformConnection(host: Host, timeout: string, keys: KeyVariables): Record<string, unknown> {
  // keys in alphabetical order, as cdktf writes them (see addPlainResources)
  const bastion = host.bastion;
  return {
    agent: host.privateKeyPath ? 'false' : 'true',
    ...(bastion
      ? {
          bastion_host: bastion.address,
          bastion_port: bastion.port,
          ...(bastion.privateKeyPath ? { bastion_private_key: keys.key(bastion.privateKeyPath) } : {}),
          bastion_user: bastion.user,
        }
      : {}),
    host: host.address,
    ...(host.hostKey ? { host_key: host.hostKey } : {}),
    port: host.port,
    ...(host.privateKeyPath ? { private_key: keys.key(host.privateKeyPath) } : {}),
    timeout,
    type: 'ssh',
    user: host.user,
  };
}

const remoteExec = (command: string) => ({ 'remote-exec': { inline: [command] } });

/** A step's uploads: its files (secrets by path) and its script. */
function uploads(step: PlanStep, paths: OperatorPaths): object[] {
  return [
    ...step.files.map((file) =>
      file.secret
        ? { file: { destination: file.stagedAt, source: paths.of(`${file.secret.dir}/${file.secret.file}`) } }
        : { file: { content: escapeTemplate(file.content!), destination: file.stagedAt } },
    ),
    { file: { content: escapeTemplate(step.script), destination: step.scriptPath } },
  ];
}

/** Make a private stage dir, upload the files and the script into it, run the script. */
function stepProvisioners(step: PlanStep, paths: OperatorPaths): object[] {
  return [remoteExec(step.stageCommand), ...uploads(step, paths), remoteExec(step.command)];
}

/** Per-host: stage every step of the group and the group's runner, then run the runner. */
function groupProvisioners(group: readonly PlanStep[], groupHash: string, paths: OperatorPaths): object[] {
  const runner = renderGroupRunner(group, groupHash);
  return [
    remoteExec([...group.map((step) => step.stageCommand), runner.stageCommand].join(' && ')),
    ...group.flatMap((step) => uploads(step, paths)),
    { file: { content: escapeTemplate(runner.script), destination: runner.scriptPath } },
    remoteExec(runner.command),
  ];
}

/** Terraform treats `${…}` and `%{…}` in strings as templates; file contents and scripts are literal text. */
export function escapeTemplate(text: string): string {
  return text.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{');
}

/** The text {@link escapeTemplate} escaped, as Terraform hands it on (for readers of a synthesized stack). */
export function unescapeTemplate(text: string): string {
  return text.replace(/\$\$\{/g, () => '${').replace(/%%\{/g, () => '%{');
}
