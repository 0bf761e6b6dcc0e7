import { sh } from '../shell.js';

/** Where hakube keeps its kubeadm inputs on a host. */
export const KUBERNETES_PATHS = {
  adminConf: '/etc/kubernetes/admin.conf',
  kubeletConf: '/etc/kubernetes/kubelet.conf',
  initConfig: '/etc/kubernetes/hakube/kubeadm-init.yaml',
  joinConfig: '/etc/kubernetes/hakube/kubeadm-join.yaml',
  bootstrapToken: '/etc/kubernetes/hakube/bootstrap-token',
  cniManifest: '/etc/kubernetes/hakube/cni.yaml',
  cniExtra: '/etc/kubernetes/hakube/cni-installation.yaml',
} as const;

const KUBECTL = `kubectl --kubeconfig=${KUBERNETES_PATHS.adminConf}`;

/** Give root a kubeconfig (seed 002's `$HOME/.kube/config`) once the node has admin credentials. */
const ROOT_KUBECONFIG = `install -d -m 0700 /root/.kube
if ! cmp -s ${KUBERNETES_PATHS.adminConf} /root/.kube/config; then
  install -m 0600 ${KUBERNETES_PATHS.adminConf} /root/.kube/config
fi`;

/** A note that configuration changes do not reach a running control plane (there is no reconfigure path yet). */
const ALREADY = (what: string) =>
  `echo "hakube: ${what}; nothing to do (hakube does not reconfigure or upgrade a running node yet)"`;

/**
 * `kubeadm init` on the first control-plane host, only while `/etc/kubernetes/admin.conf` does not exist: the CA
 * files placed before it are reused by kubeadm, so every certificate chains to the operator-side CA.
 */
export function renderKubeadmInitScript(): string {
  return `if [ -f ${KUBERNETES_PATHS.adminConf} ]; then
  ${ALREADY('the cluster is initialised (admin.conf exists)')}
else
  echo "hakube: kubeadm init"
  kubeadm init --config=${KUBERNETES_PATHS.initConfig}
fi
${ROOT_KUBECONFIG}
`;
}

/**
 * Make sure the plan's bootstrap token exists in the cluster: kubeadm deletes it when its TTL runs out, so a node
 * added a month later would not be able to join. `joiners` are listed so that adding a node changes this step and
 * it runs again before that node joins.
 */
export function renderBootstrapTokenScript(ttl: string, joiners: readonly string[]): string {
  return `# nodes that join with this token: ${joiners.join(' ')}
token=$(cat ${KUBERNETES_PATHS.bootstrapToken})
if kubeadm token list --kubeconfig=${KUBERNETES_PATHS.adminConf} | awk 'NR > 1 { print $1 }' | grep -qxF "$token"; then
  echo "hakube: bootstrap token ${'$'}{token%%.*} is present"
else
  kubeadm token create "$token" --ttl=${sh(ttl)} --kubeconfig=${KUBERNETES_PATHS.adminConf} >/dev/null
  echo "hakube: bootstrap token ${'$'}{token%%.*} created (ttl ${ttl})"
fi
`;
}

/** `kubeadm join` (worker or control plane), only while the node has no kubelet credentials yet. */
export function renderKubeadmJoinScript(controlPlane: boolean): string {
  return `if [ -f ${KUBERNETES_PATHS.kubeletConf} ]; then
  ${ALREADY('this node has joined (kubelet.conf exists)')}
else
  echo "hakube: kubeadm join${controlPlane ? ' (control plane)' : ''}"
  kubeadm join --config=${KUBERNETES_PATHS.joinConfig}
fi
${controlPlane ? ROOT_KUBECONFIG : ''}`.trimEnd() + '\n';
}

/** Apply the CNI manifest (and calico's Installation resource) with the admin kubeconfig; `apply` is idempotent. */
export function renderCniScript(plugin: 'flannel' | 'calico', manifest: string): string {
  const source = manifest.startsWith('http') ? sh(manifest) : KUBERNETES_PATHS.cniManifest;
  const apply =
    plugin === 'calico'
      ? `${KUBECTL} apply --server-side --force-conflicts -f ${source}
${KUBECTL} wait --for=condition=Established --timeout=120s crd/installations.operator.tigera.io
${KUBECTL} apply -f ${KUBERNETES_PATHS.cniExtra}`
      : `${KUBECTL} apply -f ${source}`;
  return `echo "hakube: applying the ${plugin} network add-on"
${apply}
`;
}
