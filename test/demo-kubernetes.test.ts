import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, TerraformStack } from 'cdktf';
import { describe, expect, it } from 'vitest';
import { CLUSTER_DEMO_PORT, CLUSTER_DEMO_VIP, labClusterTopology, recordLab, retireStaleState } from '../lib/cli/demo-kubernetes.js';
import { labInventory } from '../lib/lab/index.js';
import { LAB_IMAGE_REPOSITORY } from '../lib/lab/site.js';
import { Plan } from '../lib/plan/index.js';
import { tempDir } from './fixtures.js';

describe('the Kubernetes demo', () => {
  it('keeps the state of the running lab, and moves aside one written for an earlier lab (or never recorded)', () => {
    const dir = tempDir();
    const state = join(dir, 'terraform.lab-cluster.tfstate');
    expect(retireStaleState(state, 'lab-a')).toBe(false); // no state yet
    writeFileSync(state, '{"serial": 7}');
    recordLab(state, 'lab-a');
    expect(retireStaleState(state, 'lab-a')).toBe(false);
    expect(readFileSync(state, 'utf8')).toBe('{"serial": 7}');
    expect(retireStaleState(state, 'lab-b')).toBe(true);
    expect(existsSync(state)).toBe(false);
    expect(readFileSync(`${state}.previous-lab`, 'utf8')).toBe('{"serial": 7}');
    writeFileSync(state, '{}'); // a state nobody recorded a lab for
    expect(retireStaleState(state, 'lab-b')).toBe(true);
  });

  it('plans seed 003 on the lab: haproxy + keepalived on the 3 masters with the VIP, stacked etcd, the rest as workers, every image from the site', async () => {
    const dir = tempDir();
    const hosts = labInventory(6, join(dir, 'key')).hosts;
    const stack = new TerraformStack(new App({ outdir: join(dir, 'out') }), 'lab-cluster');
    const cluster = labClusterTopology(stack, hosts.slice(0, 3), hosts.slice(3), { projectDir: dir, secretsDir: join(dir, 'secrets') });
    const plan = await Plan.of(stack);
    expect(cluster.controlPlane.endpoint).toBe(`${CLUSTER_DEMO_VIP}:${CLUSTER_DEMO_PORT}`);
    expect(cluster.controlPlane.etcd).toBe('stacked');
    expect(cluster.loadBalancer.hosts.map((h) => h.name)).toEqual(['lab-1', 'lab-2', 'lab-3']);
    expect(plan.steps.filter((s) => s.id.endsWith('/join')).map((s) => s.host).sort()).toEqual(['lab-2', 'lab-3', 'lab-4', 'lab-5', 'lab-6']);
    const init = readFileSync(join(cluster.controlPlane.secretsDir, 'kubernetes/kubeadm/lab-1-init.yaml'), 'utf8');
    expect(init).toContain(`imageRepository: ${LAB_IMAGE_REPOSITORY}`);
    expect(init).toContain(`controlPlaneEndpoint: ${CLUSTER_DEMO_VIP}:${CLUSTER_DEMO_PORT}`);
    expect(existsSync(cluster.controlPlane.adminKubeconfig)).toBe(true);
  });
});
