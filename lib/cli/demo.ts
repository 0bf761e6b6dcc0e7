import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { labPaths, labSsh, labUp } from '../lab/index.js';

const TLS = '--cacert=/etc/etcd/pki/ca.crt --cert=/etc/etcd/pki/healthcheck-client.crt --key=/etc/etcd/pki/healthcheck-client.key';

/**
 * `hakube demo`: bring up the local lab, deploy the root cdktf app (a 3-member TLS etcd cluster) with
 * `cdktf deploy`, then show the cluster's health and members. Run from the project root.
 */
export async function runDemo(projectDir: string = process.cwd()): Promise<number> {
  const up = await labUp({ hosts: 3, projectDir });
  const members = up.inventory.hosts.slice(0, 3);
  console.error(`\nhakube demo: deploying etcd to ${members.map((h) => `${h.name} (${h.address})`).join(', ')} with cdktf deploy\n`);
  const started = Date.now();
  const env: NodeJS.ProcessEnv = { ...process.env, CHECKPOINT_DISABLE: '1' };
  // a CLI config path that does not exist only makes Terraform print a warning box on every call
  if (env.TF_CLI_CONFIG_FILE && !existsSync(env.TF_CLI_CONFIG_FILE)) delete env.TF_CLI_CONFIG_FILE;
  const deploy = spawnSync('npx', ['cdktf', 'deploy', '--auto-approve', 'demo'], { cwd: projectDir, stdio: 'inherit', env });
  if (deploy.status !== 0) {
    console.error(`hakube demo: cdktf deploy failed (exit ${deploy.status})`);
    return 1;
  }
  console.error(`\nhakube demo: deployed in ${((Date.now() - started) / 1000).toFixed(1)} s; cluster health over TLS:\n`);
  const endpoints = members.map((h) => `https://${h.address}:2379`).join(',');
  const etcdctl = `ETCDCTL_API=3 etcdctl --endpoints=${endpoints} ${TLS}`;
  const health = await labSsh(labPaths(projectDir), members[0].address, `${etcdctl} endpoint health -w table && ${etcdctl} member list -w table`);
  process.stdout.write(health.stdout);
  process.stderr.write(health.stderr);
  return health.ok ? 0 : 1;
}
