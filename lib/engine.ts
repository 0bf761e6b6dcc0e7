import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { cachedOpentofu } from './build/opentofu.js';

/**
 * The Terraform-compatible engine that deploys a synthesized stack: Terraform, or OpenTofu (a drop-in replacement).
 * cdktf runs the binary named by `TERRAFORM_BINARY_NAME`, so that is the one switch for users and for hakube.
 */
export interface Engine {
  /** Absolute path, or a name on the PATH. */
  readonly binary: string;
  /** `terraform` or `opentofu`, from the binary's own `version` output. */
  readonly kind: 'terraform' | 'opentofu';
  /** Where it came from, for messages: `TERRAFORM_BINARY_NAME`, `PATH` or `hakube build cache`. */
  readonly source: string;
  /** The first line of `<binary> version`, e.g. `OpenTofu v1.12.6`. */
  readonly version: string;
}

/**
 * Find the engine: `$TERRAFORM_BINARY_NAME` when set, else `terraform` on the PATH, else `tofu` on the PATH, else the
 * OpenTofu that `hakube build opentofu` left in the machine-wide cache. Undefined when there is none.
 */
export function findEngine(env: NodeJS.ProcessEnv = process.env): Engine | undefined {
  const candidates: Array<[string | undefined, string]> = [
    [env.TERRAFORM_BINARY_NAME, 'TERRAFORM_BINARY_NAME'],
    [onPath('terraform', env), 'PATH'],
    [onPath('tofu', env), 'PATH'],
    [cachedOpentofu(), 'hakube build cache'],
  ];
  for (const [binary, source] of candidates) {
    if (!binary) continue;
    const version = engineVersion(binary);
    if (version) return { binary, source, version, kind: /^OpenTofu/i.test(version) ? 'opentofu' : 'terraform' };
    if (source === 'TERRAFORM_BINARY_NAME') throw new Error(`TERRAFORM_BINARY_NAME=${binary} does not run (\`${binary} version\` failed)`);
  }
  return undefined;
}

/** The environment to run an engine (or cdktf) in: no update checks, no warning about a missing CLI config. */
export function engineEnv(engine: Engine, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...quietEnv(env), TERRAFORM_BINARY_NAME: engine.binary, TF_IN_AUTOMATION: '1' };
}

/**
 * The environment to run an engine in: no update checks, and no warning box about a CLI configuration file that
 * does not exist (OpenTofu prints it on stdout, where it breaks `-json` output).
 */
export function quietEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, CHECKPOINT_DISABLE: '1' };
  if (out.TF_CLI_CONFIG_FILE && !existsSync(out.TF_CLI_CONFIG_FILE)) delete out.TF_CLI_CONFIG_FILE;
  return out;
}

/** `Terraform v1.11.4` or `OpenTofu v1.12.6`, from `<binary> version` (which may print warnings around it). */
function engineVersion(binary: string): string | undefined {
  const result = spawnSync(binary, ['version'], { encoding: 'utf8', env: quietEnv(process.env), timeout: 30_000 });
  return result.status === 0 ? /^(Terraform|OpenTofu) v\S+/im.exec(result.stdout)?.[0] : undefined;
}


function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}
