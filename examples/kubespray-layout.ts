/**
 * Seed 004's Kubespray layout: three masters that also carry etcd as a host service (the API servers use it as
 * external etcd), and five nodes. Reads examples/hosts.kubespray.yaml unless $HAKUBE_HOSTS says otherwise.
 *
 *   npx cdktf synth --app "npx tsx examples/kubespray-layout.ts"
 */
import { App, TerraformStack } from 'cdktf';
import { HaCluster, Inventory, Plan, TerraformProvisioner } from '../index.js';

const hosts = Inventory.fromYamlFile(process.env.HAKUBE_HOSTS ?? new URL('hosts.kubespray.yaml', import.meta.url).pathname);
const app = new App();
const stack = new TerraformStack(app, 'kubespray-layout');
new HaCluster(stack, 'kubespray', {
  kubernetesVersion: '1.31.2',
  controlPlaneHosts: hosts.withLabel('kube-master', 'true'),
  workerHosts: hosts.withLabel('kube-node', 'true'),
  endpoint: { vip: '10.10.0.10/24' },
  etcd: { hosts: hosts.withLabel('etcd', 'true') },
});
new TerraformProvisioner(stack, 'provision', { plan: await Plan.of(stack) });
app.synth();
