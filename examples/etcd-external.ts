/**
 * A 3-member etcd cluster on hosts of its own (the "external etcd" topology of seeds 000 and 001), with TLS for
 * peers and clients, provisioned by Terraform over SSH.
 *
 *   npx cdktf synth --app "npx tsx examples/etcd-external.ts"      # hosts from ./hosts.yaml or $HAKUBE_HOSTS
 *   npx cdktf deploy --app "npx tsx examples/etcd-external.ts"
 */
import { App, TerraformStack } from 'cdktf';
import { EtcdCluster, Inventory, Plan, TerraformProvisioner } from '../index.js';

const hosts = Inventory.fromYamlFile(process.env.HAKUBE_HOSTS ?? 'hosts.yaml');
const app = new App();
const stack = new TerraformStack(app, 'etcd-external');
const etcd = new EtcdCluster(stack, 'etcd', {
  clusterName: 'prod',
  members: hosts.withLabel('role', 'etcd'),
  // seed 004's field tuning for a busy cluster
  heartbeatIntervalMs: 250,
  electionTimeoutMs: 5000,
  snapshotCount: 10000,
  autoCompactionRetention: '8',
});
console.error(`etcd: ${etcd.members.length} members, quorum ${etcd.quorum}, tolerates ${etcd.faultTolerance} failure(s)`);
new TerraformProvisioner(stack, 'provision', { plan: await Plan.of(stack) });
app.synth();
