import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import {
  type ClusterConfigInput,
  DEFAULT_CRI_SOCKET,
  defaultControlPlaneArgs,
  type InitConfigInput,
  type JoinConfigInput,
  kubeadmApiVersion,
  normalizeKubernetesVersion,
  renderInitConfig,
  renderJoinConfig,
} from '../lib/render/kubeadm-config.js';
import { API_SCHEMAS, unknownFields } from './kubeadm-api-fields.js';

const TOKEN = 'abcdef.0123456789abcdef';
const HASH = `sha256:${'0123456789abcdef'.repeat(4)}`;

function cluster(overrides: Partial<ClusterConfigInput> = {}): ClusterConfigInput {
  const args = defaultControlPlaneArgs();
  return {
    kubernetesVersion: '1.31.2',
    clusterName: 'demo',
    controlPlaneEndpoint: '10.77.0.100:8443',
    certSANs: ['10.77.0.100', 'k8s.example.com'],
    podSubnet: '10.244.0.0/16',
    serviceSubnet: '10.96.0.0/12',
    etcd: { local: { serverCertSANs: ['etcd.example.com'], peerCertSANs: ['10.77.0.11'], extraArgs: { 'heartbeat-interval': '250', 'election-timeout': '2500' } } },
    apiServerExtraArgs: args.apiServer,
    controllerManagerExtraArgs: args.controllerManager,
    schedulerExtraArgs: args.scheduler,
    ...overrides,
  };
}

function init(overrides: Partial<InitConfigInput> = {}): InitConfigInput {
  return {
    advertiseAddress: '10.77.0.11',
    bindPort: 6443,
    nodeRegistration: { name: 'node-1', kubeletExtraArgs: { 'node-ip': '10.77.0.11' } },
    bootstrapToken: { token: TOKEN, ttl: '24h0m0s' },
    ...overrides,
  };
}

function join(overrides: Partial<JoinConfigInput> = {}): JoinConfigInput {
  return {
    apiServerEndpoint: '10.77.0.100:8443',
    token: TOKEN,
    caCertHashes: [HASH],
    nodeRegistration: { name: 'node-2' },
    ...overrides,
  };
}

type Obj = Record<string, any>;

function docs(text: string): Obj[] {
  return yaml.loadAll(text) as Obj[];
}

function byKind(text: string): Record<string, Obj> {
  return Object.fromEntries(docs(text).map((d) => [d.kind, d]));
}

describe('kubeadmApiVersion', () => {
  it.each([
    ['1.22.0', 'kubeadm.k8s.io/v1beta3'],
    ['1.30.4', 'kubeadm.k8s.io/v1beta3'],
    ['v1.30.14', 'kubeadm.k8s.io/v1beta3'],
    ['1.31.0', 'kubeadm.k8s.io/v1beta4'],
    ['v1.32.3', 'kubeadm.k8s.io/v1beta4'],
    ['1.34.1', 'kubeadm.k8s.io/v1beta4'],
  ])('%s → %s', (version, api) => {
    expect(kubeadmApiVersion(version)).toBe(api);
  });

  it.each([
    ['1.21.14', /older than 1.22.0/],
    ['2.0.0', /is not a Kubernetes 1.x release/],
    ['1.31', /must be a release version/],
    ['stable-1.31', /must be a release version/],
    ['1.31.0-rc.1', /must be a release version/],
  ])('rejects %s', (version, message) => {
    expect(() => kubeadmApiVersion(version)).toThrow(message);
  });

  it('normalizes to the v-prefixed form', () => {
    expect(normalizeKubernetesVersion('1.31.2')).toBe('v1.31.2');
    expect(normalizeKubernetesVersion('v1.30.0')).toBe('v1.30.0');
  });
});

describe('defaultControlPlaneArgs', () => {
  it('has the secure defaults of seeds 000/001', () => {
    expect(defaultControlPlaneArgs()).toEqual({
      apiServer: { 'authorization-mode': 'Node,RBAC', 'enable-admission-plugins': 'NodeRestriction', profiling: 'false' },
      controllerManager: {
        'bind-address': '127.0.0.1',
        profiling: 'false',
        'leader-elect': 'true',
        'leader-elect-lease-duration': '15s',
        'leader-elect-renew-deadline': '10s',
        'leader-elect-retry-period': '2s',
      },
      scheduler: {
        'bind-address': '127.0.0.1',
        profiling: 'false',
        'leader-elect': 'true',
        'leader-elect-lease-duration': '15s',
        'leader-elect-renew-deadline': '10s',
        'leader-elect-retry-period': '2s',
      },
    });
    expect(defaultControlPlaneArgs().apiServer).not.toHaveProperty('anonymous-auth');
  });

  it('returns fresh objects the caller can merge into', () => {
    const a = defaultControlPlaneArgs();
    a.apiServer.profiling = 'true';
    expect(defaultControlPlaneArgs().apiServer.profiling).toBe('false');
  });
});

describe('renderInitConfig', () => {
  it('renders InitConfiguration, ClusterConfiguration and KubeletConfiguration, in that order', () => {
    const all = docs(renderInitConfig(cluster(), init(), {}));
    expect(all.map((d) => `${d.apiVersion} ${d.kind}`)).toEqual([
      'kubeadm.k8s.io/v1beta4 InitConfiguration',
      'kubeadm.k8s.io/v1beta4 ClusterConfiguration',
      'kubelet.config.k8s.io/v1beta1 KubeletConfiguration',
    ]);
  });

  it('uses v1beta3 for 1.30 and v1beta4 for 1.31', () => {
    expect(docs(renderInitConfig(cluster({ kubernetesVersion: '1.30.4' }), init(), {})).map((d) => d.apiVersion)).toEqual([
      'kubeadm.k8s.io/v1beta3',
      'kubeadm.k8s.io/v1beta3',
      'kubelet.config.k8s.io/v1beta1',
    ]);
    expect(docs(renderInitConfig(cluster({ kubernetesVersion: '1.31.0' }), init(), {}))[0].apiVersion).toBe('kubeadm.k8s.io/v1beta4');
  });

  it('puts the endpoint, SANs, networking and version into ClusterConfiguration', () => {
    const c = byKind(renderInitConfig(cluster({ dnsDomain: 'cluster.example', imageRepository: 'registry.example.com:5000/k8s' }), init(), {}))
      .ClusterConfiguration;
    expect(c.clusterName).toBe('demo');
    expect(c.kubernetesVersion).toBe('v1.31.2');
    expect(c.controlPlaneEndpoint).toBe('10.77.0.100:8443');
    expect(c.apiServer.certSANs).toEqual(['10.77.0.100', 'k8s.example.com']);
    expect(c.networking).toEqual({ podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/12', dnsDomain: 'cluster.example' });
    expect(c.imageRepository).toBe('registry.example.com:5000/k8s');
  });

  it('leaves dnsDomain and imageRepository to kubeadm when not given', () => {
    const c = byKind(renderInitConfig(cluster(), init(), {})).ClusterConfiguration;
    expect(c.networking).not.toHaveProperty('dnsDomain');
    expect(c).not.toHaveProperty('imageRepository');
  });

  it('accepts a bracketed IPv6 endpoint and dual-stack subnets', () => {
    const c = byKind(
      renderInitConfig(
        cluster({ controlPlaneEndpoint: '[fd00::100]:8443', certSANs: ['fd00::100'], podSubnet: '10.244.0.0/16,fd00:10:244::/56', serviceSubnet: '10.96.0.0/12,fd00:10:96::/112' }),
        init(),
        {},
      ),
    ).ClusterConfiguration;
    expect(c.controlPlaneEndpoint).toBe('[fd00::100]:8443');
    expect(c.networking.podSubnet).toBe('10.244.0.0/16,fd00:10:244::/56');
  });

  it('renders the bootstrap token, local endpoint and node registration in InitConfiguration', () => {
    const i = byKind(renderInitConfig(cluster(), init(), {})).InitConfiguration;
    expect(i.bootstrapTokens).toEqual([
      { token: TOKEN, ttl: '24h0m0s', usages: ['authentication', 'signing'], groups: ['system:bootstrappers:kubeadm:default-node-token'] },
    ]);
    expect(i.localAPIEndpoint).toEqual({ advertiseAddress: '10.77.0.11', bindPort: 6443 });
    expect(i.nodeRegistration.name).toBe('node-1');
    expect(i.nodeRegistration.criSocket).toBe(DEFAULT_CRI_SOCKET);
    expect(i.nodeRegistration).not.toHaveProperty('taints'); // kubeadm's default: the control-plane taint
  });

  it('renders stacked etcd as etcd.local', () => {
    const c4 = byKind(renderInitConfig(cluster(), init(), {})).ClusterConfiguration;
    expect(c4.etcd).toEqual({
      local: {
        serverCertSANs: ['etcd.example.com'],
        peerCertSANs: ['10.77.0.11'],
        extraArgs: [
          { name: 'election-timeout', value: '2500' },
          { name: 'heartbeat-interval', value: '250' },
        ],
      },
    });
    const c3 = byKind(renderInitConfig(cluster({ kubernetesVersion: '1.29.9' }), init(), {})).ClusterConfiguration;
    expect(c3.etcd.local.extraArgs).toEqual({ 'election-timeout': '2500', 'heartbeat-interval': '250' });
    const bare = byKind(renderInitConfig(cluster({ etcd: { local: {} } }), init(), {})).ClusterConfiguration;
    expect(bare.etcd).toEqual({ local: {} });
  });

  it('renders an external etcd cluster as etcd.external', () => {
    const external = {
      endpoints: ['https://10.77.0.21:2379', 'https://10.77.0.22:2379', 'https://10.77.0.23:2379'],
      caFile: '/etc/kubernetes/pki/etcd/ca.crt',
      certFile: '/etc/kubernetes/pki/apiserver-etcd-client.crt',
      keyFile: '/etc/kubernetes/pki/apiserver-etcd-client.key',
    };
    const c = byKind(renderInitConfig(cluster({ etcd: { external } }), init(), {})).ClusterConfiguration;
    expect(c.etcd).toEqual({ external });
  });

  it('renders extraArgs as sorted {name, value} lists in v1beta4 and as maps in v1beta3', () => {
    const c4 = byKind(renderInitConfig(cluster(), init(), {}));
    expect(c4.ClusterConfiguration.apiServer.extraArgs).toEqual([
      { name: 'authorization-mode', value: 'Node,RBAC' },
      { name: 'enable-admission-plugins', value: 'NodeRestriction' },
      { name: 'profiling', value: 'false' },
    ]);
    expect(c4.ClusterConfiguration.controllerManager.extraArgs.map((a: Obj) => a.name)).toEqual([
      'bind-address',
      'leader-elect',
      'leader-elect-lease-duration',
      'leader-elect-renew-deadline',
      'leader-elect-retry-period',
      'profiling',
    ]);
    expect(c4.ClusterConfiguration.scheduler.extraArgs).toContainEqual({ name: 'leader-elect-lease-duration', value: '15s' });
    expect(c4.InitConfiguration.nodeRegistration.kubeletExtraArgs).toEqual([{ name: 'node-ip', value: '10.77.0.11' }]);

    const c3 = byKind(renderInitConfig(cluster({ kubernetesVersion: '1.30.4' }), init(), {}));
    expect(c3.ClusterConfiguration.apiServer.extraArgs).toEqual({
      'authorization-mode': 'Node,RBAC',
      'enable-admission-plugins': 'NodeRestriction',
      profiling: 'false',
    });
    expect(c3.ClusterConfiguration.scheduler.extraArgs['leader-elect-retry-period']).toBe('2s');
    expect(c3.InitConfiguration.nodeRegistration.kubeletExtraArgs).toEqual({ 'node-ip': '10.77.0.11' });
  });

  it('keeps "false" and "true" flag values as strings', () => {
    const text = renderInitConfig(cluster({ kubernetesVersion: '1.30.4' }), init(), {});
    expect(text).toContain("profiling: 'false'");
    expect(typeof byKind(text).ClusterConfiguration.scheduler.extraArgs['leader-elect']).toBe('string');
  });

  it('omits empty extraArgs and SAN lists', () => {
    const c = byKind(
      renderInitConfig(cluster({ certSANs: [], apiServerExtraArgs: {}, controllerManagerExtraArgs: {}, schedulerExtraArgs: {} }), init(), {}),
    ).ClusterConfiguration;
    expect(c.apiServer).toEqual({});
    expect(c.controllerManager).toEqual({});
    expect(c.scheduler).toEqual({});
  });

  it('sorts keys (apiVersion and kind first) so output is stable', () => {
    const text = renderInitConfig(cluster(), init(), {});
    for (const doc of text.split('---\n')) {
      const top = doc.split('\n').filter((l) => /^[a-zA-Z]/.test(l)).map((l) => l.split(':')[0]);
      expect(top.slice(0, 2)).toEqual(['apiVersion', 'kind']);
      expect(top.slice(2)).toEqual([...top.slice(2)].sort());
    }
    expect(renderInitConfig(cluster(), init(), {})).toBe(text);
  });

  it('renders the kubelet with the systemd cgroup driver and certificate rotation by default', () => {
    const k = byKind(renderInitConfig(cluster(), init(), {})).KubeletConfiguration;
    expect(k).toEqual({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true } },
      authorization: { mode: 'Webhook' },
      cgroupDriver: 'systemd',
      rotateCertificates: true,
    });
  });

  it('renders the optional kubelet settings', () => {
    const k = byKind(
      renderInitConfig(cluster(), init(), {
        rotateCertificates: false,
        serverTLSBootstrap: true,
        protectKernelDefaults: true,
        maxPods: 200,
        systemReserved: { cpu: '500m', memory: '512Mi' },
        kubeReserved: { cpu: '250m' },
        evictionHard: { 'memory.available': '200Mi', 'nodefs.available': '10%' },
      }),
    ).KubeletConfiguration;
    expect(k).toMatchObject({
      rotateCertificates: false,
      serverTLSBootstrap: true,
      protectKernelDefaults: true,
      maxPods: 200,
      systemReserved: { cpu: '500m', memory: '512Mi' },
      kubeReserved: { cpu: '250m' },
      evictionHard: { 'memory.available': '200Mi', 'nodefs.available': '10%' },
    });
  });

  it('renders the settings a node inside a container needs (kind-like values)', () => {
    const k = byKind(
      renderInitConfig(cluster(), init(), {
        cgroupRoot: '/kubelet',
        failSwapOn: false,
        imageGCHighThresholdPercent: 100,
        evictionHard: { 'nodefs.available': '0%', 'nodefs.inodesFree': '0%', 'imagefs.available': '0%' },
        localStorageCapacityIsolation: false,
      }),
    ).KubeletConfiguration;
    expect(k).toEqual({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true } },
      authorization: { mode: 'Webhook' },
      cgroupDriver: 'systemd',
      rotateCertificates: true,
      cgroupRoot: '/kubelet',
      failSwapOn: false,
      imageGCHighThresholdPercent: 100,
      evictionHard: { 'nodefs.available': '0%', 'nodefs.inodesFree': '0%', 'imagefs.available': '0%' },
      localStorageCapacityIsolation: false,
    });
  });

  it('renders a KubeProxyConfiguration only when kube-proxy settings are given', () => {
    const text = renderInitConfig(cluster(), init(), {}, { mode: 'iptables', conntrack: { maxPerCore: 0 }, iptables: { minSyncPeriod: '1s' } });
    const all = docs(text);
    expect(all.map((d) => d.kind)).toEqual(['InitConfiguration', 'ClusterConfiguration', 'KubeletConfiguration', 'KubeProxyConfiguration']);
    expect(all[3]).toEqual({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      mode: 'iptables',
      conntrack: { maxPerCore: 0 },
      iptables: { minSyncPeriod: '1s' },
    });
    // maxPerCore 0 is written (it means: leave the node's limit alone), not dropped as falsy
    expect(text).toContain('conntrack:\n  maxPerCore: 0\n');
    expect(docs(renderInitConfig(cluster({ kubernetesVersion: '1.34.2' }), init(), {}, { mode: 'nftables' }))[3]).toEqual({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1', kind: 'KubeProxyConfiguration', mode: 'nftables',
    });
    // unset or empty: no document, the text exactly as without the argument
    expect(renderInitConfig(cluster(), init(), {}, {})).toBe(renderInitConfig(cluster(), init(), {}));
    expect(renderInitConfig(cluster(), init(), {}, undefined)).toBe(renderInitConfig(cluster(), init(), {}));
  });

  it('renders explicit taints, and "taints: []" for none', () => {
    const tainted = byKind(
      renderInitConfig(cluster(), init({ nodeRegistration: { name: 'node-1', taints: [{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }] } }), {}),
    ).InitConfiguration;
    expect(tainted.nodeRegistration.taints).toEqual([{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }]);
    const text = renderInitConfig(cluster(), init({ nodeRegistration: { name: 'node-1', taints: [] } }), {});
    expect(text).toContain('taints: []');
    expect(byKind(text).InitConfiguration.nodeRegistration.taints).toEqual([]);
  });

  it.each<[string, () => string, RegExp]>([
    ['a short version', () => renderInitConfig(cluster({ kubernetesVersion: '1.31' }), init(), {}), /kubernetesVersion "1.31" must be a release version/],
    ['an endpoint without port', () => renderInitConfig(cluster({ controlPlaneEndpoint: '10.77.0.100' }), init(), {}), /controlPlaneEndpoint "10.77.0.100" must be "host:port"/],
    ['an unbracketed IPv6 endpoint', () => renderInitConfig(cluster({ controlPlaneEndpoint: 'fd00::100:8443' }), init(), {}), /controlPlaneEndpoint/],
    ['a bad SAN', () => renderInitConfig(cluster({ certSANs: ['not a name'] }), init(), {}), /certSANs "not a name" is neither an IP address nor a DNS name/],
    ['a bad pod subnet', () => renderInitConfig(cluster({ podSubnet: '10.244.0.0/33' }), init(), {}), /podSubnet "10.244.0.0\/33" must be a CIDR/],
    ['a flag with dashes', () => renderInitConfig(cluster({ apiServerExtraArgs: { '--profiling': 'false' } }), init(), {}), /apiServerExtraArgs "--profiling" is not a flag name/],
    ['a flag value with a newline', () => renderInitConfig(cluster({ schedulerExtraArgs: { v: '2\n' } }), init(), {}), /contains a control character/],
    ['a bad token', () => renderInitConfig(cluster(), init({ bootstrapToken: { token: 'short.token', ttl: '24h0m0s' } }), {}), /bootstrapToken.token "<redacted>"/],
    ['a bad ttl', () => renderInitConfig(cluster(), init({ bootstrapToken: { token: TOKEN, ttl: '1 day' } }), {}), /bootstrapToken.ttl "1 day"/],
    ['a host name as advertise address', () => renderInitConfig(cluster(), init({ advertiseAddress: 'node-1' }), {}), /advertiseAddress "node-1" is not an IP address/],
    ['a bad port', () => renderInitConfig(cluster(), init({ bindPort: 70000 }), {}), /bindPort 70000 is not a port/],
    ['an upper-case node name', () => renderInitConfig(cluster(), init({ nodeRegistration: { name: 'Node-1' } }), {}), /nodeRegistration.name "Node-1"/],
    ['a bad taint effect', () => renderInitConfig(cluster(), init({ nodeRegistration: { name: 'n', taints: [{ key: 'a', effect: 'Never' as never }] } }), {}), /nodeRegistration.taints.a.effect "Never" must be one of/],
    ['an external etcd without endpoints', () => renderInitConfig(cluster({ etcd: { external: { endpoints: [], caFile: '/a', certFile: '/b', keyFile: '/c' } } }), init(), {}), /etcd.external.endpoints \[\] is empty/],
    ['a relative etcd key path', () => renderInitConfig(cluster({ etcd: { external: { endpoints: ['https://e:2379'], caFile: '/a', certFile: '/b', keyFile: 'c' } } }), init(), {}), /etcd.external.keyFile "c" must be an absolute path/],
    ['a bad image repository', () => renderInitConfig(cluster({ imageRepository: 'https://registry' }), init(), {}), /imageRepository "https:\/\/registry"/],
    ['zero max pods', () => renderInitConfig(cluster(), init(), { maxPods: 0 }), /kubelet.maxPods 0/],
    ['a relative cgroup root', () => renderInitConfig(cluster(), init(), { cgroupRoot: 'kubelet' }), /kubelet.cgroupRoot "kubelet" is not a cgroup path like "\/kubelet"/],
    ['an image GC threshold not above the low one', () => renderInitConfig(cluster(), init(), { imageGCHighThresholdPercent: 80 }), /kubelet.imageGCHighThresholdPercent 80 must be an integer from 81 to 100/],
    ['an image GC threshold over 100', () => renderInitConfig(cluster(), init(), { imageGCHighThresholdPercent: 101 }), /kubelet.imageGCHighThresholdPercent 101/],
    ['failSwapOn that is not a boolean', () => renderInitConfig(cluster(), init(), { failSwapOn: 'false' as never }), /kubelet.failSwapOn "false" must be true or false/],
    ['a kube-proxy mode', () => renderInitConfig(cluster(), init(), {}, { mode: 'ipvs' as never }), /kubeProxy.mode "ipvs" must be "iptables" or "nftables"/],
    ['nftables before 1.31', () => renderInitConfig(cluster({ kubernetesVersion: '1.30.4' }), init(), {}, { mode: 'nftables' }), /kubeProxy.mode "nftables" needs Kubernetes 1.31 or later/],
    ['a negative conntrack limit', () => renderInitConfig(cluster(), init(), {}, { conntrack: { maxPerCore: -1 } }), /kubeProxy.conntrack.maxPerCore -1 must be an integer of 0 or more/],
    ['a sync period that is not a duration', () => renderInitConfig(cluster(), init(), {}, { iptables: { minSyncPeriod: '1 second' } }), /kubeProxy.iptables.minSyncPeriod "1 second" must be a duration/],
    ['an iptables setting in nftables mode', () => renderInitConfig(cluster(), init(), {}, { mode: 'nftables', iptables: { minSyncPeriod: '1s' } }), /kubeProxy.iptables.minSyncPeriod "1s" applies to mode "iptables" only/],
  ])('rejects %s', (_name, render, message) => {
    expect(render).toThrow(message);
  });

  it('never echoes a bad token in the error', () => {
    expect(() => renderInitConfig(cluster(), init({ bootstrapToken: { token: 'SECRET.VALUE', ttl: '1h' } }), {})).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('SECRET') }),
    );
  });

  it('matches the snapshot (v1beta4 and v1beta3)', () => {
    expect(renderInitConfig(cluster(), init(), {})).toMatchSnapshot();
    expect(renderInitConfig(cluster({ kubernetesVersion: '1.30.4' }), init(), {})).toMatchSnapshot();
  });
});

describe('renderJoinConfig', () => {
  it('renders a worker join with token, endpoint and CA pins', () => {
    const [doc, ...rest] = docs(renderJoinConfig('1.31.2', join()));
    expect(rest).toEqual([]);
    expect(doc.apiVersion).toBe('kubeadm.k8s.io/v1beta4');
    expect(doc.kind).toBe('JoinConfiguration');
    expect(doc.discovery).toEqual({ bootstrapToken: { apiServerEndpoint: '10.77.0.100:8443', token: TOKEN, caCertHashes: [HASH] } });
    expect(doc.nodeRegistration).toEqual({ name: 'node-2', criSocket: DEFAULT_CRI_SOCKET });
    expect(doc).not.toHaveProperty('controlPlane');
  });

  it('renders a control-plane join with its local API endpoint', () => {
    const doc = docs(renderJoinConfig('1.30.4', join({ controlPlane: { advertiseAddress: '10.77.0.12', bindPort: 6443 } })))[0];
    expect(doc.apiVersion).toBe('kubeadm.k8s.io/v1beta3');
    expect(doc.controlPlane).toEqual({ localAPIEndpoint: { advertiseAddress: '10.77.0.12', bindPort: 6443 } });
  });

  it('renders kubeletExtraArgs in the version shape', () => {
    const reg = { name: 'node-2', kubeletExtraArgs: { 'node-ip': '10.77.0.12', 'node-labels': 'role=worker' } };
    expect(docs(renderJoinConfig('1.31.2', join({ nodeRegistration: reg })))[0].nodeRegistration.kubeletExtraArgs).toEqual([
      { name: 'node-ip', value: '10.77.0.12' },
      { name: 'node-labels', value: 'role=worker' },
    ]);
    expect(docs(renderJoinConfig('1.30.4', join({ nodeRegistration: reg })))[0].nodeRegistration.kubeletExtraArgs).toEqual({
      'node-ip': '10.77.0.12',
      'node-labels': 'role=worker',
    });
  });

  it('refuses to join without a CA pin, with a malformed pin, or with a bad token', () => {
    expect(() => renderJoinConfig('1.31.2', join({ caCertHashes: [] }))).toThrow(/caCertHashes \[\] is empty: joining without pinning the cluster CA is unsafe/);
    expect(() => renderJoinConfig('1.31.2', join({ caCertHashes: ['sha256:abc'] }))).toThrow(/caCertHashes "sha256:abc"/);
    expect(() => renderJoinConfig('1.31.2', join({ token: 'nope' }))).toThrow(/token "<redacted>"/);
    expect(() => renderJoinConfig('1.31.2', join({ apiServerEndpoint: 'https://10.77.0.100:8443' }))).toThrow(/apiServerEndpoint/);
    expect(() => renderJoinConfig('1.21.0', join())).toThrow(/older than 1.22.0/);
  });

  it('matches the snapshot', () => {
    expect(renderJoinConfig('1.31.2', join({ controlPlane: { advertiseAddress: '10.77.0.12', bindPort: 6443 } }))).toMatchSnapshot();
  });
});

describe('field names against the upstream API types', () => {
  const versions = ['1.22.0', '1.30.4', '1.31.0', '1.34.1'];
  const kubeletFull = {
    rotateCertificates: true,
    serverTLSBootstrap: true,
    protectKernelDefaults: true,
    maxPods: 110,
    systemReserved: { cpu: '1' },
    kubeReserved: { memory: '1Gi' },
    evictionHard: { 'memory.available': '100Mi', 'nodefs.inodesFree': '0%' },
    cgroupRoot: '/kubelet',
    failSwapOn: false,
    imageGCHighThresholdPercent: 100,
    localStorageCapacityIsolation: false,
  };
  const kubeProxyFull = { mode: 'iptables' as const, conntrack: { maxPerCore: 0 }, iptables: { minSyncPeriod: '1s' } };
  const external = { endpoints: ['https://10.77.0.21:2379'], caFile: '/a.crt', certFile: '/b.crt', keyFile: '/b.key' };

  function rendered(version: string): string[] {
    const taints = [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' as const }];
    return [
      renderInitConfig(cluster({ kubernetesVersion: version, dnsDomain: 'cluster.local', imageRepository: 'registry.example.com/k8s' }), init({ nodeRegistration: { name: 'n', taints, kubeletExtraArgs: { v: '2' } } }), kubeletFull, kubeProxyFull),
      renderInitConfig(cluster({ kubernetesVersion: version, etcd: { external } }), init(), {}),
      renderJoinConfig(version, join({ nodeRegistration: { name: 'n', taints: [], kubeletExtraArgs: { v: '2' } } })),
      renderJoinConfig(version, join({ controlPlane: { advertiseAddress: '10.77.0.12', bindPort: 6443 } })),
    ];
  }

  it.each(versions)('every key rendered for %s is an upstream field of its kind', (version) => {
    const seen = new Set<string>();
    for (const text of rendered(version)) {
      for (const doc of docs(text)) {
        seen.add(`${doc.apiVersion} ${doc.kind}`);
        expect(unknownFields(doc), `${doc.apiVersion} ${doc.kind}`).toEqual([]);
      }
    }
    const api = kubeadmApiVersion(version);
    expect([...seen].sort()).toEqual([`${api} ClusterConfiguration`, `${api} InitConfiguration`, `${api} JoinConfiguration`, 'kubelet.config.k8s.io/v1beta1 KubeletConfiguration', 'kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration']);
  });

  it('the checker catches a misspelled field, a field of the other version and an unknown kind', () => {
    const c = byKind(renderInitConfig(cluster(), init(), {}));
    // misspelled at top level and nested
    expect(unknownFields({ ...c.ClusterConfiguration, controlPlaneEndPoint: 'x' })).toEqual(['ClusterConfiguration.controlPlaneEndPoint']);
    expect(unknownFields({ ...c.ClusterConfiguration, apiServer: { ...c.ClusterConfiguration.apiServer, certSans: ['x'] } })).toEqual([
      'ClusterConfiguration.apiServer.certSans',
    ]);
    expect(unknownFields({ ...c.InitConfiguration, nodeRegistration: { ...c.InitConfiguration.nodeRegistration, kubeletExtraArgs: [{ name: 'v', valu: '2' }] } })).toEqual([
      'InitConfiguration.nodeRegistration.kubeletExtraArgs[0].valu',
    ]);
    expect(unknownFields({ ...c.KubeletConfiguration, cgroupsDriver: 'systemd' })).toEqual(['KubeletConfiguration.cgroupsDriver']);
    expect(unknownFields({ ...c.KubeletConfiguration, authentication: { anonymous: { enable: false } } })).toEqual([
      'KubeletConfiguration.authentication.anonymous.enable',
    ]);
    // v1beta3-only field in a v1beta4 document, and the reverse
    expect(unknownFields({ ...c.ClusterConfiguration, apiServer: { timeoutForControlPlane: '4m0s' } })).toEqual([
      'ClusterConfiguration.apiServer.timeoutForControlPlane',
    ]);
    expect(unknownFields({ ...c.ClusterConfiguration, apiVersion: 'kubeadm.k8s.io/v1beta3', encryptionAlgorithm: 'ECDSA-P256' })).toContain(
      'ClusterConfiguration.encryptionAlgorithm',
    );
    // a v1beta4 list of args where v1beta3 expects a map is fine key-wise, but a v1beta3 map in v1beta4 is not an Arg
    expect(unknownFields({ ...c.ClusterConfiguration, scheduler: { extraArgs: { profiling: 'false' } } })).toEqual([
      'ClusterConfiguration.scheduler.extraArgs.profiling',
    ]);
    expect(unknownFields({ apiVersion: 'kubeadm.k8s.io/v1beta4', kind: 'InitConfig' })).toEqual(['<unknown kind InitConfig in kubeadm.k8s.io/v1beta4>']);
    expect(unknownFields({ apiVersion: 'kubeadm.k8s.io/v1beta2', kind: 'InitConfiguration' })).toEqual(['<unknown apiVersion kubeadm.k8s.io/v1beta2>']);
    expect(unknownFields({ ...c.KubeletConfiguration, logging: { format: 'json' } })[0]).toMatch(/KubeletConfiguration.logging: <unmodelled field/);
    const proxy = { apiVersion: 'kubeproxy.config.k8s.io/v1alpha1', kind: 'KubeProxyConfiguration' };
    expect(unknownFields({ ...proxy, conntrack: { maxPerCPU: 0 } })).toEqual(['KubeProxyConfiguration.conntrack.maxPerCPU']);
    expect(unknownFields({ ...proxy, iptables: { minSyncPeriod: '1s' }, nftables: { localhostNodePorts: true } })).toEqual(['KubeProxyConfiguration.nftables.localhostNodePorts']);
  });

  it('the tables reference only types they define', () => {
    for (const [api, schema] of Object.entries(API_SCHEMAS)) {
      for (const kind of schema.kinds) expect(schema.types[kind], `${api} ${kind}`).toBeDefined();
      for (const [type, fields] of Object.entries(schema.types)) {
        for (const [field, ref] of Object.entries(fields)) {
          if (ref !== null && !ref.startsWith('<')) expect(schema.types[ref], `${api} ${type}.${field} → ${ref}`).toBeDefined();
        }
      }
    }
  });
});
