import { Construct } from 'constructs';
import type { Host } from '../inventory.js';
import type { Plan, PlanStep } from '../plan/index.js';
import { stepSlug } from '../plan/index.js';
import { sh } from '../shell.js';
import { ValidationError } from '../validate.js';
import { isAbsolute, relative, resolve } from 'node:path';
import {
  Annotations,
  App,
  type FileProvisioner,
  Fn,
  LocalBackend,
  type RemoteExecProvisioner,
  type SSHProvisionerConnection,
  TerraformBackend,
  TerraformResource,
  TerraformStack,
  TerraformVariable,
  nullProvider,
  nullResource,
} from './cdktf-lib.js';

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
}

/** SSH connection timeout of the quick checks (the first wave): a host that does not answer fails the deploy early. */
const QUICK_CONNECTION_TIMEOUT = '30s';

/**
 * Renders a plan into the enclosing TerraformStack: one resource per step, named after the step id, with an SSH
 * connection to the step's host, `file` provisioners that stage the step's files (secrets by `source` path, never
 * inlined), a `remote-exec` that runs the step's script under bash, `depends_on` from the step's `after`, and the
 * step's content hash as the replacement trigger, so a change re-runs exactly the steps it affects.
 */
export class TerraformProvisioner extends Construct {
  /** The resource of each step, by step id. */
  readonly resources: ReadonlyMap<string, TerraformResource>;

  constructor(scope: Construct, id: string, props: TerraformProvisionerProps) {
    super(scope, id);
    const resourceType = props.resourceType ?? 'terraform_data';
    const timeout = props.connectionTimeout ?? '5m';
    if (resourceType === 'null_resource') new nullProvider.NullProvider(this, 'null');
    for (const warning of props.plan.warnings) Annotations.of(this).addWarning(warning);
    const resources = new Map<string, TerraformResource>();
    const slugs = new Map<string, string>();
    const stack = TerraformStack.of(this);
    const paths = new OperatorPaths(resolve(App.of(this).outdir, 'stacks', stack.node.id));
    const keys = new KeyVariables(this, paths);
    defaultToRelativeLocalState(stack, paths);
    for (const step of props.plan.steps) {
      const name = stepSlug(step.id);
      const clash = slugs.get(name);
      if (clash) throw new ValidationError(`${this.node.path}: steps ${JSON.stringify(clash)} and ${JSON.stringify(step.id)} both become resource ${name}`);
      slugs.set(name, step.id);
      const host = props.plan.host(step.host);
      // a forced or interrupted re-run of a step the check depends on re-runs the check as well (e.g. etcd health)
      // (as plain references: Terraform reads no "${…}" template there)
      const replaceTriggeredBy = step.rerunWith.filter((id) => step.after.includes(id)).map((id) => `${resourceType}.${stepSlug(id)}`);
      const config = {
        connection: sshConnection(host, step.quickConnect ? QUICK_CONNECTION_TIMEOUT : timeout, keys),
        provisioners: provisioners(step, paths),
        dependsOn: step.after.length ? step.after.map((dep) => resources.get(dep)!) : undefined,
        lifecycle: replaceTriggeredBy.length ? { replaceTriggeredBy } : undefined,
      };
      const resource =
        resourceType === 'terraform_data'
          ? new TerraformDataStep(this, name, step.hash, config)
          : new nullResource.Resource(this, name, { ...config, triggers: { hash: step.hash } });
      resource.overrideLogicalId(name);
      // for `hakube status`, which reads the synthesized stack: the step, and whether it is a read-only check
      resource.addOverride('//.hakube', { step: step.id, host: step.host, ...(step.check ? { check: true } : {}) });
      resources.set(step.id, resource);
    }
    this.resources = resources;
  }
}

/**
 * `terraform_data` with `triggers_replace`. cdktf's own DataResource class checks the Terraform version once per
 * instance while validating (tens of milliseconds each: minutes for a large plan); this class skips that.
 */
class TerraformDataStep extends TerraformResource {
  constructor(
    scope: Construct,
    id: string,
    private readonly trigger: string,
    config: Pick<TerraformResource, 'connection' | 'provisioners' | 'lifecycle'> & { dependsOn?: TerraformResource[] },
  ) {
    super(scope, id, {
      terraformResourceType: 'terraform_data',
      terraformGeneratorMetadata: { providerName: 'terraform' },
      ...config,
    });
  }

  protected override synthesizeAttributes(): Record<string, unknown> {
    return { triggers_replace: this.trigger };
  }

  protected override synthesizeHclAttributes(): Record<string, unknown> {
    return { triggers_replace: { value: this.trigger, isBlock: false, type: 'simple', storageClassType: 'string' } };
  }
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
  private readonly variables = new Map<string, TerraformVariable>();
  constructor(private readonly scope: Construct, private readonly paths: OperatorPaths) {}

  /** `file(pathexpand(var.<name>))` for the key at `path`. */
  key(path: string): string {
    let variable = this.variables.get(path);
    if (!variable) {
      const name = `ssh_private_key_${this.variables.size + 1}`;
      variable = new TerraformVariable(this.scope, name, { type: 'string', default: this.paths.of(path), description: 'Path of an SSH private key the provisioners connect with (read at apply time only)' });
      variable.overrideLogicalId(name);
      this.variables.set(path, variable);
    }
    return Fn.file(Fn.pathexpand(variable.stringValue));
  }
}

/** The SSH connection to a host; the private key is read by Terraform when a step connects, never synthesized. */
function sshConnection(host: Host, timeout: string, keys: KeyVariables): SSHProvisionerConnection {
  const key = (path: string | undefined) => (path ? keys.key(path) : undefined);
  return {
    type: 'ssh',
    host: host.address,
    port: host.port,
    user: host.user,
    timeout,
    ...(host.privateKeyPath ? { privateKey: key(host.privateKeyPath), agent: 'false' } : { agent: 'true' }),
    ...(host.hostKey ? { hostKey: host.hostKey } : {}),
    ...(host.bastion
      ? {
          bastionHost: host.bastion.address,
          bastionPort: host.bastion.port,
          bastionUser: host.bastion.user,
          ...(host.bastion.privateKeyPath ? { bastionPrivateKey: key(host.bastion.privateKeyPath) } : {}),
        }
      : {}),
  };
}

/** Make a private stage dir, upload the files and the script into it, run the script. */
function provisioners(step: PlanStep, paths: OperatorPaths): Array<FileProvisioner | RemoteExecProvisioner> {
  const prepare = `umask 077 && mkdir -p ${sh(parentOf(step.stageDir))} && rm -rf ${sh(step.stageDir)} && mkdir ${sh(step.stageDir)}`;
  return [
    { type: 'remote-exec', inline: [prepare] },
    ...step.files.map(
      (file): FileProvisioner =>
        file.secret
          ? { type: 'file', source: paths.of(`${file.secret.dir}/${file.secret.file}`), destination: file.stagedAt }
          : { type: 'file', content: escapeTemplate(file.content!), destination: file.stagedAt },
    ),
    { type: 'file', content: escapeTemplate(step.script), destination: step.scriptPath },
    { type: 'remote-exec', inline: [step.command] },
  ];
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}

/** Terraform treats `${…}` and `%{…}` in strings as templates; file contents and scripts are literal text. */
export function escapeTemplate(text: string): string {
  return text.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{');
}

/** The text {@link escapeTemplate} escaped, as Terraform hands it on (for readers of a synthesized stack). */
export function unescapeTemplate(text: string): string {
  return text.replace(/\$\$\{/g, () => '${').replace(/%%\{/g, () => '%{');
}
