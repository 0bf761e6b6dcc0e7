import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, TerraformStack } from 'cdktf';
import { describe, expect, it } from 'vitest';
import { EtcdCluster } from '../constructs/etcd-cluster.js';
import { TerraformProvisioner } from '../lib/backends/cdktf.js';
import { runChecks, stackChecks, taintedSteps } from '../lib/cli/status.js';
import { Plan } from '../lib/plan/index.js';
import { hosts, tempDir } from './fixtures.js';

async function synthesized() {
  const outdir = tempDir('hakube-status-');
  const app = new App({ outdir });
  const stack = new TerraformStack(app, 'etcd');
  new EtcdCluster(stack, 'etcd', { clusterName: 'st', members: hosts(3), secretsDir: tempDir() });
  const plan = await Plan.of(stack);
  new TerraformProvisioner(stack, 'provision', { plan });
  app.synth();
  return { plan, outdir };
}

describe('hakube status', () => {
  it('names the steps a deploy left unfinished (tainted in the local state)', async () => {
    const project = tempDir('hakube-project-');
    const cwd = process.cwd();
    process.chdir(project);
    try {
      const { outdir } = await synthesized();
      expect(taintedSteps(outdir)).toEqual([]);
      const state = {
        version: 4,
        resources: [
          { mode: 'managed', type: 'terraform_data', name: 'etcd-st_node-1_install', instances: [{ attributes: {} }] },
          { mode: 'managed', type: 'terraform_data', name: 'etcd-st_node-2_configure', instances: [{ status: 'tainted', attributes: {} }] },
        ],
      };
      writeFileSync(join(project, 'terraform.etcd.tfstate'), JSON.stringify(state)); // cdktf's default local state file
      expect(taintedSteps(outdir)).toEqual([{ stack: 'etcd', steps: ['etcd-st_node-2_configure'] }]);
    } finally {
      process.chdir(cwd);
    }
  });

  it('finds the read-only checks of a synthesized stack, with their hosts as the deploy reaches them and their scripts', async () => {
    const { plan, outdir } = await synthesized();
    const checks = stackChecks(outdir);
    const expected = plan.steps.filter((s) => s.check);
    expect(checks.map((c) => c.step)).toEqual(expected.map((s) => s.id).sort());
    expect(checks.map((c) => c.step)).toContain('etcd-st/health');
    for (const check of checks) {
      const step = plan.step(check.step);
      expect(check.script).toBe(step.script); // template escapes undone: the script the deploy runs
      expect(check.host).toMatchObject({ name: step.host, address: plan.host(step.host).address, hostKey: plan.host(step.host).hostKey, privateKeyPath: '/keys/id_ed25519' });
    }
  });

  it('runs each check over ssh with the script on stdin and reports what failed', async () => {
    const { outdir } = await synthesized();
    // an ssh that runs the remote command here: the host checks pass (root), etcd's health fails (no etcd here)
    const bin = tempDir();
    writeFileSync(join(bin, 'ssh'), '#!/bin/bash\nexec bash -c "${@: -1}"\n');
    chmodSync(join(bin, 'ssh'), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const results = await runChecks(stackChecks(outdir));
      const byStep = Object.fromEntries(results.map((r) => [r.step, r]));
      expect(byStep['hosts/node-1/reachable']).toMatchObject({ ok: true, summary: expect.stringMatching(/answers; steps run as root/) });
      expect(byStep['etcd-st/health']).toMatchObject({ ok: false, summary: 'hakube: etcd cluster not healthy after 5 s' });
    } finally {
      process.env.PATH = path;
    }
  });
});
