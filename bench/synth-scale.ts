/**
 * How long planning and cdktf synthesis take for an HaCluster with N workers, and the heap they need.
 *
 *   npx tsx bench/synth-scale.ts 100 1000 5000
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, TerraformStack } from 'cdktf';
import { HaCluster, Host, Plan, TerraformProvisioner } from '../index.js';

function hosts(count: number, prefix: string, offset: number): Host[] {
  return Array.from({ length: count }, (_, i) => {
    const n = offset + i;
    return new Host({ name: `${prefix}-${i + 1}`, address: `10.${Math.floor(n / 65536) % 256}.${Math.floor(n / 256) % 256}.${n % 256}`, privateKeyPath: '~/.ssh/id_ed25519' });
  });
}

const counts = process.argv.slice(2).map(Number);
for (const workers of counts.length ? counts : [100, 1000]) {
  const dir = mkdtempSync(join(tmpdir(), 'hakube-bench-'));
  const started = performance.now();
  const app = new App({ outdir: join(dir, 'out') });
  const stack = new TerraformStack(app, 'bench');
  new HaCluster(stack, 'bench', {
    kubernetesVersion: '1.31.2',
    controlPlane: hosts(3, 'cp', 10),
    workers: hosts(workers, 'w', 1000),
    endpoint: { vip: '10.0.0.5/8' },
    podSubnet: '172.16.0.0/16',
    serviceSubnet: '172.17.0.0/16',
    cni: { plugin: 'calico' },
    secretsDir: join(dir, 'secrets'),
  });
  const plan = await Plan.of(stack);
  const planned = performance.now();
  new TerraformProvisioner(stack, 'provision', { plan });
  app.synth();
  const synthesized = performance.now();
  const heap = process.memoryUsage().heapUsed / 2 ** 20;
  console.log(
    `${String(workers).padStart(6)} workers: ${plan.steps.length} steps, plan ${((planned - started) / 1000).toFixed(1)} s, ` +
      `cdktf synth ${((synthesized - planned) / 1000).toFixed(1)} s, heap ${heap.toFixed(0)} MiB`,
  );
  rmSync(dir, { recursive: true, force: true });
}
