/** The configuration files node preparation places: containerd, crictl, kernel modules and sysctls, package sources. */
import type { StepFile } from '../plan/step.js';
import { KUBERNETES_KERNEL_MODULES, KUBERNETES_SYSCTLS, NODE_PREP_PATHS } from './node-prep-options.js';

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
