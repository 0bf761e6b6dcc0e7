import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Host } from '../lib/inventory.js';
import { Plan } from '../lib/plan/index.js';
import { nodePrepSteps } from '../lib/render/node-prep.js';
import { DEFAULT_REQUIRED_PORTS, NODE_PREP_PATHS, type NodePrepOptions, type NodeRole, kubernetesRepoUrl, pauseVersionFor } from '../lib/render/node-prep-options.js';
import { renderContainerdConfig, renderModulesLoadConf, renderSysctlConf } from '../lib/render/node-prep-files.js';
import { expectShellcheckClean, hosts, MIRROR_CA_PEM, scriptInputs, tempDir } from './fixtures.js';

const base: NodePrepOptions = { kubernetesVersion: '1.31.2' };

function plan(options: Partial<NodePrepOptions> = {}, role: NodeRole = 'control-plane', host = hosts(1)[0]) {
  return new Plan(nodePrepSteps(host, role, { ...base, ...options }, 'k8s'));
}

function step(options: Partial<NodePrepOptions>, action: 'preflight' | 'os' | 'containerd' | 'kube-packages', role: NodeRole = 'control-plane') {
  return plan(options, role).step(`k8s/node-1/${action}`);
}

function file(options: Partial<NodePrepOptions>, action: 'os' | 'containerd' | 'kube-packages', path: string): string | undefined {
  return step(options, action).files.find((f) => f.path === path)?.content;
}

/** A private key made for the test (never committed), for the check that a CA file must not hold one. */
function generatedPrivateKeyPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}

describe('nodePrepSteps', () => {
  it('plans preflight → os → containerd → kube-packages, each after the previous, all on the host', () => {
    const [host] = hosts(1);
    const specs = nodePrepSteps(host, 'worker', base, 'cluster/prep');
    expect(specs.map((s) => s.id)).toEqual([
      'cluster/prep/node-1/preflight',
      'cluster/prep/node-1/os',
      'cluster/prep/node-1/containerd',
      'cluster/prep/node-1/kube-packages',
    ]);
    expect(specs.map((s) => s.after)).toEqual([
      [], ['cluster/prep/node-1/preflight'], ['cluster/prep/node-1/os'], ['cluster/prep/node-1/containerd'],
    ]);
    expect(specs.every((s) => s.host === host)).toBe(true);
    expect(specs[0]!.files ?? []).toEqual([]);
    const p = new Plan(specs);
    expect(p.waves().map((wave) => wave.map((s) => s.id.split('/').at(-1)))).toEqual([['preflight'], ['os'], ['containerd'], ['kube-packages']]);
  });

  it('gives two hosts independent chains (no step depends on another host)', () => {
    const [a, b] = hosts(2);
    const p = new Plan([...nodePrepSteps(a, 'control-plane', base, 'k8s'), ...nodePrepSteps(b, 'worker', base, 'k8s')]);
    for (const s of p.steps) expect(s.after.every((dep) => p.step(dep).host === s.host)).toBe(true);
    expect(p.waves()).toHaveLength(4);
  });

  it('places the modules and sysctl files of seed 002', () => {
    expect(file({}, 'os', NODE_PREP_PATHS.modulesLoad)).toBe(renderModulesLoadConf());
    expect(renderModulesLoadConf().split('\n').filter((l) => l && !l.startsWith('#'))).toEqual(['overlay', 'br_netfilter']);
    expect(file({}, 'os', NODE_PREP_PATHS.sysctl)).toBe(renderSysctlConf());
    expect(renderSysctlConf()).toBe(
      '# Kernel parameters for Kubernetes networking, written by hakube\n'
      + 'net.bridge.bridge-nf-call-iptables = 1\n'
      + 'net.bridge.bridge-nf-call-ip6tables = 1\n'
      + 'net.ipv4.ip_forward = 1\n',
    );
    // what lib/scripts/os-prep.sh does with them runs on the lab's hosts (test/lab/node-prep.e2e.test.ts)
    expect(scriptInputs(step({}, 'os').script)).toMatchObject({
      os_family: 'debian',
      modules: '(overlay br_netfilter)',
      sysctls: '(net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1 net.ipv4.ip_forward=1)',
      sysctl_file: NODE_PREP_PATHS.sysctl,
    });
  });

  it('sets SELinux permissive on the rhel family only', () => {
    expect(scriptInputs(step({ osFamily: 'rhel' }, 'os').script).os_family).toBe('rhel');
  });

  it('renders a containerd config with the systemd cgroup driver and the kubeadm sandbox image', () => {
    const config = file({}, 'containerd', NODE_PREP_PATHS.containerdConfig)!;
    expect(config).toContain('version = 2');
    expect(config).toContain('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n');
    expect(config).toContain('runtime_type = "io.containerd.runc.v2"');
    expect(config).toContain('sandbox_image = "registry.k8s.io/pause:3.10"');
    expect(config).toContain('bin_dir = "/opt/cni/bin"');
    expect(file({ kubernetesVersion: '1.30.6' }, 'containerd', NODE_PREP_PATHS.containerdConfig)).toContain('registry.k8s.io/pause:3.9"');
    expect(file({ sandboxImage: 'mirror.internal:5000/k8s/pause:3.10' }, 'containerd', NODE_PREP_PATHS.containerdConfig))
      .toContain('sandbox_image = "mirror.internal:5000/k8s/pause:3.10"');
    expect(file({}, 'containerd', NODE_PREP_PATHS.crictlConfig)).toContain('runtime-endpoint: unix:///run/containerd/containerd.sock');
    expect([['1.24.0', '3.7'], ['1.25.16', '3.8'], ['1.30.6', '3.9'], ['1.31.2', '3.10'], ['1.33.1', '3.10'], ['1.34.0', '3.10.1']]
      .map(([v]) => pauseVersionFor(v!))).toEqual(['3.7', '3.8', '3.9', '3.10', '3.10', '3.10.1']);
  });

  it('renders a containerd config the real containerd parses, with runc as the systemd-cgroup v2 runtime', () => {
    const dir = tempDir();
    const path = join(dir, 'config.toml');
    writeFileSync(path, renderContainerdConfig({ sandboxImage: 'registry.k8s.io/pause:3.10' }));
    const dump = spawnSync('containerd', ['--config', path, 'config', 'dump'], { encoding: 'utf8' });
    expect(dump.error, 'containerd must be installed (Debian package "containerd")').toBeUndefined();
    expect(dump.stderr).toBe('');
    expect(dump.status).toBe(0);
    const runc = dump.stdout.split('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]')[1]!.split('\n\n')[0]!;
    expect(runc).toContain('runtime_type = "io.containerd.runc.v2"');
    expect(dump.stdout).toMatch(/\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.runc\.options\]\s+SystemdCgroup = true/);
    expect(dump.stdout).toContain('sandbox_image = "registry.k8s.io/pause:3.10"');
    expect(dump.stdout).toMatch(/default_runtime_name = "runc"/);
    expect(dump.stdout).not.toMatch(/disabled_plugins = \[.*cri/);
    // a broken file is rejected, so the check above means something
    writeFileSync(path, 'version = 2\n[plugins\n');
    expect(spawnSync('containerd', ['--config', path, 'config', 'dump'], { encoding: 'utf8' }).status).not.toBe(0);
  });

  it('caps OOM score adjustments at containerd own when asked (nodes without CAP_SYS_RESOURCE), read by the real containerd', () => {
    const dump = (options: Partial<NodePrepOptions>) => {
      const path = join(tempDir(), 'config.toml');
      writeFileSync(path, file(options, 'containerd', NODE_PREP_PATHS.containerdConfig)!);
      const r = spawnSync('containerd', ['--config', path, 'config', 'dump'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    expect(dump({ restrictOomScoreAdj: true })).toMatch(/^\s*restrict_oom_score_adj = true$/m);
    expect(dump({})).toMatch(/^\s*restrict_oom_score_adj = false$/m);
  });

  it('installs containerd keeping the placed config, restarts it only when the config changed, and checks the CRI plugin', () => {
    const s = step({}, 'containerd');
    expect(s.files.map((f) => f.path)).toEqual([NODE_PREP_PATHS.containerdConfig, NODE_PREP_PATHS.crictlConfig]);
    // what lib/scripts/containerd.sh does with these runs in test/node-prep-scripts.test.ts
    expect(scriptInputs(s.script)).toMatchObject({
      os_family: 'debian',
      containerd_package: 'containerd',
      containerd_config: NODE_PREP_PATHS.containerdConfig,
      containerd_applied: NODE_PREP_PATHS.containerdApplied,
      repo_file_url: "''",
    });
    const rhel = scriptInputs(step({ osFamily: 'rhel' }, 'containerd').script);
    expect(rhel).toMatchObject({ containerd_package: 'containerd.io', repo_file_url: 'https://download.docker.com/linux/centos/docker-ce.repo', repo_file: '/etc/yum.repos.d/docker-ce.repo' });
    expect(scriptInputs(step({ osFamily: 'rhel', containerdRepoFileUrl: false, containerdPackage: 'containerd' }, 'containerd').script).repo_file_url).toBe("''");
  });

  it('adds the pkgs.k8s.io repository of the minor release and pins and holds the packages (debian)', () => {
    expect(kubernetesRepoUrl('1.31.2', 'debian')).toBe('https://pkgs.k8s.io/core:/stable:/v1.31/deb/');
    expect(kubernetesRepoUrl('1.30.0', 'rhel')).toBe('https://pkgs.k8s.io/core:/stable:/v1.30/rpm/');
    const s = step({}, 'kube-packages');
    expect(s.files).toEqual([]);
    // what lib/scripts/kube-packages-debian.sh does with these runs in test/node-prep-scripts.test.ts
    expect(scriptInputs(s.script)).toMatchObject({
      want: '1.31.2',
      packages: '(kubelet kubeadm kubectl)',
      repo_url: 'https://pkgs.k8s.io/core:/stable:/v1.31/deb/',
      keyring: '/etc/apt/keyrings/kubernetes-apt-keyring.gpg',
      source_list: '/etc/apt/sources.list.d/kubernetes.list',
      source_line: "'deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v1.31/deb/ /'",
      proxy: "''",
    });
    expect(scriptInputs(step({ kubernetesRepoBaseUrl: 'http://mirror.internal/k8s/core:/stable:/' }, 'kube-packages').script).repo_url)
      .toBe('http://mirror.internal/k8s/core:/stable:/v1.31/deb/');
    expect(scriptInputs(step({ skipKubernetesRepo: true }, 'kube-packages').script)).toMatchObject({ repo_url: "''", source_line: "''" });
  });

  it('adds the rpm repository with excludes, installs with --disableexcludes and locks the versions (rhel)', () => {
    const s = step({ osFamily: 'rhel', kubernetesVersion: '1.30.4' }, 'kube-packages');
    const repo = s.files.find((f) => f.path === NODE_PREP_PATHS.yumRepo)!.content!;
    expect(repo).toContain('baseurl=https://pkgs.k8s.io/core:/stable:/v1.30/rpm/\n');
    expect(repo).toContain('gpgkey=https://pkgs.k8s.io/core:/stable:/v1.30/rpm/repodata/repomd.xml.key\n');
    expect(repo).toContain('exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni\n');
    expect(repo).toContain('gpgcheck=1\n');
    expect(scriptInputs(s.script)).toMatchObject({ want: '1.30.4', want_re: "'1\\.30\\.4'", repo_file: NODE_PREP_PATHS.yumRepo });
    expect(s.script).toContain('# --- kube-packages-rhel.sh');
    const skipped = step({ osFamily: 'rhel', skipKubernetesRepo: true }, 'kube-packages');
    expect(skipped.files).toEqual([]);
    // no repository file: installs without --disableexcludes
    expect(scriptInputs(skipped.script).repo_file).toBe("''");
  });

  it('configures the package proxy for apt, the key download and dnf, and removes it when unset', () => {
    const proxy = 'http://10.0.0.1:3142';
    expect(file({ packageProxy: proxy }, 'os', NODE_PREP_PATHS.aptProxy)).toBe(
      '// Package proxy, written by hakube\nAcquire::http::Proxy "http://10.0.0.1:3142";\nAcquire::https::Proxy "http://10.0.0.1:3142";\n',
    );
    expect(scriptInputs(step({ packageProxy: proxy }, 'kube-packages').script).proxy).toBe(proxy);
    expect(file({}, 'os', NODE_PREP_PATHS.aptProxy)).toBeUndefined();
    // no proxy: os-prep.sh removes one configured earlier
    expect(scriptInputs(step({}, 'os').script)).toMatchObject({ proxy: "''", apt_proxy_file: NODE_PREP_PATHS.aptProxy });
    const rhel = step({ osFamily: 'rhel', packageProxy: proxy }, 'os');
    expect(rhel.files.map((f) => f.path)).not.toContain(NODE_PREP_PATHS.aptProxy);
    expect(scriptInputs(rhel.script)).toMatchObject({ os_family: 'rhel', proxy });
    expect(scriptInputs(step({ osFamily: 'rhel', packageProxy: proxy }, 'containerd').script).proxy).toBe(proxy);
  });

  it('checks the ports of the role, only while kubelet is not configured', () => {
    const ports = (options: Partial<NodePrepOptions>, role: NodeRole = 'control-plane') => scriptInputs(plan(options, role).step('k8s/node-1/preflight').script).ports;
    expect(ports({})).toBe('(2379 2380 6443 10250 10257 10259)');
    expect(ports({}, 'worker')).toBe('(10250)');
    expect(DEFAULT_REQUIRED_PORTS.worker).toEqual([10250]);
    expect(ports({ requiredPorts: [10250, 6443, 6443] })).toBe('(6443 10250)');
    expect(scriptInputs(step({ minCpus: 4, minMemoryMb: 3800 }, 'preflight').script)).toMatchObject({
      host: 'node-1', min_cpus: '4', min_memory_mb: '3800', allow_hostname_mismatch: '0', kubelet_kubeconfig: '/etc/kubernetes/kubelet.conf',
    });
    expect(scriptInputs(step({ allowHostnameMismatch: true }, 'preflight').script).allow_hostname_mismatch).toBe('1');
  });

  it('preflight (run here, read-only) reports every problem together and fails', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const host = new Host({ name: 'not-this-machine', address: '10.77.0.11' });
      const script = new Plan(nodePrepSteps(host, 'worker', { ...base, minCpus: 4096, minMemoryMb: 100_000_000, requiredPorts: [port] }, 'k8s'))
        .step('k8s/not-this-machine/preflight').script;
      const run = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/hakube: not-this-machine cannot become a Kubernetes worker node, \d problem\(s\):/);
      expect(run.stderr).toMatch(/ {2}- hostname is \S+, but the inventory calls this host not-this-machine/);
      expect(run.stderr).toMatch(/ {2}- \d+ CPUs, at least 4096 needed/);
      expect(run.stderr).toMatch(/ {2}- \d+ MiB of memory, at least 100000000 MiB needed/);
      expect(run.stderr).toContain(`  - TCP port ${port} is already in use`);
      expect(run.stdout).toContain('hakube: product_uuid: ');
      expect(run.stdout).toContain('hakube: machine-id: ');
      expect(run.stdout).toMatch(/hakube: swap: off|hakube: swap is on/);
    } finally {
      server.close();
    }
  });

  it.each<[Partial<NodePrepOptions>, RegExp]>([
    [{ kubernetesVersion: 'v1.31.2' }, /kubernetesVersion "v1.31.2" must be a version like "1.31.2"/],
    [{ kubernetesVersion: '1.31' }, /kubernetesVersion "1.31" must be a version/],
    [{ kubernetesVersion: '1.23.17' }, /kubernetesVersion "1.23.17" is older than 1.24/],
    [{ osFamily: 'arch' as never }, /osFamily "arch" must be "debian" or "rhel"/],
    [{ kubernetesRepoBaseUrl: 'ftp://mirror/k8s' }, /kubernetesRepoBaseUrl "ftp:\/\/mirror\/k8s" must be an http\(s\) URL/],
    [{ kubernetesRepoBaseUrl: "https://x/'; rm -rf /" }, /kubernetesRepoBaseUrl .* must be an http\(s\) URL/],
    [{ packageProxy: '10.0.0.1:3142' }, /packageProxy "10.0.0.1:3142" must be an http\(s\) URL/],
    [{ containerdPackage: 'containerd; reboot' }, /containerdPackage "containerd; reboot" is not a package name/],
    [{ osFamily: 'rhel', containerdRepoFileUrl: 'file:///etc/x.repo' }, /containerdRepoFileUrl "file:\/\/\/etc\/x.repo" must be an http\(s\) URL or false/],
    [{ containerdRepoFileUrl: 'https://download.docker.com/linux/centos/docker-ce.repo' }, /containerdRepoFileUrl .* applies to the rhel family only/],
    [{ sandboxImage: 'registry.k8s.io/pause:3.10"; x' }, /sandboxImage .* is not a container image reference/],
    [{ minCpus: 0 }, /minCpus 0 must be a positive integer/],
    [{ minMemoryMb: 1.5 }, /minMemoryMb 1.5 must be a positive integer/],
    [{ requiredPorts: [6443, 70000] }, /requiredPorts 70000 is not a port/],
  ])('rejects %j with the offending value', (options, message) => {
    expect(() => plan(options)).toThrow(message);
    expect(() => plan(options)).toThrow(/^node preparation k8s\/node-1: /);
  });

  it('rejects a bad role and id prefix', () => {
    const [host] = hosts(1);
    expect(() => nodePrepSteps(host, 'master' as never, base, 'k8s')).toThrow(/role "master" must be "control-plane" or "worker"/);
    expect(() => nodePrepSteps(host, 'worker', base, 'K8s Prep')).toThrow(/idPrefix "K8s Prep" must be lowercase words joined by "\/"/);
  });

  it('is deterministic, and an option change re-runs exactly the steps it concerns', () => {
    const hashes = (options: Partial<NodePrepOptions>) => Object.fromEntries(plan(options).steps.map((s) => [s.id.split('/').at(-1), s.hash]));
    const first = hashes({});
    expect(hashes({})).toEqual(first);
    const changed = (options: Partial<NodePrepOptions>) => Object.entries(hashes(options)).filter(([k, h]) => first[k!] !== h).map(([k]) => k);
    expect(changed({ kubernetesVersion: '1.31.3' })).toEqual(['kube-packages']);
    expect(changed({ kubernetesVersion: '1.30.6' })).toEqual(['containerd', 'kube-packages']);
    expect(changed({ sandboxImage: 'mirror.internal/pause:3.10' })).toEqual(['containerd']);
    expect(changed({ imageMirror: { repository: 'mirror.internal', plainHttp: true } })).toEqual(['containerd']);
    expect(changed({ minCpus: 4 })).toEqual(['preflight']);
    expect(changed({ packageProxy: 'http://10.0.0.1:3142' })).toEqual(['os', 'kube-packages']);
  });

  it('generates scripts that pass shellcheck (both OS families, with and without proxy and repository)', () => {
    const scripts: string[] = [];
    const variants: Array<Partial<NodePrepOptions>> = [
      {},
      { packageProxy: 'http://10.0.0.1:3142', allowHostnameMismatch: true },
      { skipKubernetesRepo: true },
      { osFamily: 'rhel' },
      { osFamily: 'rhel', packageProxy: 'http://10.0.0.1:3142', containerdRepoFileUrl: false },
      { osFamily: 'rhel', skipKubernetesRepo: true },
    ];
    for (const options of variants) {
      for (const role of ['control-plane', 'worker'] as const) {
        for (const s of plan(options, role).steps) {
          scripts.push(s.script);
        }
      }
    }
    expect(scripts).toHaveLength(variants.length * 2 * 4);
    expectShellcheckClean(scripts);
  });

  it('snapshot of a debian control-plane node and a rhel worker', () => {
    const [a, b] = hosts(2);
    const p = new Plan([
      ...nodePrepSteps(a, 'control-plane', { kubernetesVersion: '1.31.2', packageProxy: 'http://10.77.0.1:3142' }, 'k8s'),
      ...nodePrepSteps(b, 'worker', { kubernetesVersion: '1.31.2', osFamily: 'rhel' }, 'k8s'),
    ]);
    expect(p.toYaml()).toMatchSnapshot();
  });
});

describe('nodePrepSteps with an image mirror', () => {
  function writeCa(text = MIRROR_CA_PEM): string {
    const path = join(tempDir(), 'mirror-ca.pem');
    writeFileSync(path, text);
    return path;
  }
  const files = (options: Partial<NodePrepOptions>) => step(options, 'containerd').files;

  it('plain HTTP: containerd reads registry settings from certs.d, and the registry\'s hosts.toml says http', () => {
    const f = files({ imageMirror: { repository: '10.77.0.1:5000/k8s', plainHttp: true } });
    expect(f.map((x) => [x.path, x.mode])).toEqual([
      ['/etc/containerd/config.toml', '0644'],
      ['/etc/crictl.yaml', '0644'],
      ['/etc/containerd/certs.d/10.77.0.1:5000/hosts.toml', '0644'],
    ]);
    const config = f[0]!.content!;
    expect(config).toContain('[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n');
    expect(config).toContain('sandbox_image = "10.77.0.1:5000/k8s/pause:3.10"');
    expect(f[2]!.content).toBe(
      '# Registry 10.77.0.1:5000 for containerd, written by hakube\n'
      + 'server = "http://10.77.0.1:5000"\n'
      + '\n'
      + '[host."http://10.77.0.1:5000"]\n'
      + '  capabilities = ["pull", "resolve"]\n',
    );
  });

  it('HTTPS with a CA: the CA file is placed (0644) at the path hosts.toml names', () => {
    const f = files({ imageMirror: { repository: 'registry.example.com/k8s', caCertificate: writeCa() } });
    const toml = f.find((x) => x.path === '/etc/containerd/certs.d/registry.example.com/hosts.toml')!.content!;
    expect(toml).toBe(
      '# Registry registry.example.com for containerd, written by hakube\n'
      + 'server = "https://registry.example.com"\n'
      + 'ca = "/etc/containerd/certs.d/registry.example.com/ca.crt"\n'
      + '\n'
      + '[host."https://registry.example.com"]\n'
      + '  capabilities = ["pull", "resolve"]\n'
      + '  ca = "/etc/containerd/certs.d/registry.example.com/ca.crt"\n',
    );
    const named = [...toml.matchAll(/ca = "([^"]+)"/g)].map((m) => m[1]);
    const ca = f.find((x) => x.path === named[0])!;
    expect(ca).toMatchObject({ mode: '0644', content: MIRROR_CA_PEM });
    expect(new Set(named).size).toBe(1);
    // HTTPS with the system CAs: no CA file
    const system = files({ imageMirror: { repository: 'registry.example.com/k8s' } });
    expect(system.map((x) => x.path)).toEqual(['/etc/containerd/config.toml', '/etc/crictl.yaml', '/etc/containerd/certs.d/registry.example.com/hosts.toml']);
    expect(system[2]!.content).toContain('server = "https://registry.example.com"\n\n[host."https://registry.example.com"]');
    expect(system[2]!.content).not.toContain('ca =');
  });

  it('takes the sandbox image from the mirror at the pause version of the release, unless sandboxImage says otherwise', () => {
    const config = (options: Partial<NodePrepOptions>) => files(options)[0]!.content!;
    expect(config({ kubernetesVersion: '1.34.2', imageMirror: { repository: 'mirror.internal' } })).toContain('sandbox_image = "mirror.internal/pause:3.10.1"');
    expect(config({ imageMirror: { repository: 'mirror.internal', plainHttp: true }, sandboxImage: 'mirror.internal/other/pause:3.10' }))
      .toContain('sandbox_image = "mirror.internal/other/pause:3.10"');
  });

  it('changes nothing without a mirror: no config_path, no certs.d file', () => {
    const f = files({});
    expect(f.map((x) => x.path)).toEqual(['/etc/containerd/config.toml', '/etc/crictl.yaml']);
    expect(f[0]!.content).not.toContain('config_path');
  });

  it('renders a config the real containerd reads with config_path set', () => {
    const dir = tempDir();
    const path = join(dir, 'config.toml');
    writeFileSync(path, files({ imageMirror: { repository: '10.77.0.1:5000/k8s', plainHttp: true } })[0]!.content!);
    const dump = spawnSync('containerd', ['--config', path, 'config', 'dump'], { encoding: 'utf8' });
    expect(dump.status).toBe(0);
    expect(dump.stdout).toMatch(/\[plugins\."io\.containerd\.grpc\.v1\.cri"\.registry\]\s+config_path = "\/etc\/containerd\/certs\.d"/);
    expect(dump.stdout).toContain('sandbox_image = "10.77.0.1:5000/k8s/pause:3.10"');
  });

  it.each<[string, () => Partial<NodePrepOptions>, RegExp]>([
    ['a repository with a scheme', () => ({ imageMirror: { repository: 'http://10.77.0.1:5000/k8s' } }), /imageMirror.repository "http:\/\/10.77.0.1:5000\/k8s" is not an image repository/],
    ['a repository without a registry host', () => ({ imageMirror: { repository: 'mirror/k8s' } }), /imageMirror.repository "mirror\/k8s" does not start with a registry host/],
    ['plainHttp with a CA', () => ({ imageMirror: { repository: 'mirror.internal', plainHttp: true, caCertificate: writeCa() } }), /imageMirror.caCertificate ".*" is set together with plainHttp/],
    ['a CA file that does not exist', () => ({ imageMirror: { repository: 'mirror.internal', caCertificate: '/nonexistent/ca.pem' } }), /imageMirror.caCertificate "\/nonexistent\/ca.pem" is not an existing file/],
    ['a CA file that is not PEM', () => ({ imageMirror: { repository: 'mirror.internal', caCertificate: writeCa('not a certificate\n') } }), /imageMirror.caCertificate ".*" holds no PEM certificate/],
    ['a CA file whose PEM is broken', () => ({ imageMirror: { repository: 'mirror.internal', caCertificate: writeCa(MIRROR_CA_PEM.replace('MIIBfjCC', 'MIIBfjXX')) } }), /imageMirror.caCertificate ".*" holds a PEM certificate that does not parse/],
    ['a CA file with a private key', () => ({ imageMirror: { repository: 'mirror.internal', caCertificate: writeCa(`${MIRROR_CA_PEM}${generatedPrivateKeyPem()}`) } }), /imageMirror.caCertificate ".*" holds a private key/],
  ])('rejects %s', (_name, options, message) => {
    const o = options();
    expect(() => plan(o)).toThrow(message);
    expect(() => plan(o)).toThrow(/^node preparation k8s\/node-1: /);
  });
});
