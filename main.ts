/**
 * The root cdktf app (`npx cdktf synth` / `npx cdktf deploy`), the lab example the demo deploys: a 3-member TLS
 * etcd cluster, and haproxy + keepalived on the same hosts holding a virtual IP in front of it (seed 003's
 * pattern, with etcd as the backend service). Hosts come from ./hosts.yaml when you have one, else from the running
 * lab (`hakube lab up`), else from the addresses the lab will have, so `cdktf synth` works on a fresh clone.
 */
import { existsSync } from 'node:fs';
import { App, TerraformStack } from 'cdktf';
import { EtcdCluster, Inventory, LoadBalancerVip, Plan, TerraformProvisioner } from './index.js';
import { DEMO_VIP } from './lib/cli/demo.js';
import { labInventory, liveLabInventory } from './lib/lab/index.js';

const inventory = existsSync('hosts.yaml') ? Inventory.fromYamlFile('hosts.yaml') : (liveLabInventory() ?? labInventory());
const hosts = inventory.hosts.slice(0, 3);

const app = new App();
const stack = new TerraformStack(app, 'demo');
const etcd = new EtcdCluster(stack, 'etcd', { clusterName: 'demo', members: hosts, extraCertificateSans: [DEMO_VIP] });
new LoadBalancerVip(stack, 'vip', {
  hosts,
  vip: `${DEMO_VIP}/24`,
  port: 8443,
  backends: etcd.members.map((m) => ({ name: m.name, address: m.internalAddress, port: etcd.clientPort })),
  backendCheck: 'tcp',
  // fail over within about two seconds when haproxy stops (kubeadm's reference waits 10 × 3 s)
  trackInterval: 1,
  trackFall: 2,
});
new TerraformProvisioner(stack, 'provision', { plan: await Plan.of(stack) });
app.synth();
