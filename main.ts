/**
 * The root cdktf app (`npx cdktf synth` / `npx cdktf deploy`): a 3-member TLS etcd cluster on the built-in local
 * lab. Hosts come from ./hosts.yaml when you have one, else from the running lab (`hakube lab up`), else from the
 * addresses the lab will have, so `cdktf synth` works on a fresh clone with no host running.
 */
import { existsSync } from 'node:fs';
import { App, TerraformStack } from 'cdktf';
import { EtcdCluster, Inventory, Plan, TerraformProvisioner } from './index.js';
import { labInventory, liveLabInventory } from './lib/lab/index.js';

const inventory = existsSync('hosts.yaml') ? Inventory.fromYamlFile('hosts.yaml') : (liveLabInventory() ?? labInventory());

const app = new App();
const stack = new TerraformStack(app, 'demo');
new EtcdCluster(stack, 'etcd', { clusterName: 'demo', members: inventory.hosts.slice(0, 3) });
new TerraformProvisioner(stack, 'provision', { plan: await Plan.of(stack) });
app.synth();
