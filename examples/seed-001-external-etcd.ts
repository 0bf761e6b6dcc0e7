/**
 * Seed 001's external-etcd topology: etcd on three hosts of its own (a control-plane host can fail without taking
 * an etcd member with it), three control-plane hosts behind a VIP, and workers.
 *
 *   npx cdktf synth --app "npx tsx examples/seed-001-external-etcd.ts"    # hosts: $HAKUBE_HOSTS or ./hosts.yaml
 */
import { App, TerraformStack } from 'cdktf';
import { HaCluster, Inventory, Plan, TerraformProvisioner } from '../index.js';

const hosts = Inventory.fromYamlFile(process.env.HAKUBE_HOSTS ?? 'hosts.yaml');
const app = new App();
const stack = new TerraformStack(app, 'seed-001');
new HaCluster(stack, 'external', {
  kubernetesVersion: '1.31.2',
  controlPlaneHosts: hosts.withLabel('role', 'control-plane'),
  workerHosts: hosts.withLabel('role', 'worker'),
  endpoint: { vip: '192.168.0.244/24' },
  etcd: { hosts: hosts.withLabel('role', 'etcd') },
});
new TerraformProvisioner(stack, 'provision', { plan: await Plan.of(stack) });
app.synth();
