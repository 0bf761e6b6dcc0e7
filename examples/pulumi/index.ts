/**
 * The cdktf apps' topologies provisioned with Pulumi instead of Terraform: by default the demo's (main.ts: a
 * 3-member TLS etcd cluster with haproxy + keepalived holding a VIP in front of it), with `topology: seed-003` the
 * HaCluster of examples/seed-003-stacked.ts. Same constructs, same plan, rendered by `PulumiProvisioner` as
 * `@pulumi/command` remote commands and uploads. See README.md next to this file.
 *
 *   cd examples/pulumi && pulumi stack init lab && pulumi up
 *
 * Paths resolve against the repository root, as for `cdktf synth` there, so both apps share `.hakube/` (the same
 * CA, certificates and tokens: the same plan, the same step hashes).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { Construct } from 'constructs';
import { Inventory, Plan } from '../../index.js';
import { PulumiProvisioner } from '../../lib/backends/pulumi.js';
import { demoTopology } from '../../lib/cli/demo.js';
import { seed003Topology } from '../topologies.js';
import { labInventory, labPaths, liveLabInventory } from '../../lib/lab/index.js';

const repo = resolve(import.meta.dirname, '../..');
const config = new pulumi.Config();
const secretsRoot = resolve(repo, config.get('secretsDir') || '.hakube');

/** ./hosts.yaml (or the `hosts` config value), else the running lab, else the addresses the lab will have. */
function inventory(): Inventory {
  const configured = config.get('hosts') || 'hosts.yaml';
  const file = resolve(repo, configured);
  if (existsSync(file)) return Inventory.fromYamlFile(file);
  return liveLabInventory(repo) ?? labInventory(undefined, labPaths(repo).keyPath);
}

export default async () => {
  const hosts = inventory();
  const root = new Construct(undefined as never, 'demo');
  // `pulumi config set topology seed-003`: the HaCluster of examples/seed-003-stacked.ts (hosts labelled role=…)
  if (config.get('topology') === 'seed-003') seed003Topology(root, hosts.withLabel('role', 'control-plane'), hosts.withLabel('role', 'worker'), secretsRoot);
  else demoTopology(root, hosts.hosts.slice(0, 3), secretsRoot);
  const plan = await Plan.of(root);
  const provisioner = new PulumiProvisioner('demo', { plan });
  return {
    hosts: plan.hosts.map((h) => `${h.name} ${h.address}`),
    steps: plan.steps.length,
    combine: provisioner.combine,
    warnings: plan.warnings,
  };
};
