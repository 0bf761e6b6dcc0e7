/**
 * Seed 003: on-premise HA with HAProxy + Keepalived — 3 masters carrying haproxy and keepalived, one VIP
 * (192.168.0.244) as the cluster endpoint on haproxy's 8443, stacked etcd, 3 workers, flannel.
 *
 *   npx cdktf synth --app "npx tsx examples/seed-003-stacked.ts"    # hosts: $HAKUBE_HOSTS or ./hosts.yaml
 */
import { App, TerraformStack } from 'cdktf';
import { HaCluster, Inventory, Plan, TerraformProvisioner } from '../index.js';

const hosts = Inventory.fromYamlFile(process.env.HAKUBE_HOSTS ?? 'hosts.yaml');
const app = new App();
const stack = new TerraformStack(app, 'seed-003');
new HaCluster(stack, 'onprem', {
  kubernetesVersion: '1.31.2',
  controlPlane: hosts.withLabel('role', 'control-plane'),
  workers: hosts.withLabel('role', 'worker'),
  endpoint: { vip: '192.168.0.244/24', port: 8443 },
  podSubnet: '10.244.0.0/16',
});
new TerraformProvisioner(stack, 'provision', { plan: await Plan.of(stack) });
app.synth();
