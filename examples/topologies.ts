/**
 * Topologies shared by the cdktf apps and the Pulumi program, so both backends provision exactly the same plan.
 * The demo's (main.ts) lives with the demo command, which also checks it: lib/cli/demo.ts.
 */
import type { Construct } from 'constructs';
import { HaCluster, type Host } from '../index.js';

export { DEMO_VIP, demoTopology } from '../lib/cli/demo.js';

/**
 * Seed 003: 3 masters carrying haproxy and keepalived, one VIP (192.168.0.244) as the cluster endpoint on haproxy's
 * 8443, stacked etcd, workers, flannel's 10.244.0.0/16.
 */
export function seed003Topology(scope: Construct, masters: Host[], workers: Host[], secretsRoot = '.hakube'): HaCluster {
  return new HaCluster(scope, 'onprem', {
    kubernetesVersion: '1.31.2',
    controlPlaneHosts: masters,
    workerHosts: workers,
    endpoint: { vip: '192.168.0.244/24', port: 8443 },
    podSubnet: '10.244.0.0/16',
    secretsDir: `${secretsRoot}/onprem`,
  });
}
