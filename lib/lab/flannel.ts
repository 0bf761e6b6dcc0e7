import { isHostname, isIpAddress, isPort } from '../validate.js';
import yaml from 'js-yaml';

/**
 * The lab's pod network: flanneld with its `host-gw` backend (a route per node to the node's pod subnet — the lab
 * hosts share one bridge) and the standard `bridge` + `host-local` + `portmap` CNI plugins, configured by a small
 * sidecar from the subnet flanneld leased. Flannel's own CNI plugin (which does the same translation) is not served
 * by the Go module proxy, so it cannot be built here; the plugins the sidecar names come from the kubernetes-cni
 * package. The manifest is written for the public image name; a cluster with an image mirror rewrites it.
 */

/** Inputs of the lab's flannel manifest. */
export interface LabFlannelOptions {
  /** flannel image holding `flanneld` and a shell (`sh`). */
  readonly image: string;
  /** The cluster's pod network (kubeadm `podSubnet`), split by kube-controller-manager into one /24 per node. */
  readonly podSubnet: string;
  /** Interface flanneld uses between nodes. @default the interface of the default route */
  readonly iface?: string;
  /**
   * The API servers' endpoint (`host:port`, e.g. the cluster's VIP) flanneld talks to instead of the `kubernetes`
   * Service: the Service's address works only once kube-proxy programmed it on the node, and until then flanneld
   * exits ("dial tcp 10.96.0.1:443") and waits out a growing restart back-off with the node NotReady.
   * @default the `kubernetes` Service
   */
  readonly apiServer?: string;
}

/** Namespace of the lab's flannel. */
export const LAB_FLANNEL_NAMESPACE = 'kube-flannel';
/** The CNI configuration file the sidecar writes on each node. */
export const LAB_CNI_CONFIG_PATH = '/etc/cni/net.d/10-hakube-flannel.conflist';

/**
 * Sidecar: wait for flanneld's lease (/run/flannel/subnet.env), write the bridge conflist for it, and keep it right
 * (the lease survives restarts, so this normally writes once). host-local wants the network address of the node's
 * /24, flanneld writes the gateway address (`10.244.1.1/24`).
 */
export function cniConfigScript(): string {
  return `set -eu
conf=${LAB_CNI_CONFIG_PATH}
while true; do
  if [ -s /run/flannel/subnet.env ]; then
    . /run/flannel/subnet.env
    case "$FLANNEL_SUBNET" in
      */24) ;;
      *) echo "hakube: node subnet $FLANNEL_SUBNET is not a /24 (kube-controller-manager --node-cidr-mask-size)" >&2; exit 1 ;;
    esac
    address=\${FLANNEL_SUBNET%/24}
    subnet=\${address%.*}.0/24
    want='{"cniVersion":"1.0.0","name":"hakube-flannel","plugins":[{"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":false,"hairpinMode":true,"mtu":'"$FLANNEL_MTU"',"ipam":{"type":"host-local","ranges":[[{"subnet":"'"$subnet"'"}]],"routes":[{"dst":"0.0.0.0/0"}]}},{"type":"portmap","capabilities":{"portMappings":true}}]}'
    if [ "$(cat "$conf" 2>/dev/null || true)" != "$want" ]; then
      printf '%s' "$want" > "$conf.tmp"
      mv "$conf.tmp" "$conf"
      echo "hakube: wrote $conf for $subnet"
    fi
  fi
  sleep 5
done
`;
}

/** client-go's in-cluster address variables, pointing at `host:port`. */
function apiServerEnv(apiServer: string | undefined): Array<{ name: string; value: string }> {
  if (apiServer === undefined) return [];
  const match = /^(.+):(\d+)$/.exec(apiServer);
  if (!match || !isPort(Number(match[2])) || (!isIpAddress(match[1]) && !isHostname(match[1]))) {
    throw new Error(`lab flannel: apiServer ${JSON.stringify(apiServer)} is not host:port`);
  }
  return [
    { name: 'KUBERNETES_SERVICE_HOST', value: match[1] },
    { name: 'KUBERNETES_SERVICE_PORT', value: match[2] },
  ];
}

/** The manifest (namespace, RBAC, config, DaemonSet) as one YAML stream. Pure. */
export function labFlannelManifest(o: LabFlannelOptions): string {
  const labels = { app: 'flannel', 'k8s-app': 'flannel' };
  const hostPath = (name: string, path: string, type: string) => ({ name, hostPath: { path, type } });
  const docs = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: LAB_FLANNEL_NAMESPACE, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'flannel', namespace: LAB_FLANNEL_NAMESPACE } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'flannel' },
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'flannel' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'flannel' },
      subjects: [{ kind: 'ServiceAccount', name: 'flannel', namespace: LAB_FLANNEL_NAMESPACE }],
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'kube-flannel-cfg', namespace: LAB_FLANNEL_NAMESPACE, labels },
      data: { 'net-conf.json': JSON.stringify({ Network: o.podSubnet, Backend: { Type: 'host-gw' } }) },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'kube-flannel-ds', namespace: LAB_FLANNEL_NAMESPACE, labels },
      spec: {
        selector: { matchLabels: { app: 'flannel' } },
        template: {
          metadata: { labels },
          spec: {
            hostNetwork: true,
            priorityClassName: 'system-node-critical',
            serviceAccountName: 'flannel',
            tolerations: [{ operator: 'Exists' }],
            containers: [
              {
                name: 'kube-flannel',
                image: o.image,
                command: ['flanneld'],
                args: ['--ip-masq', '--kube-subnet-mgr', ...(o.iface ? [`--iface=${o.iface}`] : [])],
                env: [
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  ...apiServerEnv(o.apiServer),
                ],
                resources: { requests: { cpu: '50m', memory: '32Mi' } },
                securityContext: { privileged: false, capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } },
                volumeMounts: [
                  { name: 'run', mountPath: '/run/flannel' },
                  { name: 'flannel-cfg', mountPath: '/etc/kube-flannel/' },
                  { name: 'xtables-lock', mountPath: '/run/xtables.lock' },
                ],
              },
              {
                name: 'cni-config',
                image: o.image,
                command: ['sh', '-c', cniConfigScript()],
                resources: { requests: { cpu: '5m', memory: '8Mi' } },
                volumeMounts: [
                  { name: 'run', mountPath: '/run/flannel', readOnly: true },
                  { name: 'cni', mountPath: '/etc/cni/net.d' },
                ],
              },
            ],
            volumes: [
              hostPath('run', '/run/flannel', 'DirectoryOrCreate'),
              hostPath('cni', '/etc/cni/net.d', 'DirectoryOrCreate'),
              { name: 'flannel-cfg', configMap: { name: 'kube-flannel-cfg' } },
              hostPath('xtables-lock', '/run/xtables.lock', 'FileOrCreate'),
            ],
          },
        },
      },
    },
  ];
  return docs.map((doc) => yaml.dump(doc, { lineWidth: -1, noRefs: true })).join('---\n');
}
