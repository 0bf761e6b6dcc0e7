import { type GoArtifact, type GoRecipe, buildGoRecipe, wrapperModuleDir } from './go-module.js';

/**
 * The Kubernetes release the lab builds (pinned in go/kubernetes/go.mod): the newest 1.34 patch the Go module proxy
 * serves. 1.34 is the newest minor whose kubelet runs on the lab's cgroup v1 hosts without overrides (1.35 refuses
 * cgroup v1 unless `failCgroupV1: false`) and with Debian 12's containerd 1.6. See docs/notes/kubernetes-artifacts.md.
 */
export const KUBERNETES_VERSION = '1.34.12';
/** When v1.34.12 was published (the proxy's `.info` time): the build date stamped into the binaries, so they are reproducible. */
const KUBERNETES_BUILD_DATE = '2026-09-23T17:08:30Z';

/** The commands kubeadm, the kubelet and the control plane need. */
export const KUBERNETES_COMMANDS = ['kubeadm', 'kubelet', 'kubectl', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy'] as const;

/**
 * The version stamps `kubeadm version` / `kubelet --version` print and kubeadm compares (a missing gitMajor makes
 * kubeadm fall back to a placeholder version), in both packages that carry them.
 */
export function kubernetesVersionLdflags(version: string = KUBERNETES_VERSION): string {
  const [major, minor] = version.split('.');
  const stamps = { gitVersion: `v${version}`, gitMajor: major, gitMinor: minor, gitTreeState: 'clean', buildDate: KUBERNETES_BUILD_DATE };
  const flags = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) =>
    Object.entries(stamps).map(([key, value]) => `-X ${pkg}.${key}=${value}`),
  );
  return ['-s', '-w', ...flags].join(' ');
}

/** Kubernetes' commands from the wrapper module `go/kubernetes` that ships with hakube. */
export function kubernetesRecipe(): GoRecipe {
  return {
    name: `kubernetes-v${KUBERNETES_VERSION}`,
    moduleDir: wrapperModuleDir('kubernetes'),
    // the tags Kubernetes' own release build uses for these commands
    commands: KUBERNETES_COMMANDS.map((name) => ({ name, pkg: `k8s.io/kubernetes/cmd/${name}`, tags: 'selinux,notest,grpcnotrace', ldflags: kubernetesVersionLdflags() })),
    coldNotice: 'building Kubernetes from the Go module proxy; a cold build takes tens of minutes on 2 cores (each link needs about 2 GB)',
  };
}

/** Build Kubernetes' commands (or take them from the machine-wide cache). */
export function buildKubernetes(): Promise<GoArtifact> {
  return buildGoRecipe(kubernetesRecipe());
}
