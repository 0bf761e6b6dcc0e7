import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { LAB_CNI_CONFIG_PATH, cniConfigScript, labFlannelManifest } from '../lib/lab/flannel.js';
import { expectShellcheckClean, tempDir } from './fixtures.js';

type Doc = { kind: string; metadata: { name: string }; [key: string]: unknown };

const manifest = labFlannelManifest({ image: 'docker.io/flannel/flannel:v0.28.4', podSubnet: '10.244.0.0/16', iface: 'eth0' });
const docs = yaml.loadAll(manifest) as Doc[];
const daemonSet = docs.find((d) => d.kind === 'DaemonSet') as Doc & {
  spec: { template: { spec: { hostNetwork: boolean; tolerations: unknown[]; containers: Array<{ name: string; image: string; command: string[]; args?: string[] }> } } };
};

/** Run the sidecar with its two paths moved into `dir`; resolve once it wrote the conflist (it loops forever). */
async function runSidecar(dir: string, subnetEnv: string): Promise<{ conf?: string; output: string }> {
  mkdirSync(join(dir, 'flannel'), { recursive: true });
  writeFileSync(join(dir, 'flannel', 'subnet.env'), subnetEnv);
  const script = cniConfigScript().replaceAll('/run/flannel/', `${dir}/flannel/`).replace(LAB_CNI_CONFIG_PATH, join(dir, 'conflist'));
  const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !existsSync(join(dir, 'conflist')) && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  child.kill();
  await exited;
  return { conf: existsSync(join(dir, 'conflist')) ? readFileSync(join(dir, 'conflist'), 'utf8') : undefined, output };
}

describe('the lab flannel manifest', () => {
  it('has the namespace, RBAC, config and a host-network DaemonSet on every node', () => {
    expect(docs.map((d) => d.kind)).toEqual(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet']);
    const config = docs.find((d) => d.kind === 'ConfigMap') as Doc & { data: Record<string, string> };
    expect(JSON.parse(config.data['net-conf.json']!)).toEqual({ Network: '10.244.0.0/16', Backend: { Type: 'host-gw' } });
    const pod = daemonSet.spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]); // control-plane nodes too
    expect(pod.containers.map((c) => c.image)).toEqual(['docker.io/flannel/flannel:v0.28.4', 'docker.io/flannel/flannel:v0.28.4']);
    expect(pod.containers[0]!.args).toEqual(['--ip-masq', '--kube-subnet-mgr', '--iface=eth0']);
  });

  it('points flanneld at the cluster endpoint when given, not at the kubernetes Service kube-proxy has yet to program', () => {
    const envOf = (m: string) => {
      const ds = (yaml.loadAll(m) as Doc[]).find((d) => d.kind === 'DaemonSet') as Doc & { spec: { template: { spec: { containers: Array<{ env: Array<{ name: string; value?: string }> }> } } } };
      return Object.fromEntries(ds.spec.template.spec.containers[0]!.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
    };
    expect(envOf(labFlannelManifest({ image: 'f:1', podSubnet: '10.244.0.0/16', apiServer: '10.77.0.100:8443' }))).toEqual({ KUBERNETES_SERVICE_HOST: '10.77.0.100', KUBERNETES_SERVICE_PORT: '8443' });
    expect(envOf(manifest)).toEqual({});
    expect(() => labFlannelManifest({ image: 'f:1', podSubnet: '10.244.0.0/16', apiServer: '10.77.0.100' })).toThrow(/"10\.77\.0\.100" is not host:port/);
  });

  it('sidecar script passes shellcheck as POSIX sh (the image has busybox, not bash)', () => {
    expectShellcheckClean([cniConfigScript()], { shell: 'sh', exclude: ['SC1091'] });
  });

  it('sidecar writes a bridge + host-local conflist for the node subnet flanneld leased', async () => {
    const dir = tempDir('hakube-flannel-run-');
    const { conf, output } = await runSidecar(dir, 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n');
    expect(conf, output).toBeDefined();
    const parsed = JSON.parse(conf!) as { plugins: Array<{ type: string; mtu?: number; ipam?: { type: string; ranges: Array<Array<{ subnet: string }>> } }> };
    expect(parsed.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap']);
    expect(parsed.plugins[0]!.mtu).toBe(1500);
    expect(parsed.plugins[0]!.ipam!.ranges).toEqual([[{ subnet: '10.244.3.0/24' }]]);
    expect(output).toContain('hakube: wrote');
  });

  it('sidecar refuses a node subnet that is not a /24', async () => {
    const dir = tempDir('hakube-flannel-bad-');
    const { conf, output } = await runSidecar(dir, 'FLANNEL_SUBNET=10.244.0.1/23\nFLANNEL_MTU=1500\n');
    expect(conf).toBeUndefined();
    expect(output).toContain('is not a /24');
  });
});
