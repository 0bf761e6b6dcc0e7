/**
 * The Kubernetes demo app (`hakube demo kubernetes`): seed 003 on lab hosts — three masters carrying haproxy and
 * keepalived with the API's VIP (10.77.0.100:8443), stacked etcd, the other hosts as workers, every package and
 * image from the lab's air-gapped site (`labClusterTopology` in lib/cli/demo-kubernetes.ts).
 * Hosts come from $HAKUBE_HOSTS when set, else from the running lab (`hakube lab up --hosts 6 --kubernetes`), else
 * from the addresses a 6-host lab will have, so `cdktf synth` works on a fresh clone.
 *
 *   npx cdktf deploy --app "npx tsx lab-cluster.ts" --output cdktf.out.lab-cluster lab-cluster
 */
import { App, TerraformStack } from 'cdktf';
import { CLUSTER_DEMO_HOSTS, CLUSTER_DEMO_STACK, labClusterTopology } from './lib/cli/demo-kubernetes.js';
import { Inventory, Plan, TerraformProvisioner } from './index.js';
import { labInventory, liveLabInventory } from './lib/lab/index.js';

const inventory = process.env.HAKUBE_HOSTS ? Inventory.fromYamlFile(process.env.HAKUBE_HOSTS) : (liveLabInventory() ?? labInventory(CLUSTER_DEMO_HOSTS));

const app = new App();
const stack = new TerraformStack(app, CLUSTER_DEMO_STACK);
labClusterTopology(stack, inventory.hosts.slice(0, 3), inventory.hosts.slice(3));
new TerraformProvisioner(stack, 'provision', { plan: await Plan.of(stack) });
app.synth();
