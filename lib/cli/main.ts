#!/usr/bin/env node
/**
 * The `hakube` command: a small verb dispatcher. Each verb is one entry in `VERBS`; add new verbs there.
 * Exit codes: 0 ok, 1 failure, 2 bad arguments (usage is printed).
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { LAB_USAGE, UsageError, labCommand } from '../lab/cli.js';
import { existsSync } from 'node:fs';
import { labInventoryPath } from '../lab/index.js';
import { BUILD_USAGE, buildCommand } from './build.js';
import { runDemo } from './demo.js';
import { runKubernetesDemo } from './demo-kubernetes.js';
import { HOSTS_USAGE, hostsCommand } from './hosts.js';
import { STATUS_USAGE, statusCommand } from './status.js';
import { IDENTITIES_USAGE, identitiesCommand } from './identities.js';

/** One `hakube <verb>`. */
interface Verb {
  /** One line for the top-level usage. */
  readonly summary: string;
  /** Full usage of the verb. */
  readonly usage: string;
  /** Run with the arguments after the verb; resolves to the exit code. */
  readonly run: (args: readonly string[]) => Promise<number>;
}

const DEMO_USAGE = `usage: hakube demo [kubernetes]

Run from the project root as root.
  hakube demo             the quick one: boots 3 lab hosts, \`cdktf deploy\` of main.ts (a 3-member TLS etcd
                          cluster behind a haproxy + keepalived VIP), prints etcd health
  hakube demo kubernetes  the full cluster: boots 6 lab hosts served by the lab's Kubernetes site, \`cdktf deploy\`
                          of lab-cluster.ts (seed 003: 3 masters with haproxy + keepalived and a VIP, stacked etcd,
                          3 workers), waits for every node Ready, shows nodes and kube-system pods through the VIP`;

const VERBS: Readonly<Record<string, Verb>> = {
  lab: { summary: 'run local lab hosts to deploy to (up, down, status, power)', usage: LAB_USAGE, run: labCommand },
  identities: {
    summary: 'check that hostnames, product_uuids, machine-ids and MACs are unique across an inventory',
    usage: IDENTITIES_USAGE,
    run: (args) => identitiesCommand(args, () => (existsSync('hosts.yaml') ? 'hosts.yaml' : labInventoryPath())),
  },
  hosts: {
    summary: 'record each host\'s SSH host key in hosts.yaml for review (scan), or check the pinned ones',
    usage: HOSTS_USAGE,
    run: (args) => hostsCommand(args, () => (existsSync('hosts.yaml') ? 'hosts.yaml' : labInventoryPath())),
  },
  status: { summary: 'run the read-only checks of the synthesized stacks now (hosts, etcd health, VIPs)', usage: STATUS_USAGE, run: statusCommand },
  build: { summary: 'build pinned tools from their Go modules into the machine-wide cache (opentofu, kubernetes, etcd, coredns, cni-plugins, crictl, flannel, pause, all)', usage: BUILD_USAGE, run: (args) => buildCommand(args) },
  demo: {
    summary: 'lab up, then cdktf deploy a demo: etcd behind a VIP (quick), or `demo kubernetes` (an HA cluster, seed 003)',
    usage: DEMO_USAGE,
    run: async (args) => {
      if (args.length === 0) return runDemo();
      if (args.length === 1 && args[0] === 'kubernetes') return (await runKubernetesDemo()).ok ? 0 : 1;
      throw new UsageError(`unexpected arguments: ${args.join(' ')}`);
    },
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(VERBS).map((v) => v.length));
  const lines = Object.entries(VERBS).map(([name, verb]) => `  ${name.padEnd(width)}  ${verb.summary}`);
  return `usage: hakube <verb> [arguments]\n\n${lines.join('\n')}\n\nRun \`hakube <verb> --help\` for a verb's usage.`;
}

/** Run the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [verbName, ...args] = argv;
  if (verbName === undefined || verbName === '--help' || verbName === '-h' || verbName === 'help') {
    (verbName === undefined ? process.stderr : process.stdout).write(`${usage()}\n`);
    return verbName === undefined ? 2 : 0;
  }
  const verb = Object.hasOwn(VERBS, verbName) ? VERBS[verbName] : undefined;
  if (!verb) {
    process.stderr.write(`hakube: unknown verb ${JSON.stringify(verbName)}\n\n${usage()}\n`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${verb.usage}\n`);
    return 0;
  }
  try {
    return await verb.run(args);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`hakube ${verbName}: ${error.message}\n\n${verb.usage}\n`);
      return 2;
    }
    process.stderr.write(`hakube ${verbName}: ${error instanceof Error ? error.message : String(error)}\n`);
    if (process.env.HAKUBE_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`hakube: ${String(error)}\n`);
      process.exit(1);
    },
  );
}
