import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, TerraformStack, Testing } from 'cdktf';
import { Construct } from 'constructs';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { ControlPlane, type ControlPlaneProps } from '../constructs/control-plane.js';
import { EtcdCluster } from '../constructs/etcd-cluster.js';
import { HaCluster, type HaClusterProps } from '../constructs/ha-cluster.js';
import { LoadBalancerVip } from '../constructs/load-balancer-vip.js';
import { TerraformProvisioner } from '../lib/backends/cdktf.js';
import { Host } from '../lib/inventory.js';
import { Plan } from '../lib/plan/index.js';
import { expectShellcheckClean, hosts, MIRROR_CA_PEM, projectRoot as root, readTree, secretMarkers, synthApp, tempDir } from './fixtures.js';

const masters = hosts(3, 'master', 21);
const workers = hosts(3, 'node', 31);
const etcdHosts = hosts(3, 'etcd', 41);
const VIP = '10.77.0.244';

function cluster(props: Partial<HaClusterProps> = {}) {
  const scope = new Construct(undefined as never, 'app');
  const secretsDir = tempDir();
  const ha = new HaCluster(scope, 'prod', {
    kubernetesVersion: '1.31.2',
    controlPlaneHosts: masters,
    workerHosts: workers,
    endpoint: { vip: `${VIP}/24` },
    secretsDir,
    ...props,
  });
  return { scope, ha, secretsDir };
}

/** The YAML documents of a step's kubeadm config (read from the secrets dir the step copies it from). */
function kubeadmDocs(plan: Plan, stepId: string): Array<Record<string, any>> {
  const file = plan.step(stepId).files.find((f) => f.path.startsWith('/etc/kubernetes/hakube/kubeadm-'))!;
  return yaml.loadAll(readFileSync(join(file.secret!.dir, file.secret!.file), 'utf8')) as Array<Record<string, any>>;
}

/** Every step that must finish before `id` (transitively). */
function ancestors(plan: Plan, id: string): Set<string> {
  const seen = new Set<string>();
  const visit = (s: string) => plan.step(s).after.forEach((d) => { if (!seen.has(d)) { seen.add(d); visit(d); } });
  visit(id);
  return seen;
}

describe('HaCluster: seed 003 (stacked etcd, haproxy + keepalived on the masters)', () => {
  it('inits once, joins the control plane one at a time, workers in parallel, all against the VIP', async () => {
    const { scope } = cluster();
    const plan = await Plan.of(scope);
    const init = 'k8s-prod/master-1/init';
    expect(ancestors(plan, init)).toContain('lb-prod-api/ready');
    expect(ancestors(plan, init)).toContain('k8s-prod/master-1/kube-packages');
    // control-plane joins: master-2 after init, master-3 after master-2
    expect(ancestors(plan, 'k8s-prod/master-2/join')).toContain(init);
    expect(plan.step('k8s-prod/master-3/join').after).toContain('k8s-prod/master-2/join');
    // workers: after the token step only, not after each other or the control-plane joins
    for (const w of workers) {
      const before = ancestors(plan, `k8s-prod/${w.name}/join`);
      expect(before).toContain('k8s-prod/bootstrap-token');
      expect([...before].filter((id) => id.endsWith('/join'))).toEqual([]);
    }
    const joinWave = plan.waves().findIndex((w) => w.some((s) => s.id === 'k8s-prod/node-1/join'));
    expect(plan.waves()[joinWave].map((s) => s.id)).toEqual(expect.arrayContaining(workers.map((w) => `k8s-prod/${w.name}/join`)));
    for (const id of ['k8s-prod/master-2/join', 'k8s-prod/node-1/join']) {
      expect(kubeadmDocs(plan, id)[0].discovery.bootstrapToken.apiServerEndpoint).toBe(`${VIP}:8443`);
    }
    expect(kubeadmDocs(plan, 'k8s-prod/master-2/join')[0].controlPlane.localAPIEndpoint).toEqual({ advertiseAddress: '10.77.0.22', bindPort: 6443 });
    expect(kubeadmDocs(plan, 'k8s-prod/node-1/join')[0].controlPlane).toBeUndefined();
  });

  it('renders ClusterConfiguration with the VIP as endpoint and SAN, stacked etcd, secure defaults', async () => {
    const { scope } = cluster({ apiServerExtraArgs: { 'audit-log-maxage': '30' }, schedulerExtraArgs: { profiling: 'true' } });
    const plan = await Plan.of(scope);
    const [init, clusterDoc, kubelet] = kubeadmDocs(plan, 'k8s-prod/master-1/init');
    expect(init.localAPIEndpoint).toEqual({ advertiseAddress: '10.77.0.21', bindPort: 6443 });
    expect(clusterDoc.controlPlaneEndpoint).toBe(`${VIP}:8443`);
    expect(clusterDoc.apiServer.certSANs).toContain(VIP);
    expect(clusterDoc.etcd).toEqual({ local: {} });
    expect(clusterDoc.networking).toEqual({ podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/12' });
    const args = (list: Array<{ name: string; value: string }>) => Object.fromEntries(list.map((a) => [a.name, a.value]));
    expect(args(clusterDoc.apiServer.extraArgs)).toMatchObject({ 'authorization-mode': 'Node,RBAC', 'enable-admission-plugins': 'NodeRestriction', profiling: 'false', 'audit-log-maxage': '30' });
    expect(args(clusterDoc.scheduler.extraArgs)).toMatchObject({ 'leader-elect': 'true', 'leader-elect-lease-duration': '15s', 'bind-address': '127.0.0.1', profiling: 'true' });
    expect(kubelet).toMatchObject({ cgroupDriver: 'systemd', rotateCertificates: true });
  });

  it('makes the control plane the load balancer\'s backends, checked with GET /healthz', async () => {
    const { scope, ha } = cluster();
    expect(ha.loadBalancer.backends.map((b) => `${b.name}=${b.address}:${b.port}`)).toEqual(['master-1=10.77.0.21:6443', 'master-2=10.77.0.22:6443', 'master-3=10.77.0.23:6443']);
    const plan = await Plan.of(scope);
    const cfg = plan.step('lb-prod-api/master-1/configure').files.find((f) => f.path.includes('haproxy'))!.content!;
    expect(cfg).toContain('option httpchk GET /healthz');
    expect(cfg).toContain('server master-3 10.77.0.23:6443 check check-ssl verify none');
  });

  it('places the shared CA, front-proxy CA, service-account key and etcd CA on every control-plane host before init/join', async () => {
    const { scope } = cluster();
    const plan = await Plan.of(scope);
    for (const id of ['k8s-prod/master-1/init', 'k8s-prod/master-2/join']) {
      expect(plan.step(id).files.map((f) => f.path)).toEqual(expect.arrayContaining([
        '/etc/kubernetes/pki/ca.crt', '/etc/kubernetes/pki/ca.key', '/etc/kubernetes/pki/front-proxy-ca.key',
        '/etc/kubernetes/pki/sa.key', '/etc/kubernetes/pki/sa.pub', '/etc/kubernetes/pki/etcd/ca.key',
      ]));
    }
    expect(plan.step('k8s-prod/node-1/join').files.map((f) => f.path)).toEqual(['/etc/kubernetes/hakube/kubeadm-join.yaml']);
    const hashes = ['k8s-prod/master-2/join', 'k8s-prod/node-3/join'].map((id) => kubeadmDocs(plan, id)[0].discovery.bootstrapToken.caCertHashes);
    expect(hashes[0]).toEqual(hashes[1]);
    expect(hashes[0][0]).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('re-checks the bootstrap token when a node is added, so a worker added later still joins', async () => {
    const secretsDir = tempDir();
    const build = (extra: Host[]) => {
      const scope = new Construct(undefined as never, 'app');
      const ha = new HaCluster(scope, 'prod', { kubernetesVersion: '1.31.2', controlPlaneHosts: masters, workerHosts: workers, endpoint: { vip: `${VIP}/24` }, secretsDir });
      if (extra.length) ha.addWorkerPool('late', { hosts: extra });
      return Plan.of(scope);
    };
    const before = await build([]);
    const after = await build(hosts(1, 'late', 60));
    expect(after.step('k8s-prod/bootstrap-token').hash).not.toBe(before.step('k8s-prod/bootstrap-token').hash);
    expect(after.step('k8s-prod/master-1/init').hash).toBe(before.step('k8s-prod/master-1/init').hash);
    expect(after.step('k8s-prod/node-1/join').hash).toBe(before.step('k8s-prod/node-1/join').hash);
  });
});

describe('HaCluster: seed 001 (external etcd)', () => {
  it('warns that the distribution\'s etcd is too old for kubeadm, refuses a release older than 3.5, and takes a 3.6 release quietly', async () => {
    const distro = await Plan.of(cluster({ etcd: { hosts: etcdHosts } }).scope);
    expect(distro.warnings).toEqual([expect.stringMatching(/external etcd app\/prod\/etcd installs the distribution's etcd \(3\.4\.23 on Debian 12\), which kubeadm's preflight refuses .*install: \{ from: 'release'/)]);
    const sha256 = 'a'.repeat(64);
    expect(() => cluster({ etcd: { hosts: etcdHosts, install: { from: 'release', version: '3.4.23', sha256 } } })).toThrow(
      /ControlPlane app\/prod\/control-plane: etcd "app\/prod\/etcd \(etcd 3\.4\.23\)" is older than 3\.5/,
    );
    const release = await Plan.of(cluster({ etcd: { hosts: etcdHosts, install: { from: 'release', version: '3.6.5', sha256 } } }).scope);
    expect(release.warnings).toEqual([]);
  });

  it('points the API servers at every etcd member with a client certificate, after etcd is healthy', async () => {
    const { scope, ha } = cluster({ etcd: { hosts: etcdHosts } });
    const plan = await Plan.of(scope);
    const [, clusterDoc] = kubeadmDocs(plan, 'k8s-prod/master-1/init');
    expect(clusterDoc.etcd.external.endpoints).toEqual(['https://10.77.0.41:2379', 'https://10.77.0.42:2379', 'https://10.77.0.43:2379']);
    expect(clusterDoc.etcd.external).toMatchObject({ caFile: '/etc/kubernetes/pki/etcd/ca.crt', certFile: '/etc/kubernetes/pki/apiserver-etcd-client.crt', keyFile: '/etc/kubernetes/pki/apiserver-etcd-client.key' });
    expect(plan.step('k8s-prod/master-1/init').after).toContain(ha.etcd!.readyStepId);
    const files = plan.step('k8s-prod/master-2/join').files.map((f) => f.path);
    expect(files).toContain('/etc/kubernetes/pki/apiserver-etcd-client.key');
    expect(files).not.toContain('/etc/kubernetes/pki/etcd/ca.key');
  });
});

describe('topology rules', () => {
  it.each<[string, () => unknown, RegExp]>([
    ['even control plane', () => cluster({ controlPlaneHosts: hosts(2, 'master', 21) }), /ControlPlane app\/prod\/control-plane: hosts 2 is an even count/],
    ['a version that is not one', () => cluster({ kubernetesVersion: '1.31' }), /ControlPlane app\/prod\/control-plane: kubernetesVersion "1.31" must be a Kubernetes release version like "1.34.2"/],
    ['a minor older than the window', () => cluster({ kubernetesVersion: '1.27.5' }), /kubernetesVersion "1.27.5" is outside the Kubernetes versions hakube supports \(1.31 to 1.34\); set allowUnsupportedKubernetesVersion/],
    ['a minor newer than the window', () => cluster({ kubernetesVersion: '1.99.0' }), /kubernetesVersion "1.99.0" is outside the Kubernetes versions hakube supports \(1.31 to 1.34\); set allowUnsupportedKubernetesVersion/],
    ['1.22 without the override, with the same message', () => cluster({ kubernetesVersion: '1.22.0' }), /kubernetesVersion "1.22.0" is outside the Kubernetes versions hakube supports \(1.31 to 1.34\); set allowUnsupportedKubernetesVersion/],
    ['a release too old to render even with the override', () => cluster({ kubernetesVersion: '1.21.0', allowUnsupportedKubernetesVersion: true }), /kubernetesVersion "1.21.0" is outside the Kubernetes versions hakube supports \(1.31 to 1.34\); releases before 1.22 cannot be rendered/],
    ['overlapping networks', () => cluster({ podSubnet: '10.96.0.0/16', cni: { plugin: 'calico' } }), /serviceSubnet "10.96.0.0\/12" overlaps podSubnet "?10.96.0.0\/16/],
    ['flannel with another pod subnet', () => cluster({ podSubnet: '10.200.0.0/16' }), /podSubnet "10.200.0.0\/16" differs from 10.244.0.0\/16/],
    ['a CNI manifest that is neither URL nor file', () => cluster({ cni: { manifest: '/nope.yaml' } }), /cni.manifest "\/nope.yaml" is neither an http\(s\) URL nor an existing file/],
    ['a worker that is also a master', () => cluster({ workerHosts: [masters[0]] }), /workers "master-1" is already a control-plane host/],
    ['a kubelet label NodeRestriction refuses', () => cluster().ha.addWorkerPool('gpu', { hosts: hosts(1, 'gpu', 70), labels: { 'node-role.kubernetes.io/gpu': '' } }), /labels "node-role.kubernetes.io\/gpu" is in a namespace the kubelet may not set/],
    ['a bad package proxy', () => cluster({ nodePrep: { packageProxy: 'not a url' } }), /ControlPlane app\/prod\/control-plane: packageProxy "not a url"/],
    ['a bad taint effect', () => cluster().ha.addWorkerPool('gpu', { hosts: hosts(1, 'gpu', 70), taints: [{ key: 'gpu', effect: 'NoWay' as never }] }), /taints.gpu.effect "NoWay" must be one of/],
  ])('rejects %s', (_name, build, message) => {
    expect(build).toThrow(message);
  });

  it('rejects hosts inside the pod network and stacked etcd sharing hosts with an EtcdCluster, naming all at once', async () => {
    const scope = new Construct(undefined as never, 'app');
    const inPods = [new Host({ name: 'm1', address: '10.244.1.5' })];
    new ControlPlane(scope, 'cp', { hosts: inPods, kubernetesVersion: '1.31.2', endpoint: { address: '10.77.0.20' }, secretsDir: tempDir() } as ControlPlaneProps);
    new EtcdCluster(scope, 'etcd', { members: inPods, secretsDir: tempDir() });
    // the whole-tree rules speak as the constructor's own checks do: `<Construct> <path>: <prop> <value> <why>`
    await expect(Plan.of(scope)).rejects.toThrow(
      'invalid topology:\n'
      + '  - ControlPlane app/cp: hosts "m1" (10.244.1.5) lies inside the pod network 10.244.0.0/16: its traffic would be routed into the cluster\n'
      + '  - ControlPlane app/cp: hosts "m1" runs stacked etcd for this control plane and is also a member of EtcdCluster app/etcd: both would listen on 2379/2380; pass that cluster as `etcd` instead',
    );
  });

  it('allows an external etcd on the control-plane hosts (Kubespray layout): their preflight leaves 2379/2380 to etcd', async () => {
    const { scope } = cluster({ etcd: { hosts: masters } });
    const plan = await Plan.of(scope);
    expect(plan.step('k8s-prod/master-1/preflight').script).toMatch(/ports=\(6443 10250 10257 10259\)/);
    expect(plan.step('k8s-prod/node-1/preflight').script).toMatch(/ports=\(10250\)/);
    const stacked = await Plan.of(cluster().scope);
    expect(stacked.step('k8s-prod/master-1/preflight').script).toMatch(/ports=\(2379 2380 6443 10250 10257 10259\)/);
  });

  it('names the network an endpoint lies in', () => {
    const scope = new Construct(undefined as never, 'app');
    expect(() => new ControlPlane(scope, 'svc', { hosts: masters, kubernetesVersion: '1.34.2', endpoint: { address: '10.96.0.10' }, secretsDir: tempDir() }))
      .toThrow(/^ControlPlane app\/svc: endpoint "10.96.0.10" lies inside the service network 10.96.0.0\/12/);
    expect(() => new ControlPlane(scope, 'cp', { hosts: masters, kubernetesVersion: '1.34.2', endpoint: { address: '10.244.0.5' }, secretsDir: tempDir() }))
      .toThrow(/^ControlPlane app\/cp: endpoint "10.244.0.5" lies inside the pod network 10.244.0.0\/16/);
  });

  it('refuses two VIPs with one virtual router id on one subnet (VRRP collision), but not on different subnets', async () => {
    const scope = new Construct(undefined as never, 'app');
    const backends = [{ name: 'b', address: '10.77.0.60', port: 6443 }];
    new LoadBalancerVip(scope, 'one', { hosts: hosts(2, 'lb', 51), vip: '10.77.0.100/24', backends, secretsDir: tempDir() });
    new LoadBalancerVip(scope, 'two', { hosts: hosts(2, 'lbb', 53), vip: '10.77.0.101/24', backends, secretsDir: tempDir() });
    await expect(Plan.of(scope)).rejects.toThrow(/\n {2}- LoadBalancerVip app\/two: virtualRouterId 51 is also the virtual router id of load balancer app\/one on the same subnet \(VIPs 10.77.0.101\/24 and 10.77.0.100\/24\)/);
    const apart = new Construct(undefined as never, 'app');
    new LoadBalancerVip(apart, 'one', { hosts: hosts(2, 'lb', 51), vip: '10.77.0.100/24', backends, secretsDir: tempDir() });
    new LoadBalancerVip(apart, 'two', { hosts: [new Host({ name: 'x1', address: '10.78.0.11' }), new Host({ name: 'x2', address: '10.78.0.12' })], vip: '10.78.0.100/24', backends, secretsDir: tempDir() });
    await expect(Plan.of(apart)).resolves.toBeDefined();
  });

  it('warns about a single control-plane host', async () => {
    const scope = new Construct(undefined as never, 'app');
    new ControlPlane(scope, 'cp', { hosts: masters.slice(0, 1), kubernetesVersion: '1.34.2', endpoint: { address: '10.77.0.21' }, secretsDir: tempDir() });
    const plan = await Plan.of(scope);
    expect(plan.warnings).toEqual([expect.stringMatching(/single control-plane host is a single point of failure/)]);
    expect(kubeadmDocs(plan, 'k8s-cp/master-1/init')[0].apiVersion).toBe('kubeadm.k8s.io/v1beta4');
  });

  it('lets a version outside the window through with the override, with a warning (and renders v1beta3 before 1.31)', async () => {
    const scope = new Construct(undefined as never, 'app');
    new ControlPlane(scope, 'cp', { hosts: masters, kubernetesVersion: '1.30.4', allowUnsupportedKubernetesVersion: true, endpoint: { address: '10.77.0.20' }, secretsDir: tempDir() });
    const plan = await Plan.of(scope);
    expect(plan.warnings).toEqual([expect.stringMatching(/kubernetesVersion 1.30.4 is outside the supported versions \(1.31 to 1.34\): it was allowed by allowUnsupportedKubernetesVersion/)]);
    expect(kubeadmDocs(plan, 'k8s-cp/master-1/init')[0].apiVersion).toBe('kubeadm.k8s.io/v1beta3');
  });
});

function writeTemp(name: string, text: string): string {
  const path = join(tempDir(), name);
  writeFileSync(path, text);
  return path;
}

/** The shape of flannel's release manifest, trimmed to its images. */
const FLANNEL_MANIFEST_TEXT = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kube-flannel-ds
  namespace: kube-flannel
spec:
  template:
    spec:
      initContainers:
      - name: install-cni-plugin
        image: ghcr.io/flannel-io/flannel-cni-plugin:v1.5.1-flannel2
      containers:
      - name: kube-flannel
        image: docker.io/flannel/flannel:v0.26.1
`;

describe('an air-gapped site: one image mirror for everything the cluster pulls', () => {
  const repo = '10.77.0.1:5000/k8s';

  it('points kubeadm, containerd on every node (worker pools too), the sandbox image and the CNI manifest at the mirror', async () => {
    const { scope, ha } = cluster({
      kubernetesVersion: '1.34.2',
      imageMirror: { repository: repo, plainHttp: true },
      cni: { manifest: writeTemp('kube-flannel.yml', FLANNEL_MANIFEST_TEXT) },
    });
    ha.addWorkerPool('late', { hosts: hosts(1, 'late', 61) });
    const plan = await Plan.of(scope);
    const [, clusterDoc] = kubeadmDocs(plan, 'k8s-prod/master-1/init');
    expect(clusterDoc.imageRepository).toBe(repo);
    for (const host of ['master-1', 'master-3', 'node-2', 'late-1']) {
      const files = plan.step(`k8s-prod/${host}/containerd`).files;
      expect(files.find((f) => f.path === '/etc/containerd/config.toml')!.content).toContain('sandbox_image = "10.77.0.1:5000/k8s/pause:3.10.1"');
      expect(files.find((f) => f.path === '/etc/containerd/config.toml')!.content).toContain('config_path = "/etc/containerd/certs.d"');
      expect(files.find((f) => f.path === '/etc/containerd/certs.d/10.77.0.1:5000/hosts.toml')!.content).toContain('server = "http://10.77.0.1:5000"\n');
    }
    const manifest = plan.step('k8s-prod/cni').files.find((f) => f.path === '/etc/kubernetes/hakube/cni.yaml')!.content!;
    expect(manifest).toBe(FLANNEL_MANIFEST_TEXT
      .replace('ghcr.io/flannel-io/flannel-cni-plugin:v1.5.1-flannel2', '10.77.0.1:5000/k8s/flannel-io/flannel-cni-plugin:v1.5.1-flannel2')
      .replace('docker.io/flannel/flannel:v0.26.1', '10.77.0.1:5000/k8s/flannel/flannel:v0.26.1'));
  });

  it('places the registry CA on every node beside hosts.toml', async () => {
    const { scope } = cluster({
      imageMirror: { repository: 'registry.example.com/k8s', caCertificate: writeTemp('ca.pem', MIRROR_CA_PEM) },
      cni: { manifest: writeTemp('kube-flannel.yml', FLANNEL_MANIFEST_TEXT) },
    });
    const plan = await Plan.of(scope);
    for (const host of ['master-2', 'node-1']) {
      const files = plan.step(`k8s-prod/${host}/containerd`).files;
      expect(files.find((f) => f.path === '/etc/containerd/certs.d/registry.example.com/ca.crt')).toMatchObject({ mode: '0644', content: MIRROR_CA_PEM });
      expect(files.find((f) => f.path === '/etc/containerd/certs.d/registry.example.com/hosts.toml')!.content)
        .toContain('ca = "/etc/containerd/certs.d/registry.example.com/ca.crt"');
    }
  });

  it('calico: the operator manifest\'s image and the Installation\'s registry point at the mirror', async () => {
    const operator = 'apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: tigera-operator\n          image: quay.io/tigera/operator:v1.34.5\n';
    const { scope } = cluster({ imageMirror: { repository: repo, plainHttp: true }, cni: { plugin: 'calico', manifest: writeTemp('tigera-operator.yaml', operator) } });
    const plan = await Plan.of(scope);
    const files = plan.step('k8s-prod/cni').files;
    expect(files.find((f) => f.path === '/etc/kubernetes/hakube/cni.yaml')!.content).toContain('          image: 10.77.0.1:5000/k8s/tigera/operator:v1.34.5\n');
    const installation = yaml.load(files.find((f) => f.path === '/etc/kubernetes/hakube/cni-installation.yaml')!.content!) as Record<string, any>;
    // the operator pulls <registry><imagePath>/node:<version>: the name docker.io/calico/node gets in the mirror
    expect(installation.spec.registry).toBe('10.77.0.1:5000/');
    expect(installation.spec.imagePath).toBe('k8s/calico');
    const plain = yaml.load((await Plan.of(cluster({ cni: { plugin: 'calico' }, podSubnet: '10.200.0.0/16' }).scope)).step('k8s-prod/cni').files[0]!.content!) as Record<string, any>;
    expect(plain.spec).not.toHaveProperty('registry');
    expect(plain.spec).not.toHaveProperty('imagePath');
  });

  it('passes kube-proxy and kubelet settings for containerised nodes into the init configuration', async () => {
    const { scope } = cluster({
      kubelet: { cgroupRoot: '/kubelet', failSwapOn: false, imageGCHighThresholdPercent: 100, evictionHard: { 'nodefs.available': '0%', 'imagefs.available': '0%' }, localStorageCapacityIsolation: false },
      kubeProxy: { conntrack: { maxPerCore: 0 }, iptables: { minSyncPeriod: '1s' } },
    });
    const docs = kubeadmDocs(await Plan.of(scope), 'k8s-prod/master-1/init');
    expect(docs.map((d) => d.kind)).toEqual(['InitConfiguration', 'ClusterConfiguration', 'KubeletConfiguration', 'KubeProxyConfiguration']);
    expect(docs[2]).toMatchObject({ cgroupRoot: '/kubelet', failSwapOn: false, imageGCHighThresholdPercent: 100, evictionHard: { 'nodefs.available': '0%', 'imagefs.available': '0%' }, localStorageCapacityIsolation: false });
    expect(docs[3]).toEqual({ apiVersion: 'kubeproxy.config.k8s.io/v1alpha1', kind: 'KubeProxyConfiguration', conntrack: { maxPerCore: 0 }, iptables: { minSyncPeriod: '1s' } });
  });

  it('keeps the plan\'s steps and order; without a mirror nothing of it is in the plan', async () => {
    const manifest = writeTemp('kube-flannel.yml', FLANNEL_MANIFEST_TEXT);
    const secretsDir = tempDir(); // one PKI and token for both plans
    const without = await Plan.of(cluster({ cni: { manifest }, secretsDir }).scope);
    // (read now: the next plan rewrites the kubeadm files in the shared secrets dir)
    expect(kubeadmDocs(without, 'k8s-prod/master-1/init')[1]).not.toHaveProperty('imageRepository');
    expect(kubeadmDocs(without, 'k8s-prod/master-1/init').map((d) => d.kind)).not.toContain('KubeProxyConfiguration');
    const withMirror = await Plan.of(cluster({ cni: { manifest }, secretsDir, imageMirror: { repository: repo, plainHttp: true } }).scope);
    expect(withMirror.steps.map((s) => [s.id, s.after])).toEqual(without.steps.map((s) => [s.id, s.after]));
    // (the hosts/ checks re-run with every changed step of their host, by design)
    const changed = withMirror.steps
      .filter((s, i) => s.hash !== without.steps[i]!.hash && !s.id.startsWith('hosts/'))
      .map((s) => s.id.replace(/^k8s-prod\/(node|master)-\d\/containerd$/, '<host>/containerd'));
    expect([...new Set(changed)].sort()).toEqual(['<host>/containerd', 'k8s-prod/cni', 'k8s-prod/master-1/init']);
    expect(changed.filter((id) => id === '<host>/containerd')).toHaveLength(6);
    const text = without.toYaml();
    expect(text).not.toContain('certs.d');
    expect(text).not.toContain('config_path');
  });
});

describe('every prop is checked in the constructor, before anything is written', () => {
  const base = (secretsDir: string): ControlPlaneProps => ({ hosts: masters, kubernetesVersion: '1.34.2', endpoint: { address: '10.77.0.20' }, secretsDir });
  it.each<[string, Partial<ControlPlaneProps>, RegExp]>([
    ['a taint key', { taints: [{ key: 'bad key', effect: 'NoSchedule' }] }, /taints.key "bad key" is not a taint key/],
    ['a taint value', { taints: [{ key: 'gpu', value: '-x-', effect: 'NoSchedule' }] }, /taints.gpu.value "-x-" is not a taint value/],
    ['a taint effect', { taints: [{ key: 'gpu', effect: 'Never' as never }] }, /taints.gpu.effect "Never" must be one of NoSchedule, PreferNoSchedule, NoExecute/],
    ['an API server flag name', { apiServerExtraArgs: { '--audit-log-path': '/x' } }, /apiServerExtraArgs "--audit-log-path" is not a flag name/],
    ['a controller-manager flag value', { controllerManagerExtraArgs: { 'v': '2\nrm -rf /' } }, /controllerManagerExtraArgs.v "2\\nrm -rf \/" contains a control character/],
    ['a scheduler flag value that is not a string', { schedulerExtraArgs: { v: 2 as never } }, /schedulerExtraArgs.v 2 must be a string/],
    ['a kubelet cgroup driver', { kubelet: { cgroupDriver: 'cgroupfs' as never } }, /kubelet.cgroupDriver "cgroupfs" must be "systemd"/],
    ['a kubelet pod limit', { kubelet: { maxPods: 0 } }, /kubelet.maxPods 0 must be a positive integer/],
    ['a kubelet reservation', { kubelet: { systemReserved: { cpu: '1 core' } } }, /kubelet.systemReserved.cpu "1 core" is not a quantity/],
    ['an image mirror with a scheme', { imageMirror: { repository: 'https://registry.example.com/k8s' } }, /imageMirror.repository "https:\/\/registry.example.com\/k8s" is not an image repository/],
    ['an image mirror on Docker Hub', { imageMirror: { repository: 'mirror/k8s' } }, /imageMirror.repository "mirror\/k8s" does not start with a registry host/],
    ['an image mirror CA that does not exist', { imageMirror: { repository: 'mirror.internal', caCertificate: '/nonexistent/ca.pem' } }, /imageMirror.caCertificate "\/nonexistent\/ca.pem" is not an existing file/],
    ['an image mirror CA that is not PEM', { imageMirror: { repository: 'mirror.internal', caCertificate: '/etc/hostname' } }, /imageMirror.caCertificate "\/etc\/hostname" holds no PEM certificate/],
    ['an image mirror with plain HTTP and a CA', { imageMirror: { repository: 'mirror.internal', plainHttp: true, caCertificate: '/etc/hostname' } }, /imageMirror.caCertificate "\/etc\/hostname" is set together with plainHttp/],
    ['an image mirror with the default CNI manifest (a URL)', { imageMirror: { repository: 'mirror.internal', plainHttp: true } }, /cni.manifest "https:\/\/github.com\/flannel-io\/flannel\/releases\/download\/v0.26.1\/kube-flannel.yml" is the default, a URL, but with imageMirror set the site is air-gapped: download the manifest once \(curl -fLO https:/],
    ['an image mirror with a CNI manifest URL', { imageMirror: { repository: 'mirror.internal', plainHttp: true }, cni: { plugin: 'calico', manifest: 'https://example.com/tigera-operator.yaml' } }, /cni.manifest "https:\/\/example.com\/tigera-operator.yaml" is a URL, but with imageMirror set the site is air-gapped: .* give the file as cni.manifest; hakube points its images at mirror.internal/],
    ['a CNI manifest whose images cannot be pointed at the mirror', { imageMirror: { repository: 'mirror.internal', plainHttp: true }, cni: { manifest: writeTemp('bad.yml', 'spec:\n  containers:\n  - image: ${IMAGE}\n') } }, /cni.manifest ".*bad.yml" cannot be pointed at imageMirror mirror.internal: line 3: "\$\{IMAGE\}" is not a container image reference/],
    ['a kubelet cgroup root', { kubelet: { cgroupRoot: 'kubelet' } }, /kubelet.cgroupRoot "kubelet" is not a cgroup path/],
    ['a kubelet image GC threshold', { kubelet: { imageGCHighThresholdPercent: 50 } }, /kubelet.imageGCHighThresholdPercent 50 must be an integer from 81 to 100/],
    ['a kube-proxy mode', { kubeProxy: { mode: 'ipvs' as never } }, /kubeProxy.mode "ipvs" must be "iptables" or "nftables"/],
    ['a kube-proxy conntrack limit', { kubeProxy: { conntrack: { maxPerCore: 1.5 } } }, /kubeProxy.conntrack.maxPerCore 1.5 must be an integer of 0 or more/],
    ['a kube-proxy sync period', { kubeProxy: { iptables: { minSyncPeriod: 'soon' } } }, /kubeProxy.iptables.minSyncPeriod "soon" must be a duration/],
    ['the removed imageRepository prop, with the migration', { imageRepository: 'registry.example.com/k8s' } as never, /imageRepository "registry.example.com\/k8s" was replaced by imageMirror: use imageMirror: \{ repository: "registry.example.com\/k8s" \}/],
  ])('%s', (_name, bad, message) => {
    const secretsDir = join(tempDir(), 'secrets');
    const scope = new Construct(undefined as never, 'app');
    expect(() => new ControlPlane(scope, 'cp', { ...base(secretsDir), ...bad })).toThrow(new RegExp(`^ControlPlane app/cp: ${message.source}`));
    expect(existsSync(secretsDir)).toBe(false);
  });

  it('a worker pool taint key and label, with the pool path', () => {
    const { ha, secretsDir } = cluster();
    expect(() => ha.addWorkerPool('gpu', { hosts: hosts(1, 'gpu', 70), taints: [{ key: 'a/b/c', effect: 'NoSchedule' }] })).toThrow(/^WorkerPool app\/prod\/gpu: taints.key "a\/b\/c" is not a taint key/);
    expect(() => ha.addWorkerPool('lbl', { hosts: hosts(1, 'lbl', 80), labels: { 'team': 'x'.repeat(64) } })).toThrow(/^WorkerPool app\/prod\/lbl: labels.team "x{64}" is not a Kubernetes label value/);
    expect(readdirSync(secretsDir)).toEqual([]);
  });
});

describe('no secret in any output', () => {
  it('keeps the bootstrap token, keys and VRRP password out of the plan YAML and cdktf.out', async () => {
    const outdir = tempDir();
    const app = new App({ outdir });
    const stack = new TerraformStack(app, 'prod');
    const secretsDir = tempDir();
    new HaCluster(stack, 'prod', { kubernetesVersion: '1.31.2', controlPlaneHosts: masters, workerHosts: workers, endpoint: { vip: `${VIP}/24` }, etcd: { hosts: etcdHosts }, secretsDir });
    const plan = await Plan.of(stack);
    new TerraformProvisioner(stack, 'provision', { plan });
    app.synth();
    const token = readFileSync(join(secretsDir, 'kubernetes/bootstrap-token'), 'utf8').trim();
    const vrrp = readFileSync(join(secretsDir, 'keepalived/prod-api-vrrp-auth.conf'), 'utf8').match(/auth_pass (\S+)/)![1];
    const markers = [token, token.split('.')[1], vrrp, ...secretMarkers(secretsDir)];
    for (const text of [plan.toYaml(), ...readTree(outdir).map((f) => f.text), Testing.synth(stack)]) {
      for (const marker of markers) expect(text.includes(marker)).toBe(false);
    }
  });

  it('every generated script passes shellcheck', async () => {
    const { scope } = cluster({ etcd: { hosts: etcdHosts }, cni: { plugin: 'calico' }, podSubnet: '10.200.0.0/16' });
    const plan = await Plan.of(scope);
    expectShellcheckClean(plan.steps.map((s) => s.script));
  });
});

describe('examples', () => {
  /** The example's dependency graph: resource → the resources it depends on. */
  function synthExample(file: string, stack: string, env: Record<string, string> = {}) {
    const resources = synthApp(file, stack, env).resource.terraform_data as Record<string, { depends_on?: string[] }>;
    const graph = Object.fromEntries(Object.keys(resources).sort().map((k) => [k, (resources[k].depends_on ?? []).map((d) => d.replace('terraform_data.', ''))]));
    return { graph };
  }
  const hostsFile = { HAKUBE_HOSTS: join(root, 'examples/hosts.example.yaml') };

  it.each([
    ['examples/seed-003-stacked.ts', 'seed-003', hostsFile, 'onprem', ['master-1', 'master-2', 'master-3'], ['node-1', 'node-2', 'node-3']],
    ['examples/seed-001-external-etcd.ts', 'seed-001', hostsFile, 'external', ['master-1', 'master-2', 'master-3'], ['node-1', 'node-2', 'node-3']],
    ['examples/kubespray-layout.ts', 'kubespray-layout', {}, 'kubespray', ['master-1', 'master-2', 'master-3'], ['node-1', 'node-2', 'node-3', 'node-4', 'node-5']],
  ] as const)('%s synthesizes the seed topology', (file, stack, env, name, cps, nodes) => {
    const { graph } = synthExample(file, stack, env);
    const k = (host: string, action: string) => `k8s-${name}_${host}_${action}`;
    expect(graph[k(cps[0], 'init')]).toContain(`lb-${name}-api_ready`);
    expect(graph[k(cps[1], 'join')]).toContain(`k8s-${name}_bootstrap-token`);
    expect(graph[k(cps[2], 'join')]).toContain(k(cps[1], 'join'));
    for (const n of nodes) expect(graph[k(n, 'join')]).toEqual([`k8s-${name}_bootstrap-token`, k(n, 'kube-packages')]);
    if (name !== 'onprem') expect(graph[k(cps[0], 'init')]).toContain(`etcd-${name}_health`);
    // the first wave: every host is checked, and nothing starts before all answered
    for (const host of [...cps, ...nodes]) expect(graph[`hosts_${host}_reachable`]).toEqual([]);
    for (const [id, deps] of Object.entries(graph)) if (!id.startsWith('hosts_')) expect(deps.length, id).toBeGreaterThan(0);
    expect(graph).toMatchSnapshot();
  });
});
