/**
 * The host scripts of node preparation's steps (preflight, OS settings, containerd, the Kubernetes packages): their
 * bash is in lib/scripts/; these functions give each its inputs.
 */
import { hostScript } from '../shell.js';
import { KUBERNETES_KERNEL_MODULES, KUBERNETES_PACKAGES, KUBERNETES_SYSCTLS, NODE_PREP_PATHS, type KubernetesPackages, type NodeRole, type OsFamily } from './node-prep-options.js';
import { renderKubernetesAptSource } from './node-prep-files.js';

/** What the preflight script checks on a host (read-only: it changes nothing). */
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

/** Read-only checks before anything changes, all problems reported together (lib/scripts/preflight.sh). */
export function renderPreflightScript(c: PreflightConfig): string {
  return hostScript(
    {
      host: c.hostName,
      role: c.role,
      os_family: c.osFamily,
      min_cpus: c.minCpus,
      min_memory_mb: c.minMemoryMb,
      ports: c.ports,
      allow_hostname_mismatch: c.allowHostnameMismatch,
      kubelet_kubeconfig: NODE_PREP_PATHS.kubeletKubeconfig,
    },
    'preflight.sh',
  );
}

/** Swap off, kernel modules and parameters, SELinux permissive (rhel), the package proxy (lib/scripts/os-prep.sh). */
export function renderOsPrepScript(osFamily: OsFamily, proxy?: string): string {
  return hostScript(
    {
      os_family: osFamily,
      modules: KUBERNETES_KERNEL_MODULES,
      sysctls: Object.entries(KUBERNETES_SYSCTLS).map(([key, value]) => `${key}=${value}`),
      sysctl_file: NODE_PREP_PATHS.sysctl,
      proxy: proxy ?? '',
      apt_proxy_file: NODE_PREP_PATHS.aptProxy,
    },
    'os-prep.sh',
  );
}

export interface ContainerdInstallConfig {
  readonly osFamily: OsFamily;
  readonly packageName: string;
  /** rhel: .repo file fetched while the package is not installed and no docker-ce.repo exists. */
  readonly repoFileUrl?: string;
  readonly proxy?: string;
}

/** Install containerd, restart it when its configuration changed, wait for its CRI plugin (lib/scripts/containerd.sh). */
export function renderContainerdScript(c: ContainerdInstallConfig): string {
  return hostScript(
    {
      os_family: c.osFamily,
      containerd_package: c.packageName,
      containerd_config: NODE_PREP_PATHS.containerdConfig,
      containerd_applied: NODE_PREP_PATHS.containerdApplied,
      repo_file_url: c.osFamily === 'rhel' ? (c.repoFileUrl ?? '') : '',
      repo_file: NODE_PREP_PATHS.containerdYumRepo,
      // only the repository file's download uses it
      proxy: c.osFamily === 'rhel' && c.repoFileUrl ? (c.proxy ?? '') : '',
    },
    'packages.sh',
    'services.sh',
    'containerd.sh',
  );
}

/**
 * kubelet, kubeadm and kubectl at the pinned version, held, kubelet enabled; a package at another version is an
 * error (lib/scripts/kube-packages-debian.sh, kube-packages-rhel.sh).
 */
export function renderKubePackagesScript(p: KubernetesPackages): string {
  if (p.osFamily === 'debian') {
    return hostScript(
      {
        want: p.version,
        packages: KUBERNETES_PACKAGES,
        repo_url: p.repoUrl ?? '',
        keyring: NODE_PREP_PATHS.aptKeyring,
        source_list: NODE_PREP_PATHS.aptSource,
        source_line: p.repoUrl ? renderKubernetesAptSource(p.repoUrl).trimEnd() : '',
        // only the repository key's download uses it
        proxy: p.repoUrl ? (p.proxy ?? '') : '',
      },
      'packages.sh',
      'kube-packages-debian.sh',
    );
  }
  return hostScript(
    {
      want: p.version,
      want_re: p.version.replace(/\./g, '\\.'),
      packages: KUBERNETES_PACKAGES,
      repo_file: p.repoUrl ? NODE_PREP_PATHS.yumRepo : '',
    },
    'packages.sh',
    'kube-packages-rhel.sh',
  );
}
