import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './fixtures.js';

const root = resolve(import.meta.dirname, '..');

/** Run an app file the way `cdktf synth --app "npx tsx FILE"` does, in a scratch directory; return its stack JSON. */
function synthApp(file: string, stack: string, env: Record<string, string> = {}) {
  const cwd = tempDir('hakube-example-');
  execFileSync(join(root, 'node_modules/.bin/tsx'), [join(root, file)], {
    cwd, env: { ...process.env, CDKTF_OUTDIR: join(cwd, 'out'), ...env }, stdio: 'pipe',
  });
  return JSON.parse(readFileSync(join(cwd, 'out/stacks', stack, 'cdk.tf.json'), 'utf8'));
}

describe('examples', () => {
  it('examples/etcd-external.ts: 3 etcd members from the labelled hosts', () => {
    const json = synthApp('examples/etcd-external.ts', 'etcd-external', { HAKUBE_HOSTS: join(root, 'examples/hosts.example.yaml') });
    const names = Object.keys(json.resource.terraform_data);
    expect(names.filter((n) => n.endsWith('_configure')).sort()).toEqual(['etcd-prod_etcd-1_configure', 'etcd-prod_etcd-2_configure', 'etcd-prod_etcd-3_configure']);
    expect(json.resource.terraform_data['etcd-prod_etcd-1_install'].connection.host).toBe('192.168.0.11');
  });

  it('main.ts (the root app) synthesizes on a fresh clone against the lab addresses', () => {
    const json = synthApp('main.ts', 'demo');
    const health = json.resource.terraform_data['etcd-demo_health'];
    expect(health.connection.host).toBe('10.77.0.11');
    expect(Object.keys(json.resource.terraform_data)).toHaveLength(7 + 7);
    expect(json.resource.terraform_data['lb-vip_ready'].depends_on).toHaveLength(3);
  });
});
