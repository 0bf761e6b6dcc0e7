/**
 * The root cdktf app (`npx cdktf synth` / `npx cdktf deploy`), the lab example the demo deploys: a 3-member TLS
 * etcd cluster, and haproxy + keepalived on the same hosts holding a virtual IP in front of it (`demoTopology` in
 * lib/cli/demo.ts).
 * Hosts come from ./hosts.yaml when you have one, else from the running lab (`hakube lab up`), else from the
 * addresses the lab will have, so `cdktf synth` works on a fresh clone.
 */
import { existsSync } from 'node:fs';
import { App, TerraformStack } from 'cdktf';
import { demoTopology } from './lib/cli/demo.js';
import { Inventory, Plan, TerraformProvisioner } from './index.js';
import { labInventory, liveLabInventory } from './lib/lab/index.js';

const inventory = existsSync('hosts.yaml') ? Inventory.fromYamlFile('hosts.yaml') : (liveLabInventory() ?? labInventory());

const app = new App();
const stack = new TerraformStack(app, 'demo');
demoTopology(stack, inventory.hosts.slice(0, 3));
new TerraformProvisioner(stack, 'provision', { plan: await Plan.of(stack) });
app.synth();
