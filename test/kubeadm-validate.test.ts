import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachedArtifact } from '../lib/build/go-module.js';
import { KUBERNETES_VERSION, kubernetesRecipe } from '../lib/build/kubernetes.js';
import { type ClusterConfigInput, type EtcdInput, defaultControlPlaneArgs, renderInitConfig, renderJoinConfig } from '../lib/render/kubeadm-config.js';
import { tempDir } from './fixtures.js';

// The kubeadm hakube builds (`hakube build kubernetes`) judges the configs hakube renders for it. Skipped on a machine
// where it is not built: building it takes tens of minutes.
const kubeadm = cachedArtifact(kubernetesRecipe())?.bin.kubeadm;
if (!kubeadm) console.warn(`kubeadm-validate: skipped, kubeadm v${KUBERNETES_VERSION} is not built (run \`hakube build kubernetes\`)`);

const TOKEN = 'abcdef.0123456789abcdef';
const HASH = `sha256:${'0123456789abcdef'.repeat(4)}`;
const STACKED: EtcdInput = { local: { serverCertSANs: ['etcd.example.com'], peerCertSANs: ['10.77.0.11'], extraArgs: { 'heartbeat-interval': '250', 'election-timeout': '2500' } } };
const EXTERNAL: EtcdInput = {
  external: { endpoints: ['https://10.77.0.21:2379', 'https://10.77.0.22:2379'], caFile: '/etc/kubernetes/pki/etcd/ca.crt', certFile: '/etc/kubernetes/pki/apiserver-etcd-client.crt', keyFile: '/etc/kubernetes/pki/apiserver-etcd-client.key' },
};

function cluster(etcd: EtcdInput): ClusterConfigInput {
  const args = defaultControlPlaneArgs();
  return {
    kubernetesVersion: KUBERNETES_VERSION,
    clusterName: 'lab',
    controlPlaneEndpoint: '10.77.0.100:8443',
    certSANs: ['10.77.0.100', 'k8s.example.com'],
    podSubnet: '10.244.0.0/16',
    serviceSubnet: '10.96.0.0/12',
    etcd,
    apiServerExtraArgs: args.apiServer,
    controllerManagerExtraArgs: args.controllerManager,
    schedulerExtraArgs: args.scheduler,
  };
}

const init = (etcd: EtcdInput) =>
  renderInitConfig(
    cluster(etcd),
    {
      advertiseAddress: '10.77.0.11',
      bindPort: 6443,
      nodeRegistration: { name: 'cp-1', kubeletExtraArgs: { 'node-ip': '10.77.0.11' } },
      bootstrapToken: { token: TOKEN, ttl: '24h0m0s' },
    },
    { cgroupRoot: '/kubelet', failSwapOn: false, imageGCHighThresholdPercent: 100, evictionHard: { 'nodefs.available': '0%', 'imagefs.available': '0%' } },
    { mode: 'iptables', conntrack: { maxPerCore: 0 }, iptables: { minSyncPeriod: '1s' } },
  );

const joinConfig = (controlPlane: boolean) =>
  renderJoinConfig(KUBERNETES_VERSION, {
    apiServerEndpoint: '10.77.0.100:8443',
    token: TOKEN,
    caCertHashes: [HASH],
    nodeRegistration: { name: controlPlane ? 'cp-2' : 'worker-1', taints: controlPlane ? undefined : [] },
    ...(controlPlane ? { controlPlane: { advertiseAddress: '10.77.0.12', bindPort: 6443 } } : {}),
  });

describe.skipIf(!kubeadm)(`kubeadm v${KUBERNETES_VERSION} config validate`, () => {
  it('is the pinned release', () => {
    expect(execFileSync(kubeadm as string, ['version', '-o', 'short'], { encoding: 'utf8' }).trim()).toBe(`v${KUBERNETES_VERSION}`);
  });

  it.each([
    ['init, stacked etcd', () => init(STACKED)],
    ['init, external etcd', () => init(EXTERNAL)],
    ['control-plane join', () => joinConfig(true)],
    ['worker join', () => joinConfig(false)],
  ])('accepts the %s config hakube renders', (_name, render) => {
    const file = join(tempDir('hakube-kubeadm-'), 'kubeadm.yaml');
    writeFileSync(file, render());
    const result = spawnSync(kubeadm as string, ['config', 'validate', '--config', file], { encoding: 'utf8', timeout: 60_000 });
    expect(`${result.stdout}${result.stderr}`, `exit ${result.status}`).not.toMatch(/error|unknown field|invalid/i);
    expect(result.status, result.stderr).toBe(0);
  });

  it('rejects a config it cannot accept (the check is real)', () => {
    const file = join(tempDir('hakube-kubeadm-'), 'kubeadm.yaml');
    writeFileSync(file, init(STACKED).replace(/podSubnet: \S+/, 'podSubnet: not-a-cidr'));
    const result = spawnSync(kubeadm as string, ['config', 'validate', '--config', file], { encoding: 'utf8', timeout: 60_000 });
    expect(result.status).not.toBe(0);
  });
});
