/** Node preparation's options: what a user sets, the defaults, and their validation (`resolveNodePrepOptions`). */
import { checkImageMirror, fail, isHttpUrl, isImageReference, isPackageName, isPort, isVersion } from '../validate.js';
import type { ContainerdRegistry } from './node-prep-files.js';
import { type ImageMirror, mirrorRegistryHost } from './image-mirror.js';

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

/**
 * Node preparation's settings that a control plane passes through (`ControlPlaneOptions.nodePrep`): all but the
 * Kubernetes version and the image mirror, which are the control plane's own.
 */
export interface NodePrepSettings {
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

/** Node preparation of a host: its settings, the Kubernetes version and an image mirror. */
export interface NodePrepOptions extends NodePrepSettings {
  /** Version of kubelet, kubeadm and kubectl, e.g. "1.31.2": the packages are pinned to it and held. */
  readonly kubernetesVersion: string;
  /**
   * The registry containerd pulls every image from (air-gapped sites): its hosts.toml (plain HTTP, or HTTPS with
   * the mirror's CA placed beside it) and the sandbox image's repository. `ControlPlane` sets it from its own
   * `imageMirror`.
   * @default none (images come from their own registries)
   */
  readonly imageMirror?: ImageMirror;
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
