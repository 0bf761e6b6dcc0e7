import type { Host } from '../inventory.js';
import type { StepFile, StepSpec } from '../plan/step.js';
import { sh } from '../shell.js';
import { checkImageMirror, fail, isHostname, isHttpUrl, isImageReference, isPackageName, isPort, isVersion } from '../validate.js';
import { type ImageMirror, mirrorRegistryHost } from './image-mirror.js';
import { renderAptUpdate, renderPackageInstall, takePackageLock } from './packages.js';
import { renderServiceApply } from './services.js';

/**
 * Node preparation for every Kubernetes host (seed 002's "on master and worker" list): a read-only preflight, the
 * OS settings kubelet needs (swap off, kernel modules, sysctls, SELinux permissive), containerd as the CRI runtime,
 * and kubelet/kubeadm/kubectl pinned to one version from the pkgs.k8s.io repository of its minor release.
 */

/** Linux distribution family of a host: apt (Debian, Ubuntu) or dnf (RHEL, Rocky, Alma 8 and later), and the repository format. */
export type OsFamily = 'debian' | 'rhel';

/** What the node will be: decides which ports the preflight wants free. */
export type NodeRole = 'control-plane' | 'worker';

/** Where node preparation puts things on a host. */
export const NODE_PREP_PATHS = {
  modulesLoad: '/etc/modules-load.d/k8s.conf',
  sysctl: '/etc/sysctl.d/99-kubernetes.conf',
  aptProxy: '/etc/apt/apt.conf.d/90hakube-proxy',
  containerdConfig: '/etc/containerd/config.toml',
  /** sha256 of the config containerd was last (re)started with. */
  containerdApplied: '/etc/containerd/.hakube-applied',
  crictlConfig: '/etc/crictl.yaml',
  /** containerd's registry host directory (`config_path`): `<dir>/<host:port>/hosts.toml`, with an image mirror only. */
  containerdCertsDir: '/etc/containerd/certs.d',
  aptKeyring: '/etc/apt/keyrings/kubernetes-apt-keyring.gpg',
  aptSource: '/etc/apt/sources.list.d/kubernetes.list',
  yumRepo: '/etc/yum.repos.d/kubernetes.repo',
  /** Where the RHEL family's containerd repository file is saved (the name `dnf config-manager --add-repo` gives it). */
  containerdYumRepo: '/etc/yum.repos.d/docker-ce.repo',
  /** Exists once kubeadm configured kubelet (init or join): from then on kubelet and the control plane hold the ports. */
  kubeletKubeconfig: '/etc/kubernetes/kubelet.conf',
} as const;

/** pkgs.k8s.io's stable channel; the repository of a minor release is `<base>/v1.31/deb/` (or `rpm/`). */
export const KUBERNETES_REPO_BASE_URL = 'https://pkgs.k8s.io/core:/stable:';

/** The RHEL family's default source of `containerd.io` (seed 002). */
export const DOCKER_CE_REPO_FILE_URL = 'https://download.docker.com/linux/centos/docker-ce.repo';

/** Kernel modules containerd and kube-proxy/CNI need: overlay (image layers) and br_netfilter (bridged traffic through iptables). */
export const KUBERNETES_KERNEL_MODULES = ['overlay', 'br_netfilter'] as const;

/** Kernel parameters every node needs (seed 002). The bridge ones exist only while br_netfilter is loaded. */
export const KUBERNETES_SYSCTLS: Readonly<Record<string, string>> = {
  'net.bridge.bridge-nf-call-iptables': '1',
  'net.bridge.bridge-nf-call-ip6tables': '1',
  'net.ipv4.ip_forward': '1',
};

/**
 * Ports kubeadm's own preflight wants free: API server 6443, stacked etcd 2379–2380, kubelet 10250,
 * kube-controller-manager 10257, kube-scheduler 10259 on a control-plane node; kubelet 10250 on a worker.
 */
export const DEFAULT_REQUIRED_PORTS: Readonly<Record<NodeRole, readonly number[]>> = {
  'control-plane': [2379, 2380, 6443, 10250, 10257, 10259],
  worker: [10250],
};

/** The packages node preparation installs and holds at one version. */
export const KUBERNETES_PACKAGES = ['kubelet', 'kubeadm', 'kubectl'] as const;

/** Where kubelet, kubeadm and kubectl come from on a host (resolved from `NodePrepOptions`). */
export interface KubernetesPackages {
  /** Version of all three packages, e.g. "1.31.2". */
  readonly version: string;
  readonly osFamily: OsFamily;
  /**
   * Repository added on the host: the pkgs.k8s.io repository of the version's minor release or a mirror with its
   * layout. Undefined when a repository that already exists on the host provides the packages.
   */
  readonly repoUrl?: string;
  /** HTTP proxy for downloads (package manager and the repository key). */
  readonly proxy?: string;
}

export interface NodePrepOptions {
  /** Version of kubelet, kubeadm and kubectl, e.g. "1.31.2": the packages are pinned to it and held. */
  readonly kubernetesVersion: string;
  /** Distribution family of the host. @default "debian" */
  readonly osFamily?: OsFamily;
  /**
   * Base URL of the Kubernetes package repositories; the repository used is `<base>/v<major.minor>/deb/` (`rpm/`
   * for the RHEL family). Set it to a mirror that keeps pkgs.k8s.io's layout.
   * @default "https://pkgs.k8s.io/core:/stable:" (https://pkgs.k8s.io/core:/stable:/v1.31/deb/ for 1.31.x)
   */
  readonly kubernetesRepoBaseUrl?: string;
  /** Do not add a Kubernetes repository: the packages come from a repository the host already has (a mirror). @default false */
  readonly skipKubernetesRepo?: boolean;
  /**
   * HTTP proxy for the package manager (apt `Acquire::http(s)::Proxy`, dnf `proxy=`) and for fetching the
   * repository key, e.g. "http://10.0.0.1:3142" for an air-gapped site. It must tunnel https (CONNECT) for
   * pkgs.k8s.io — an apt-cacher-ng needs `PassThroughPattern` for it — or point `kubernetesRepoBaseUrl` at a mirror.
   * @default no proxy (a proxy file hakube wrote earlier is removed)
   */
  readonly packageProxy?: string;
  /** Package that provides containerd. @default "containerd" (Debian's own) for debian, "containerd.io" for rhel */
  readonly containerdPackage?: string;
  /**
   * RHEL family only: a `.repo` file that provides `containerdPackage`, saved as /etc/yum.repos.d/docker-ce.repo
   * while the package is not installed and no such file exists; `false` when a configured repository provides it.
   * @default "https://download.docker.com/linux/centos/docker-ce.repo"
   */
  readonly containerdRepoFileUrl?: string | false;
  /**
   * Pod sandbox ("pause") image containerd uses.
   * @default the one kubeadm of `kubernetesVersion` expects: registry.k8s.io/pause:<version>, or
   * `<imageMirror.repository>/pause:<version>` with an image mirror
   */
  readonly sandboxImage?: string;
  /**
   * The registry containerd pulls every image from (air-gapped sites): its hosts.toml (plain HTTP, or HTTPS with
   * the mirror's CA placed beside it) and the sandbox image's repository. `ControlPlane` sets it from its own
   * `imageMirror`.
   * @default none (images come from their own registries)
   */
  readonly imageMirror?: ImageMirror;
  /**
   * Never give a container a lower OOM score adjustment than containerd's own (containerd's
   * `restrict_oom_score_adj`): for nodes that may not lower OOM scores — nodes inside containers without
   * CAP_SYS_RESOURCE, where runc otherwise fails every pod sandbox with "can't get final child's PID from pipe".
   * @default false
   */
  readonly restrictOomScoreAdj?: boolean;
  /** Fewest CPUs the preflight accepts. @default 2 */
  readonly minCpus?: number;
  /** Least memory (MemTotal, in MiB) the preflight accepts; 2 GB machines report a little less than 2048. @default 1700 */
  readonly minMemoryMb?: number;
  /**
   * TCP ports that must be free before the node is set up (checked while kubelet is not configured yet, i.e.
   * /etc/kubernetes/kubelet.conf is absent). @default DEFAULT_REQUIRED_PORTS of the role
   */
  readonly requiredPorts?: number[];
  /** Only warn (instead of failing) when the machine's hostname differs from the host's name. @default false */
  readonly allowHostnameMismatch?: boolean;
}

/** `NodePrepOptions` validated, with every default filled in. */
export interface ResolvedNodePrepOptions {
  readonly kubernetesVersion: string;
  readonly osFamily: OsFamily;
  readonly packages: KubernetesPackages;
  readonly packageProxy?: string;
  readonly containerdPackage: string;
  /** Only for rhel; undefined when no repository file is fetched. */
  readonly containerdRepoFileUrl?: string;
  readonly sandboxImage: string;
  /** The image mirror's registry as containerd needs it; undefined without a mirror. */
  readonly registry?: ContainerdRegistry;
  readonly restrictOomScoreAdj: boolean;
  readonly minCpus: number;
  readonly minMemoryMb: number;
  /** Sorted, without duplicates; undefined to use the role's default. */
  readonly requiredPorts?: readonly number[];
  readonly allowHostnameMismatch: boolean;
}

/**
 * The pause image version kubeadm of a minor release pulls (kubeadm's `PauseVersion` constant); containerd's
 * sandbox image should match it, or kubeadm warns and two pause images end up on every node.
 */
export function pauseVersionFor(kubernetesVersion: string): string {
  const minor = Number(kubernetesVersion.split('.')[1]);
  if (minor >= 34) return '3.10.1';
  if (minor >= 31) return '3.10';
  if (minor >= 26) return '3.9';
  if (minor === 25) return '3.8';
  return '3.7';
}

/** The repository of the version's minor release: `<base>/v1.31/deb/` or `<base>/v1.31/rpm/`. */
export function kubernetesRepoUrl(kubernetesVersion: string, osFamily: OsFamily, baseUrl: string = KUBERNETES_REPO_BASE_URL): string {
  const [major, minor] = kubernetesVersion.split('.');
  return `${baseUrl.replace(/\/+$/, '')}/v${major}.${minor}/${osFamily === 'debian' ? 'deb' : 'rpm'}/`;
}

/** Validate node preparation options (errors name `where`), fill in the defaults. Constructs call it eagerly. */
export function resolveNodePrepOptions(where: string, options: NodePrepOptions): ResolvedNodePrepOptions {
  const version = options.kubernetesVersion;
  if (typeof version !== 'string' || !isVersion(version)) {
    fail(where, 'kubernetesVersion', version, 'must be a version like "1.31.2" (no leading v)');
  }
  const [major, minor] = version.split('.').map(Number);
  if (major !== 1 || minor < 24) {
    fail(where, 'kubernetesVersion', version, 'is older than 1.24: pkgs.k8s.io has packages from 1.24 on, and containerd needs no dockershim from then');
  }
  const osFamily = options.osFamily ?? 'debian';
  if (osFamily !== 'debian' && osFamily !== 'rhel') fail(where, 'osFamily', osFamily, 'must be "debian" or "rhel"');
  const baseUrl = options.kubernetesRepoBaseUrl ?? KUBERNETES_REPO_BASE_URL;
  if (!isHttpUrl(baseUrl)) fail(where, 'kubernetesRepoBaseUrl', baseUrl, 'must be an http(s) URL');
  const proxy = options.packageProxy;
  if (proxy !== undefined && !isHttpUrl(proxy)) fail(where, 'packageProxy', proxy, 'must be an http(s) URL such as "http://10.0.0.1:3142"');
  const containerdPackage = options.containerdPackage ?? (osFamily === 'debian' ? 'containerd' : 'containerd.io');
  if (!isPackageName(containerdPackage)) fail(where, 'containerdPackage', containerdPackage, 'is not a package name');
  let containerdRepoFileUrl: string | undefined;
  if (osFamily === 'rhel' && options.containerdRepoFileUrl !== false) {
    containerdRepoFileUrl = options.containerdRepoFileUrl ?? DOCKER_CE_REPO_FILE_URL;
    if (!isHttpUrl(containerdRepoFileUrl)) fail(where, 'containerdRepoFileUrl', containerdRepoFileUrl, 'must be an http(s) URL or false');
  } else if (osFamily === 'debian' && options.containerdRepoFileUrl !== undefined && options.containerdRepoFileUrl !== false) {
    fail(where, 'containerdRepoFileUrl', options.containerdRepoFileUrl, 'applies to the rhel family only (Debian installs containerd from its own archive)');
  }
  const caPem = checkImageMirror(where, 'imageMirror', options.imageMirror);
  const mirror = options.imageMirror;
  const registry = mirror && { host: mirrorRegistryHost(mirror.repository), plainHttp: mirror.plainHttp ?? false, caPem };
  const sandboxImage = options.sandboxImage ?? `${mirror?.repository ?? 'registry.k8s.io'}/pause:${pauseVersionFor(version)}`;
  if (!isImageReference(sandboxImage)) fail(where, 'sandboxImage', sandboxImage, 'is not a container image reference like "registry.k8s.io/pause:3.10"');
  const minCpus = options.minCpus ?? 2;
  if (!Number.isInteger(minCpus) || minCpus < 1) fail(where, 'minCpus', minCpus, 'must be a positive integer');
  const minMemoryMb = options.minMemoryMb ?? 1700;
  if (!Number.isInteger(minMemoryMb) || minMemoryMb < 1) fail(where, 'minMemoryMb', minMemoryMb, 'must be a positive integer (MiB)');
  let requiredPorts: number[] | undefined;
  if (options.requiredPorts !== undefined) {
    if (!Array.isArray(options.requiredPorts)) fail(where, 'requiredPorts', options.requiredPorts, 'must be a list of ports');
    for (const port of options.requiredPorts) if (!isPort(port)) fail(where, 'requiredPorts', port, 'is not a port (1-65535)');
    requiredPorts = [...new Set(options.requiredPorts)].sort((a, b) => a - b);
  }
  return {
    kubernetesVersion: version,
    osFamily,
    packages: {
      version,
      osFamily,
      repoUrl: options.skipKubernetesRepo ? undefined : kubernetesRepoUrl(version, osFamily, baseUrl),
      proxy,
    },
    packageProxy: proxy,
    containerdPackage,
    containerdRepoFileUrl,
    sandboxImage,
    restrictOomScoreAdj: options.restrictOomScoreAdj ?? false,
    registry,
    minCpus,
    minMemoryMb,
    requiredPorts,
    allowHostnameMismatch: options.allowHostnameMismatch ?? false,
  };
}

/**
 * The node preparation steps of one host, each after the previous one:
 * `<idPrefix>/<host>/preflight` → `/os` → `/containerd` → `/kube-packages`. No step needs anything from another
 * host. Throws a `ValidationError` for a bad option.
 */
export function nodePrepSteps(host: Host, role: NodeRole, options: NodePrepOptions, idPrefix: string): StepSpec[] {
  const where = `node preparation ${idPrefix}/${host.name}`;
  if (typeof idPrefix !== 'string' || !idPrefix.split('/').every(isHostname)) {
    fail(where, 'idPrefix', idPrefix, 'must be lowercase words joined by "/"');
  }
  if (role !== 'control-plane' && role !== 'worker') fail(where, 'role', role, 'must be "control-plane" or "worker"');
  const o = resolveNodePrepOptions(where, options);
  const id = (action: string) => `${idPrefix}/${host.name}/${action}`;
  const steps: Array<Omit<StepSpec, 'id' | 'host' | 'after'> & { action: string }> = [
    {
      action: 'preflight',
      title: `Check that ${host.name} meets the requirements of a Kubernetes ${role} node`,
      script: renderPreflightScript({
        hostName: host.name,
        role,
        osFamily: o.osFamily,
        minCpus: o.minCpus,
        minMemoryMb: o.minMemoryMb,
        ports: o.requiredPorts ?? DEFAULT_REQUIRED_PORTS[role],
        allowHostnameMismatch: o.allowHostnameMismatch,
      }),
    },
    {
      action: 'os',
      title: `Prepare the OS of ${host.name} for kubelet: swap off, kernel modules, sysctls${o.osFamily === 'rhel' ? ', SELinux permissive' : ''}`,
      files: nodeOsFiles(o),
      script: renderOsPrepScript(o.osFamily, o.packageProxy),
    },
    {
      action: 'containerd',
      title: `Install containerd on ${host.name} with the systemd cgroup driver`,
      files: [
        { path: NODE_PREP_PATHS.containerdConfig, mode: '0644', content: renderContainerdConfig({ sandboxImage: o.sandboxImage, registryHosts: o.registry !== undefined, restrictOomScoreAdj: o.restrictOomScoreAdj }) },
        { path: NODE_PREP_PATHS.crictlConfig, mode: '0644', content: renderCrictlConfig() },
        ...(o.registry ? containerdRegistryFiles(o.registry) : []),
      ],
      script: renderContainerdScript({
        osFamily: o.osFamily,
        packageName: o.containerdPackage,
        repoFileUrl: o.containerdRepoFileUrl,
        proxy: o.packageProxy,
      }),
    },
    {
      action: 'kube-packages',
      title: `Install kubelet, kubeadm and kubectl ${o.kubernetesVersion} on ${host.name} and hold them`,
      files: o.osFamily === 'rhel' && o.packages.repoUrl
        ? [{ path: NODE_PREP_PATHS.yumRepo, mode: '0644', content: renderKubernetesYumRepo(o.packages.repoUrl) }]
        : [],
      script: renderKubePackagesScript(o.packages),
    },
  ];
  return steps.map(({ action, ...step }, index) => ({
    id: id(action),
    host,
    ...step,
    after: index === 0 ? [] : [id(steps[index - 1]!.action)],
  }));
}

function nodeOsFiles(o: ResolvedNodePrepOptions): StepFile[] {
  const files: StepFile[] = [
    { path: NODE_PREP_PATHS.modulesLoad, mode: '0644', content: renderModulesLoadConf() },
    { path: NODE_PREP_PATHS.sysctl, mode: '0644', content: renderSysctlConf() },
  ];
  if (o.osFamily === 'debian' && o.packageProxy) {
    files.push({ path: NODE_PREP_PATHS.aptProxy, mode: '0644', content: renderAptProxyConf(o.packageProxy) });
  }
  return files;
}

// ---------------------------------------------------------------------------------------------------------------
// Files

/** /etc/modules-load.d/k8s.conf: the modules systemd loads at boot. */
export function renderModulesLoadConf(): string {
  return ['# Kernel modules for containerd and Kubernetes networking, written by hakube', ...KUBERNETES_KERNEL_MODULES, ''].join('\n');
}

/** /etc/sysctl.d/99-kubernetes.conf (seed 002's three parameters). */
export function renderSysctlConf(): string {
  return [
    '# Kernel parameters for Kubernetes networking, written by hakube',
    ...Object.entries(KUBERNETES_SYSCTLS).map(([key, value]) => `${key} = ${value}`),
    '',
  ].join('\n');
}

/** apt configuration that sends every download (http and https) through `proxy`. */
export function renderAptProxyConf(proxy: string): string {
  return `// Package proxy, written by hakube
Acquire::http::Proxy "${proxy}";
Acquire::https::Proxy "${proxy}";
`;
}

/** A registry containerd pulls from through a hosts.toml (an image mirror). */
export interface ContainerdRegistry {
  /** Registry host with optional port, e.g. "10.77.0.1:5000": the name of its directory under certs.d. */
  readonly host: string;
  /** Plain HTTP instead of HTTPS. */
  readonly plainHttp: boolean;
  /** PEM CA certificate(s) for HTTPS, placed beside hosts.toml; undefined: the host's system CAs. */
  readonly caPem?: string;
}

/** What hakube decides in containerd's configuration. */
export interface ContainerdConfig {
  /** Pod sandbox image. */
  readonly sandboxImage: string;
  /** Read registry settings from hosts.toml files under /etc/containerd/certs.d. @default false */
  readonly registryHosts?: boolean;
  /** Cap containers' OOM score adjustment at containerd's own. @default false */
  readonly restrictOomScoreAdj?: boolean;
}

/**
 * A minimal containerd configuration (format version 2, read by containerd 1.6, 1.7 and 2.x) on top of
 * containerd's built-in defaults: runc through the v2 shim with the systemd cgroup driver (what kubelet uses with
 * kubeadm), the sandbox image kubeadm expects, and CNI plugins where the kubernetes-cni package and CNI installers
 * put them. Unlike a `containerd config default` dump it states only what hakube decides, and it replaces the
 * package's own file (Debian's points CNI at /usr/lib/cni; docker's `containerd.io` disables the CRI plugin).
 * `registryHosts`: the CRI plugin reads registry settings from hosts.toml files under /etc/containerd/certs.d
 * (`config_path`; read at every pull, so changing them needs no restart). `restrictOomScoreAdj`: see
 * `NodePrepOptions.restrictOomScoreAdj`.
 */
export function renderContainerdConfig({ sandboxImage, registryHosts = false, restrictOomScoreAdj = false }: ContainerdConfig): string {
  const registry = registryHosts
    ? `
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "${NODE_PREP_PATHS.containerdCertsDir}"
`
    : '';
  return `# containerd configuration for Kubernetes, written by hakube
version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${sandboxImage}"
${restrictOomScoreAdj ? '  restrict_oom_score_adj = true\n' : ''}${registry}
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/opt/cni/bin"
  conf_dir = "/etc/cni/net.d"

[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true
`;
}

/** Where a registry's files go: `/etc/containerd/certs.d/<host:port>/hosts.toml` and `ca.crt` beside it. */
export function containerdRegistryPaths(host: string): { readonly hostsToml: string; readonly ca: string } {
  const dir = `${NODE_PREP_PATHS.containerdCertsDir}/${host}`;
  return { hostsToml: `${dir}/hosts.toml`, ca: `${dir}/ca.crt` };
}

/** The registry's hosts.toml and, for HTTPS with a CA of its own, the CA file (0644: certificates are public). */
export function containerdRegistryFiles(registry: ContainerdRegistry): StepFile[] {
  const paths = containerdRegistryPaths(registry.host);
  return [
    { path: paths.hostsToml, mode: '0644', content: renderContainerdHostsToml(registry) },
    ...(registry.caPem !== undefined ? [{ path: paths.ca, mode: '0644', content: registry.caPem }] : []),
  ];
}

/**
 * containerd's hosts.toml for one registry (containerd 1.5 and later; `remotes/docker/config/hosts.go`): the scheme
 * of `server` decides plain HTTP or HTTPS, `ca` names the CA file. containerd 1.6 ignores a hosts.toml without a
 * `[host."…"]` table (it falls back to certificate files, i.e. HTTPS), so the registry is also listed as a host, with
 * the same settings; pulls only (no push).
 */
export function renderContainerdHostsToml(registry: ContainerdRegistry): string {
  const url = `${registry.plainHttp ? 'http' : 'https'}://${registry.host}`;
  const ca = registry.caPem !== undefined ? `ca = "${containerdRegistryPaths(registry.host).ca}"\n` : '';
  return `# Registry ${registry.host} for containerd, written by hakube
server = "${url}"
${ca}
[host."${url}"]
  capabilities = ["pull", "resolve"]
${ca ? `  ${ca}` : ''}`;
}

/** /etc/crictl.yaml: crictl (from cri-tools, which the kube-packages step installs) talks to containerd. */
export function renderCrictlConfig(): string {
  return `# crictl configuration, written by hakube
runtime-endpoint: unix:///run/containerd/containerd.sock
image-endpoint: unix:///run/containerd/containerd.sock
timeout: 10
`;
}

/** The apt source line of the Kubernetes repository, signed by its own keyring only. */
export function renderKubernetesAptSource(repoUrl: string): string {
  return `deb [signed-by=${NODE_PREP_PATHS.aptKeyring}] ${repoUrl} /\n`;
}

/**
 * /etc/yum.repos.d/kubernetes.repo. The packages are excluded from ordinary updates; hakube installs them with
 * `--disableexcludes=kubernetes` (the layout pkgs.k8s.io documents).
 */
export function renderKubernetesYumRepo(repoUrl: string): string {
  return `# Kubernetes packages, written by hakube
[kubernetes]
name=Kubernetes
baseurl=${repoUrl}
enabled=1
gpgcheck=1
gpgkey=${repoUrl}repodata/repomd.xml.key
exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni
`;
}

// ---------------------------------------------------------------------------------------------------------------
// Scripts

export interface PreflightConfig {
  /** The host's name in the inventory: the machine's hostname should be the same (kubelet registers under it). */
  readonly hostName: string;
  readonly role: NodeRole;
  readonly osFamily: OsFamily;
  readonly minCpus: number;
  readonly minMemoryMb: number;
  /** TCP ports that must be free while kubelet is not configured. */
  readonly ports: readonly number[];
  readonly allowHostnameMismatch: boolean;
}

/**
 * Read-only checks before anything changes; every problem is collected and all are reported together before the
 * step fails. Also prints what must be unique across nodes (product_uuid, machine-id, MAC addresses) for a
 * cross-host check elsewhere, and the swap state. Ports are only checked while
 * /etc/kubernetes/kubelet.conf is absent: on a node kubeadm already set up, kubelet and the control plane hold them.
 */
export function renderPreflightScript(c: PreflightConfig): string {
  const hostnameCheck = c.allowHostnameMismatch
    ? `  echo "hakube: warning: hostname is $(uname -n), the inventory calls this host $host (allowed by allowHostnameMismatch)" >&2`
    : `  problem "hostname is $(uname -n), but the inventory calls this host $host: kubelet registers the node under its hostname (set it with: hostnamectl set-hostname $host)"`;
  const packageManager = c.osFamily === 'debian'
    ? `if ! command -v apt-get >/dev/null 2>&1; then
  problem "apt-get not found: this host is not of the debian family (set osFamily)"
fi`
    : `if ! command -v dnf >/dev/null 2>&1; then
  problem "dnf not found: this host is not of the rhel family 8 or later (set osFamily)"
fi
if systemctl is-active --quiet firewalld 2>/dev/null; then
  echo "hakube: warning: firewalld is active: open the Kubernetes ports (\${ports[*]}) between the nodes" >&2
fi`;
  return `host=${sh(c.hostName)}
role=${sh(c.role)}
min_cpus=${sh(c.minCpus)}
min_memory_mb=${sh(c.minMemoryMb)}
ports=(${c.ports.map((p) => sh(p)).join(' ')})
problems=()
problem() { problems+=("$1"); }
echo "hakube: preflight of $host as a Kubernetes $role node"

if [ "$(uname -n | tr '[:upper:]' '[:lower:]')" != "$host" ]; then
${hostnameCheck}
fi
cpus=$(nproc)
if [ "$cpus" -lt "$min_cpus" ]; then
  problem "$cpus CPUs, at least $min_cpus needed"
fi
memory_mb=$(( $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 1024 ))
if [ "$memory_mb" -lt "$min_memory_mb" ]; then
  problem "$memory_mb MiB of memory, at least $min_memory_mb MiB needed"
fi
if [ ! -d /run/systemd/system ]; then
  problem "systemd is not the init system: kubelet and containerd run as systemd services with the systemd cgroup driver"
fi
${packageManager}

# Whether something listens on TCP port $1 (ss, or /proc/net/tcp* where ss is missing).
port_in_use() {
  if command -v ss >/dev/null 2>&1; then
    [ -n "$(ss -ltn "sport = :$1" | tail -n +2)" ]
  else
    awk -v port=":$(printf '%04X' "$1")" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == port { found = 1 } END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
  fi
}
if [ -e ${sh(NODE_PREP_PATHS.kubeletKubeconfig)} ]; then
  echo "hakube: ports not checked: kubelet is already configured (${NODE_PREP_PATHS.kubeletKubeconfig} exists), Kubernetes holds them"
else
  for port in "\${ports[@]}"; do
    if port_in_use "$port"; then
      holder=$(ss -ltnp "sport = :$port" 2>/dev/null | awk 'NR == 2 { print $NF }' || true)
      problem "TCP port $port is already in use\${holder:+ by $holder}"
    fi
  done
fi

# What must differ between nodes; compared across hosts elsewhere (no step reads another host).
echo "hakube: product_uuid: $(cat /sys/class/dmi/id/product_uuid 2>/dev/null || echo unavailable)"
echo "hakube: machine-id: $(cat /etc/machine-id 2>/dev/null || echo unavailable)"
echo "hakube: MAC addresses: $(ip -o link 2>/dev/null | awk '{ name = $2; sub(/:$/, "", name); sub(/@.*/, "", name); for (i = 1; i < NF; i++) if ($i == "link/ether") printf "%s=%s ", name, $(i + 1) }' || true)"
if [ "$(awk 'NR > 1' /proc/swaps | wc -l)" -gt 0 ]; then
  echo "hakube: swap is on (the os step turns it off):"
  awk 'NR > 1 { print "  " $1 " (" $2 ", " $3 " KiB)" }' /proc/swaps
else
  echo "hakube: swap: off"
fi

if [ "\${#problems[@]}" -gt 0 ]; then
  echo "hakube: $host cannot become a Kubernetes $role node, \${#problems[@]} problem(s):" >&2
  printf '  - %s\\n' "\${problems[@]}" >&2
  exit 1
fi
echo "hakube: preflight passed ($cpus CPUs, $memory_mb MiB)"
`;
}

/**
 * Swap off now and at boot, kernel modules present, sysctls applied and read back, SELinux permissive (rhel), and
 * the package proxy. The module and sysctl files are placed by the step. A module that is already there — loaded,
 * or built into the kernel, as inside a container whose machine has it — is not loaded again; otherwise modprobe
 * must succeed. The sysctls are written every run (cheap, and it repairs a value something else changed).
 */
export function renderOsPrepScript(osFamily: OsFamily, proxy?: string): string {
  const selinux = osFamily === 'rhel'
    ? `
# SELinux permissive (kubeadm's recommendation; seed 002 turns it off).
if command -v getenforce >/dev/null 2>&1 && [ "$(getenforce)" = Enforcing ]; then
  setenforce 0
  echo "hakube: SELinux set to permissive"
fi
if [ -f /etc/selinux/config ] && grep -q '^SELINUX=enforcing' /etc/selinux/config; then
  sed -i 's/^SELINUX=enforcing.*/SELINUX=permissive/' /etc/selinux/config
  echo "hakube: SELinux permissive at boot (/etc/selinux/config)"
fi
`
    : '';
  const proxyConfig = osFamily === 'debian'
    ? proxy
      ? '' // placed by the step
      : `
# No package proxy: remove one hakube configured earlier.
if [ -e ${sh(NODE_PREP_PATHS.aptProxy)} ]; then
  rm -f ${sh(NODE_PREP_PATHS.aptProxy)}
  echo "hakube: removed the package proxy"
fi
`
    : `
# Package proxy in the [main] section of dnf.conf, on the line after hakube's marker.
conf=/etc/dnf/dnf.conf
[ -f "$conf" ] || printf '[main]\n' > "$conf"
tmp=$(mktemp)
awk -v proxy=${sh(proxy ?? '')} '
  skip { skip = 0; next }
  $0 == "# hakube: package proxy" { skip = 1; next }
  { print }
  /^\\[main\\]/ && proxy != "" && !done { print "# hakube: package proxy"; print "proxy=" proxy; done = 1 }
' "$conf" > "$tmp"
if ! cmp -s "$tmp" "$conf"; then
  cat "$tmp" > "$conf"
  echo "hakube: package proxy updated in $conf"
fi
rm -f "$tmp"
`;
  return `# Swap off: kubelet refuses to run with swap by default.
if [ "$(awk 'NR > 1' /proc/swaps | wc -l)" -gt 0 ]; then
  swapoff -a
  if [ "$(awk 'NR > 1' /proc/swaps | wc -l)" -gt 0 ]; then
    echo "hakube: swap is still on after swapoff -a:" >&2
    cat /proc/swaps >&2
    exit 1
  fi
  echo "hakube: swap turned off"
fi
swap_entry='^[^#[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]]'
if grep -Eq "$swap_entry" /etc/fstab 2>/dev/null; then
  sed -E -i.hakube-bak "/$swap_entry/ s/^/# swap off for kubelet (hakube): /" /etc/fstab
  echo "hakube: swap entries in /etc/fstab commented out (backup: /etc/fstab.hakube-bak)"
fi

# Kernel modules (listed in ${NODE_PREP_PATHS.modulesLoad} for boot).
module_present() {
  [ -d "/sys/module/$1" ] && return 0
  case $1 in
    overlay) grep -qw overlay /proc/filesystems ;;
    br_netfilter) [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] ;;
    *) return 1 ;;
  esac
}
for module in ${KUBERNETES_KERNEL_MODULES.map((m) => sh(m)).join(' ')}; do
  if module_present "$module"; then
    echo "hakube: kernel module $module: present"
    continue
  fi
  if ! command -v modprobe >/dev/null 2>&1 || ! modprobe "$module"; then
    echo "hakube: kernel module $module is neither loaded nor built in, and modprobe $module failed (inside a container, load it on the machine that runs the container)" >&2
    exit 1
  fi
  echo "hakube: kernel module $module: loaded"
done

# Kernel parameters from ${NODE_PREP_PATHS.sysctl}: applied when the file changed or a value differs.
sysctl_mismatches() {
${Object.entries(KUBERNETES_SYSCTLS)
  .map(([key, value]) => `  [ "$(sysctl -n ${sh(key)} 2>/dev/null)" = ${sh(value)} ] || echo "${key}=$(sysctl -n ${sh(key)} 2>/dev/null || echo missing) (want ${value})"`)
  .join('\n')}
}
if [ "$CHANGED" = 1 ] || [ -n "$(sysctl_mismatches)" ]; then
  if ! sysctl -p ${sh(NODE_PREP_PATHS.sysctl)} >/dev/null; then
    echo "hakube: could not apply ${NODE_PREP_PATHS.sysctl} (is /proc/sys/net writable? a container needs it writable)" >&2
    exit 1
  fi
  echo "hakube: applied ${NODE_PREP_PATHS.sysctl}"
fi
mismatches=$(sysctl_mismatches)
if [ -n "$mismatches" ]; then
  echo "hakube: kernel parameters differ after applying ${NODE_PREP_PATHS.sysctl}: $mismatches" >&2
  exit 1
fi
echo "hakube: ${Object.entries(KUBERNETES_SYSCTLS).map(([k, v]) => `${k}=${v}`).join(' ')}"
${selinux}${proxyConfig}`;
}

export interface ContainerdInstallConfig {
  readonly osFamily: OsFamily;
  readonly packageName: string;
  /** rhel: .repo file fetched while the package is not installed and no docker-ce.repo exists. */
  readonly repoFileUrl?: string;
  readonly proxy?: string;
}

/**
 * Install containerd (keeping hakube's config, placed before the install, over the package's conffile), enable
 * it, restart it only when its configuration changed, and wait until it answers with its CRI plugin loaded.
 */
export function renderContainerdScript(c: ContainerdInstallConfig): string {
  const pkg = sh(c.packageName);
  const missing = c.osFamily === 'debian'
    ? `[ "$(dpkg-query -W -f="\\\${db:Status-Status}" ${pkg} 2>/dev/null || true)" != installed ]`
    : `! rpm -q ${pkg} >/dev/null 2>&1`;
  const before = c.osFamily === 'debian'
    ? `# hakube's config.toml is in place before the install: dpkg keeps it instead of asking about the conffile.
export DPKG_FORCE=confdef,confold`
    : c.repoFileUrl
      ? `repo_file_url=${sh(c.repoFileUrl)}
if [ "$install_containerd" = 1 ] && [ ! -f ${sh(NODE_PREP_PATHS.containerdYumRepo)} ]; then
  curl -fsSL --retry 3${c.proxy ? ` --proxy ${sh(c.proxy)}` : ''} -o ${sh(`${NODE_PREP_PATHS.containerdYumRepo}.hakube-new`)} "$repo_file_url"
  mv -f ${sh(`${NODE_PREP_PATHS.containerdYumRepo}.hakube-new`)} ${sh(NODE_PREP_PATHS.containerdYumRepo)}
  echo "hakube: added ${NODE_PREP_PATHS.containerdYumRepo} from $repo_file_url"
fi`
      : '';
  return `install_containerd=0
if ${missing}; then
  install_containerd=1
fi
${before}
${renderPackageInstall({ apt: [c.packageName], dnf: [c.packageName] }, '[ "$install_containerd" = 1 ]')}
${renderServiceApply({ unit: 'containerd.service', files: [NODE_PREP_PATHS.containerdConfig], stateFile: NODE_PREP_PATHS.containerdApplied, action: 'restart' })}
for attempt in $(seq 1 30); do
  if ctr version >/dev/null 2>&1; then
    break
  fi
  if [ "$attempt" = 30 ]; then
    echo "hakube: containerd does not answer on its socket after 30 s" >&2
    journalctl -u containerd.service -n 30 --no-pager >&2 || true
    exit 1
  fi
  sleep 1
done
cri=$(ctr plugins ls | awk '$1 == "io.containerd.grpc.v1" && $2 == "cri" { print $NF }')
if [ "$cri" != ok ]; then
  echo "hakube: containerd's CRI plugin is \${cri:-missing}, not ok: kubelet cannot use containerd" >&2
  journalctl -u containerd.service -n 30 --no-pager >&2 || true
  exit 1
fi
echo "hakube: $(containerd --version), CRI plugin ok"
`;
}

/** Why cri-tools is installed on its own (a comment in the script). */
const CRICTL_NOTE = '# crictl (cri-tools): kubeadm packages no longer depend on it from 1.31 on; operators and hakube\'s checks use it';

/**
 * Add the Kubernetes repository (unless the packages come from a configured one), install kubelet, kubeadm and
 * kubectl at the pinned version, hold them, enable kubelet (it restarts in a loop until kubeadm configures it).
 * Packages already at the pinned version are left alone; a package at another version is an error — changing the
 * version of a running node is an upgrade (kubeadm upgrade, one minor release at a time, node drained), not node
 * preparation. Package manager work happens under hakube's host-wide package lock.
 */
export function renderKubePackagesScript(p: KubernetesPackages): string {
  const names = KUBERNETES_PACKAGES.join(' ');
  const head = `want=${sh(p.version)}
missing=()
wrong=()`;
  const mismatch = `if [ "\${#wrong[@]}" -gt 0 ]; then
  echo "hakube: installed at another version than $want: \${wrong[*]}" >&2
  echo "hakube: node preparation does not change the version of installed Kubernetes packages; upgrade with kubeadm (one minor release at a time, node drained) first" >&2
  exit 1
fi`;
  const enable = `systemctl enable kubelet.service >/dev/null 2>&1
echo "hakube: kubelet $(kubelet --version | awk '{ print $2 }'), kubeadm $(kubeadm version -o short), kubectl $want installed and held"`;
  if (p.osFamily === 'debian') {
    const proxy = p.proxy ? ` --proxy ${sh(p.proxy)}` : '';
    const repo = p.repoUrl
      ? `
# The Kubernetes repository: its own keyring, then the source list (written after the key, so apt never sees the
# repository without it).
keyring=${sh(NODE_PREP_PATHS.aptKeyring)}
source_list=${sh(NODE_PREP_PATHS.aptSource)}
repo_url=${sh(p.repoUrl)}
source_line=${sh(renderKubernetesAptSource(p.repoUrl).trimEnd())}
if [ ! -s "$keyring" ] || [ "$(cat "$source_list" 2>/dev/null)" != "$source_line" ]; then
${indent(renderPackageInstall({ apt: ['curl', 'gpg', 'ca-certificates'] }, '! command -v curl >/dev/null 2>&1 || ! command -v gpg >/dev/null 2>&1'))}
  tmp=$(mktemp -d)
  HAKUBE_CLEANUP+=("$tmp")
  curl -fsSL --retry 3${proxy} -o "$tmp/Release.key" "\${repo_url}Release.key"
  gpg --batch --homedir "$tmp" --dearmor -o "$tmp/keyring.gpg" "$tmp/Release.key"
  install -d -m 0755 "$(dirname "$keyring")"
  install -m 0644 "$tmp/keyring.gpg" "$keyring.hakube-new"
  mv -f "$keyring.hakube-new" "$keyring"
  printf '%s\\n' "$source_line" > "$source_list.hakube-new"
  chmod 0644 "$source_list.hakube-new"
  mv -f "$source_list.hakube-new" "$source_list"
  echo "hakube: added the Kubernetes repository $repo_url"
  repo_changed=1
fi`
      : '';
    return `export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -q -y -o DPkg::Lock::Timeout=600 "$@"; }
${head}
repo_changed=0
for pkg in ${names}; do
  status=$(dpkg-query -W -f="\\\${db:Status-Status} \\\${Version}" "$pkg" 2>/dev/null || true)
  case $status in
    "installed $want-"*) ;;
    installed\\ *) wrong+=("$pkg \${status#installed }") ;;
    *) missing+=("$pkg") ;;
  esac
done
${mismatch}
${repo}
${takePackageLock()}
if [ "\${#missing[@]}" -gt 0 ] || [ "$repo_changed" = 1 ]; then
  ${renderAptUpdate('  ')}
fi
if [ "\${#missing[@]}" -gt 0 ]; then
  pinned=()
  for pkg in "\${missing[@]}"; do
    version=$(apt-cache madison "$pkg" | awk -F'|' -v want="$want" '!found { gsub(/ /, "", $2); if (index($2, want "-") == 1) { print $2; found = 1 } }')
    if [ -z "$version" ]; then
      echo "hakube: $pkg $want is not in the configured repositories; they offer: $(apt-cache madison "$pkg" | awk -F'|' '{ gsub(/ /, "", $2); printf "%s ", $2 }')" >&2
      exit 1
    fi
    pinned+=("$pkg=$version")
  done
  apt_get install --no-install-recommends --allow-change-held-packages "\${pinned[@]}"
  echo "hakube: installed \${pinned[*]}"
else
  echo "hakube: ${names} already at $want"
fi
${CRICTL_NOTE}
if ! command -v crictl >/dev/null 2>&1; then
  apt_get install --no-install-recommends cri-tools
  echo "hakube: installed cri-tools ($(crictl --version))"
fi
apt-mark hold ${names} >/dev/null
flock -u 9
${enable}
`;
  }
  const exclude = p.repoUrl ? ' --disableexcludes=kubernetes' : '';
  const versionRegex = p.version.replace(/\./g, '\\.');
  return `${head}
want_re=${sh(versionRegex)}
for pkg in ${names}; do
  if rpm -q "$pkg" >/dev/null 2>&1; then
    version=$(rpm -q --qf '%{VERSION}' "$pkg")
    if [ "$version" != "$want" ]; then
      wrong+=("$pkg $version")
    fi
  else
    missing+=("$pkg")
  fi
done
${mismatch}
${takePackageLock()}${p.repoUrl ? `
if [ "$CHANGED" = 1 ]; then
  # ${NODE_PREP_PATHS.yumRepo} changed: drop the cached metadata of the old repository
  dnf clean expire-cache >/dev/null
fi` : ''}
if [ "\${#missing[@]}" -gt 0 ]; then
  pinned=()
  for pkg in "\${missing[@]}"; do
    pinned+=("$pkg-$want")
  done
  dnf install -y${exclude} "\${pinned[@]}"
  echo "hakube: installed \${pinned[*]}"
else
  echo "hakube: ${names} already at $want"
fi
${CRICTL_NOTE}
if ! command -v crictl >/dev/null 2>&1; then
  dnf install -y${exclude} cri-tools
  echo "hakube: installed cri-tools ($(crictl --version))"
fi
# Hold the versions with the versionlock plugin (built into dnf 5).
if ! dnf versionlock --help >/dev/null 2>&1; then
  dnf install -y python3-dnf-plugin-versionlock
fi
locked=$(dnf versionlock list 2>/dev/null || true)
for pkg in ${names}; do
  if ! grep -Eq "(^|:)$pkg-([0-9]+:)?$want_re-" <<<"$locked"; then
    dnf versionlock add${exclude} "$pkg-$want"
  fi
done
flock -u 9
${enable}
`;
}

function indent(text: string): string {
  return text.split('\n').map((line) => (line ? `  ${line}` : line)).join('\n');
}
