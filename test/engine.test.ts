import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { engineEnv, findEngine } from '../lib/engine.js';
import { fakeBinary, tempDir } from './fixtures.js';

/** A directory with fake engines that print `version` output (after a warning box on stdout, as OpenTofu does). */
function fakes(engines: Record<string, string>): string {
  const dir = tempDir();
  for (const [name, version] of Object.entries(engines)) fakeBinary(dir, name, `printf '\\nWarning: Unable to open CLI configuration file\\n\\n${version}\\non linux_amd64\\n'`);
  return dir;
}

describe('findEngine', () => {
  it('prefers TERRAFORM_BINARY_NAME, then terraform, then tofu on the PATH', () => {
    const both = fakes({ terraform: 'Terraform v1.11.4', tofu: 'OpenTofu v1.12.6' });
    expect(findEngine({ PATH: both })).toMatchObject({ binary: join(both, 'terraform'), kind: 'terraform', source: 'PATH', version: 'Terraform v1.11.4' });
    const tofuOnly = fakes({ tofu: 'OpenTofu v1.12.6' });
    expect(findEngine({ PATH: tofuOnly })).toMatchObject({ binary: join(tofuOnly, 'tofu'), kind: 'opentofu', version: 'OpenTofu v1.12.6' });
    expect(findEngine({ PATH: both, TERRAFORM_BINARY_NAME: join(tofuOnly, 'tofu') })).toMatchObject({ kind: 'opentofu', source: 'TERRAFORM_BINARY_NAME' });
  });

  it('refuses a TERRAFORM_BINARY_NAME that does not run, instead of silently taking another engine', () => {
    expect(() => findEngine({ PATH: fakes({ terraform: 'Terraform v1.11.4' }), TERRAFORM_BINARY_NAME: '/nonexistent/tofu' })).toThrow(/TERRAFORM_BINARY_NAME=\/nonexistent\/tofu does not run/);
  });

  it('hands cdktf the engine and drops a CLI configuration path that does not exist', () => {
    const engine = { binary: '/opt/tofu', kind: 'opentofu' as const, source: 'PATH', version: 'OpenTofu v1.12.6' };
    const env = engineEnv(engine, { TF_CLI_CONFIG_FILE: '/nonexistent/.terraformrc', HOME: '/root' });
    expect(env).toEqual({ HOME: '/root', TERRAFORM_BINARY_NAME: '/opt/tofu', CHECKPOINT_DISABLE: '1', TF_IN_AUTOMATION: '1' });
  });
});
