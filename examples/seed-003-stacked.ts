/**
 * Seed 003: on-premise HA with HAProxy + Keepalived — 3 masters carrying haproxy and keepalived, one VIP
 * (192.168.0.244) as the cluster endpoint on haproxy's 8443, stacked etcd, 3 workers, flannel.
 * The topology itself is in topologies.ts (the Pulumi program in pulumi/ deploys the same one).
 *
 *   npx cdktf synth --app "npx tsx examples/seed-003-stacked.ts"    # hosts: $HAKUBE_HOSTS or ./hosts.yaml
 */
import { App, TerraformStack } from 'cdktf';
import { Inventory, Plan, TerraformProvisioner } from '../index.js';
import { seed003Topology } from './topologies.js';

const hosts = Inventory.fromYamlFile(process.env.HAKUBE_HOSTS ?? 'hosts.yaml');
const app = new App();
const stack = new TerraformStack(app, 'seed-003');
seed003Topology(stack, hosts.withLabel('role', 'control-plane'), hosts.withLabel('role', 'worker'));
new TerraformProvisioner(stack, 'provision', { plan: await Plan.of(stack) });
app.synth();
