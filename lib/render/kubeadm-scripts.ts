import { hostScript } from '../shell.js';

/** Where hakube keeps its kubeadm inputs on a host. */
export const KUBERNETES_PATHS = {
  adminConf: '/etc/kubernetes/admin.conf',
  kubeletConf: '/etc/kubernetes/kubelet.conf',
  initConfig: '/etc/kubernetes/hakube/kubeadm-init.yaml',
  joinConfig: '/etc/kubernetes/hakube/kubeadm-join.yaml',
  bootstrapToken: '/etc/kubernetes/hakube/bootstrap-token',
  /** Written once `kubeadm init` / `join` finished: kubeadm writes admin.conf and kubelet.conf long before it is done. */
  initDone: '/etc/kubernetes/hakube/init.done',
  joinDone: '/etc/kubernetes/hakube/join.done',
  cniManifest: '/etc/kubernetes/hakube/cni.yaml',
  cniExtra: '/etc/kubernetes/hakube/cni-installation.yaml',
} as const;

/** The inputs of lib/scripts/kubeadm.sh. */
const KUBEADM_INPUTS = { admin_conf: KUBERNETES_PATHS.adminConf, kubelet_conf: KUBERNETES_PATHS.kubeletConf };

/**
 * `kubeadm init` on the first control-plane host, once; a half-finished init is reset first; root gets a kubeconfig
 * (lib/scripts/kubeadm-init.sh).
 */
export function renderKubeadmInitScript(): string {
  return hostScript({ ...KUBEADM_INPUTS, init_config: KUBERNETES_PATHS.initConfig, init_done: KUBERNETES_PATHS.initDone }, 'kubeadm.sh', 'kubeadm-init.sh');
}

/**
 * Make sure the plan's bootstrap token exists in the cluster (kubeadm deletes it when its TTL runs out). `joiners`
 * are an input so that adding a node changes this step and it runs again before that node joins
 * (lib/scripts/bootstrap-token.sh).
 */
export function renderBootstrapTokenScript(ttl: string, joiners: readonly string[]): string {
  return hostScript({ token_file: KUBERNETES_PATHS.bootstrapToken, admin_conf: KUBERNETES_PATHS.adminConf, ttl, joiners }, 'bootstrap-token.sh');
}

/** `kubeadm join` (worker or control plane), once (lib/scripts/kubeadm-join.sh). */
export function renderKubeadmJoinScript(controlPlane: boolean): string {
  return hostScript({ ...KUBEADM_INPUTS, join_config: KUBERNETES_PATHS.joinConfig, join_done: KUBERNETES_PATHS.joinDone, control_plane: controlPlane }, 'kubeadm.sh', 'kubeadm-join.sh');
}

/**
 * Apply the CNI manifest (and calico's Installation resource) with the admin kubeconfig (lib/scripts/cni.sh).
 * `url` undefined: the manifest is the file the step placed at `cniManifest`.
 */
export function renderCniScript(plugin: 'flannel' | 'calico', url: string | undefined): string {
  return hostScript(
    { plugin, manifest: url ?? KUBERNETES_PATHS.cniManifest, installation: KUBERNETES_PATHS.cniExtra, admin_conf: KUBERNETES_PATHS.adminConf },
    'cni.sh',
  );
}
