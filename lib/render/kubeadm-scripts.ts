import { sh } from '../shell.js';

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

const KUBECTL = `kubectl --kubeconfig=${KUBERNETES_PATHS.adminConf}`;

/** Give root a kubeconfig (seed 002's `$HOME/.kube/config`) once the node has admin credentials. */
const ROOT_KUBECONFIG = `install -d -m 0700 /root/.kube
if ! cmp -s ${KUBERNETES_PATHS.adminConf} /root/.kube/config; then
  install -m 0600 ${KUBERNETES_PATHS.adminConf} /root/.kube/config
fi`;

/**
 * Run a kubeadm command once: skipped when its marker exists; when an earlier attempt stopped half-way (kubeadm
 * had already written files), the node is reset and this step's files are placed again before the retry.
 */
function once(marker: string, what: string, command: string): string {
  return `if [ -f ${marker} ]; then
  echo "hakube: ${what} already done; nothing to do (hakube does not reconfigure or upgrade a running node yet)"
else
  if [ -e ${KUBERNETES_PATHS.adminConf} ] || [ -e ${KUBERNETES_PATHS.kubeletConf} ] || [ -n "$(ls -A /etc/kubernetes/manifests 2>/dev/null)" ]; then
    echo "hakube: an earlier ${what} did not finish; resetting this node before trying again"
    kubeadm reset --force
    hakube_place_all
  fi
  echo "hakube: ${what}"
  ${command}
  touch ${marker}
fi`;
}

/**
 * `kubeadm init` on the first control-plane host, once: the CA files placed before it are reused by kubeadm, so
 * every certificate chains to the operator-side CA. The join command kubeadm would print carries the token, so it
 * is not printed.
 */
export function renderKubeadmInitScript(): string {
  return `${once(KUBERNETES_PATHS.initDone, 'kubeadm init', `kubeadm init --config=${KUBERNETES_PATHS.initConfig} --skip-token-print`)}
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
tokens=$(kubeadm token list --kubeconfig=${KUBERNETES_PATHS.adminConf} | awk 'NR > 1 { print $1 }')
if grep -qxF "$token" <<<"$tokens"; then
  echo "hakube: bootstrap token ${'$'}{token%%.*} is present"
else
  kubeadm token create "$token" --ttl=${sh(ttl)} --kubeconfig=${KUBERNETES_PATHS.adminConf} >/dev/null
  echo "hakube: bootstrap token ${'$'}{token%%.*} created (ttl ${ttl})"
fi
`;
}

/** `kubeadm join` (worker or control plane), once. */
export function renderKubeadmJoinScript(controlPlane: boolean): string {
  const what = controlPlane ? 'kubeadm join (control plane)' : 'kubeadm join';
  return `${once(KUBERNETES_PATHS.joinDone, what, `kubeadm join --config=${KUBERNETES_PATHS.joinConfig}`)}
${controlPlane ? ROOT_KUBECONFIG : ''}`.trimEnd() + '\n';
}

/**
 * Apply the CNI manifest (and calico's Installation resource) with the admin kubeconfig; `apply` is idempotent.
 * `url` undefined: the manifest is the file the step placed at `cniManifest`.
 */
export function renderCniScript(plugin: 'flannel' | 'calico', url: string | undefined): string {
  const source = url !== undefined ? sh(url) : KUBERNETES_PATHS.cniManifest;
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
