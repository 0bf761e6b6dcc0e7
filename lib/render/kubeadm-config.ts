/**
 * kubeadm configuration files, built as typed objects and printed with js-yaml.
 *
 * Versions (decided here, tested in test/kubeadm.test.ts):
 * - Kubernetes >= 1.31 → `kubeadm.k8s.io/v1beta4` (first shipped in kubeadm 1.31).
 * - Kubernetes 1.22 – 1.30 → `kubeadm.k8s.io/v1beta3` (first shipped in kubeadm 1.22).
 * - Anything older is rejected: it would need v1beta2, which hakube does not render (and kubeadm 1.27+ no
 *   longer reads), and those releases are long out of support.
 *
 * What differs between the two that this renderer emits: in v1beta4 every `extraArgs` (apiServer,
 * controllerManager, scheduler, etcd.local) and `nodeRegistration.kubeletExtraArgs` is a list of
 * `{ name, value }`; in v1beta3 they are string maps. Timeouts (moved to `timeouts` in v1beta4) are left at
 * kubeadm's defaults, so neither `apiServer.timeoutForControlPlane` nor `discovery.timeout` is emitted.
 *
 * Field names come from the upstream Go types (kubernetes/kubernetes
 * `cmd/kubeadm/app/apis/kubeadm/{v1beta3,v1beta4}/types.go`, kubelet `config/v1beta1/types.go`, kube-proxy
 * `config/v1alpha1/types.go`); every
 * rendered key is checked against the list in `test/kubeadm-api-fields.ts`.
 *
 * Output is stable: mapping keys are sorted (with `apiVersion` and `kind` first in each document) and
 * extra arguments are sorted by name. Lists the caller gives (SANs, endpoints, hashes) keep their order,
 * minus duplicates.
 *
 * The rendered InitConfiguration and JoinConfiguration contain the bootstrap token: treat them as secrets
 * (copy them as secret files, never inline them into a plan).
 */
import * as yaml from 'js-yaml';
import { isIP } from 'node:net';
import { TAINT_EFFECTS, checkExtraArgs, checkTaints, fail, isAbsolutePath, isHostname, isHttpUrl, isImageRepository, isPort } from '../validate.js';

// ---------------------------------------------------------------------------
// Versions

export type KubeadmApiVersion = 'kubeadm.k8s.io/v1beta4' | 'kubeadm.k8s.io/v1beta3';

/** Oldest Kubernetes minor (1.x) hakube renders kubeadm configuration for. */
export const MIN_KUBERNETES_MINOR = 22;
/** First Kubernetes minor (1.x) rendered with `kubeadm.k8s.io/v1beta4`. */
export const V1BETA4_MINOR = 31;

const WHERE = 'kubeadm config';
const VERSION = /^v?(\d+)\.(\d+)\.(\d+)$/;

/** Parse "1.31.2" or "v1.31.2"; throws a ValidationError for anything else or a release older than 1.22. */
function parseKubernetesVersion(version: string): { minor: number; normalized: string } {
  const match = typeof version === 'string' ? VERSION.exec(version) : null;
  if (!match) fail(WHERE, 'kubernetesVersion', version, 'must be a release version like "1.31.2" or "v1.31.2"');
  const [major, minor, patch] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (major !== 1) fail(WHERE, 'kubernetesVersion', version, 'is not a Kubernetes 1.x release');
  if (minor < MIN_KUBERNETES_MINOR) {
    fail(WHERE, 'kubernetesVersion', version, `is older than 1.${MIN_KUBERNETES_MINOR}.0, the first release with kubeadm.k8s.io/v1beta3`);
  }
  return { minor, normalized: `v${major}.${minor}.${patch}` };
}

/** The kubeadm config API version for a Kubernetes release: v1beta4 from 1.31, v1beta3 for 1.22 – 1.30. */
export function kubeadmApiVersion(kubernetesVersion: string): KubeadmApiVersion {
  return parseKubernetesVersion(kubernetesVersion).minor >= V1BETA4_MINOR ? 'kubeadm.k8s.io/v1beta4' : 'kubeadm.k8s.io/v1beta3';
}

/** "1.31.2" → "v1.31.2" (the form `ClusterConfiguration.kubernetesVersion` gets); validates like {@link kubeadmApiVersion}. */
export function normalizeKubernetesVersion(kubernetesVersion: string): string {
  return parseKubernetesVersion(kubernetesVersion).normalized;
}

// ---------------------------------------------------------------------------
// Inputs

/** Flag name (without dashes) → value, e.g. `{ "authorization-mode": "Node,RBAC" }`. */
export type ExtraArgs = Readonly<Record<string, string>>;

export interface ClusterConfigInput {
  /** Kubernetes release, "1.31.2" or "v1.31.2". Picks the kubeadm API version. */
  readonly kubernetesVersion: string;
  /** `ClusterConfiguration.clusterName`: the name in generated kubeconfig files. */
  readonly clusterName: string;
  /** "host:port" of the VIP or load balancer DNS name; IPv6 in brackets ("[fd00::100]:8443"). */
  readonly controlPlaneEndpoint: string;
  /** Extra API server certificate SANs (IPs or DNS names). The caller includes the endpoint host. */
  readonly certSANs: readonly string[];
  /** Pod network CIDR; "v4,v6" for dual stack. */
  readonly podSubnet: string;
  /** Service network CIDR; "v4,v6" for dual stack. */
  readonly serviceSubnet: string;
  /**
   * Service DNS domain.
   * @default kubeadm's ("cluster.local"; not emitted)
   */
  readonly dnsDomain?: string;
  /** Stacked etcd run by kubeadm on the control-plane nodes, or an external etcd cluster. */
  readonly etcd: EtcdInput;
  /** kube-apiserver flags (see {@link defaultControlPlaneArgs}). */
  readonly apiServerExtraArgs: ExtraArgs;
  /** kube-controller-manager flags. */
  readonly controllerManagerExtraArgs: ExtraArgs;
  /** kube-scheduler flags. */
  readonly schedulerExtraArgs: ExtraArgs;
  /**
   * Where kubeadm pulls the control plane, etcd, CoreDNS, kube-proxy and pause images from (an image mirror's
   * repository), e.g. "registry.example.com:5000/k8s".
   * @default kubeadm's (registry.k8s.io; not emitted)
   */
  readonly imageRepository?: string;
}

export type EtcdInput =
  | {
      readonly local: {
        /** Extra etcd server certificate SANs. @default [] */
        readonly serverCertSANs?: readonly string[];
        /** Extra etcd peer certificate SANs. @default [] */
        readonly peerCertSANs?: readonly string[];
        /** etcd flags. @default {} */
        readonly extraArgs?: ExtraArgs;
      };
    }
  | {
      readonly external: {
        /** Client URLs of every member, e.g. "https://10.0.0.11:2379". */
        readonly endpoints: readonly string[];
        /** Absolute paths on the control-plane hosts. */
        readonly caFile: string;
        readonly certFile: string;
        readonly keyFile: string;
      };
    };

/** What a taint does to pods that do not tolerate it. */
export type TaintEffect = (typeof TAINT_EFFECTS)[number];

/** A node taint, e.g. `{ key: 'gpu', value: 'true', effect: 'NoSchedule' }`. */
export interface TaintInput {
  /** Taint key, `[prefix/]name`. */
  readonly key: string;
  /** Taint value. @default none */
  readonly value?: string;
  readonly effect: TaintEffect;
}

/** containerd's CRI socket, the default `criSocket`. */
export const DEFAULT_CRI_SOCKET = 'unix:///run/containerd/containerd.sock';

export interface NodeRegistrationInput {
  /** Node name (lowercase RFC 1123). */
  readonly name: string;
  /** @default {@link DEFAULT_CRI_SOCKET} */
  readonly criSocket?: string;
  /**
   * Taints to register the node with. Absent: kubeadm's default (the control-plane taint on control-plane
   * nodes, none on workers). `[]`: explicitly no taints (emitted as `taints: []`).
   * @default kubeadm's default
   */
  readonly taints?: readonly TaintInput[];
  /** kubelet flags for this node only, e.g. `{ "node-ip": "10.0.0.11" }`. @default {} */
  readonly kubeletExtraArgs?: ExtraArgs;
}

export interface InitConfigInput {
  /** IP address this node's API server advertises. */
  readonly advertiseAddress: string;
  /** Port this node's API server listens on. */
  readonly bindPort: number;
  readonly nodeRegistration: NodeRegistrationInput;
  /** The join token kubeadm creates at init ("[a-z0-9]{6}.[a-z0-9]{16}") and its lifetime ("24h0m0s"; "0s" = never expires). */
  readonly bootstrapToken: { readonly token: string; readonly ttl: string };
}

export interface JoinConfigInput {
  /** "host:port" of the control-plane endpoint (VIP or LB). */
  readonly apiServerEndpoint: string;
  /** Bootstrap token. */
  readonly token: string;
  /** CA public key pins, "sha256:<64 hex>"; at least one (no unpinned discovery). */
  readonly caCertHashes: readonly string[];
  readonly nodeRegistration: NodeRegistrationInput;
  /** Set for a control-plane node: where its own API server listens. Absent for a worker. */
  readonly controlPlane?: { readonly advertiseAddress: string; readonly bindPort: number };
}

export interface KubeletConfigInput {
  /** Must match the container runtime's cgroup driver. @default 'systemd' */
  /** Only "systemd": the containerd configuration hakube writes uses the systemd cgroup driver too. @default "systemd" */
  readonly cgroupDriver?: 'systemd';
  /** Renew the kubelet client certificate through the API before it expires. @default true */
  readonly rotateCertificates?: boolean;
  /**
   * Request the kubelet serving certificate from the cluster CA (CSRs that someone must approve).
   * @default not emitted (kubelet default false: self-signed serving certificate)
   */
  readonly serverTLSBootstrap?: boolean;
  /** Fail instead of tuning kernel settings the kubelet needs. @default not emitted (false) */
  readonly protectKernelDefaults?: boolean;
  /** Pods per node. @default not emitted (110) */
  readonly maxPods?: number;
  /** Resources reserved for the OS, e.g. `{ cpu: "500m", memory: "512Mi" }`. @default not emitted */
  readonly systemReserved?: Readonly<Record<string, string>>;
  /** Resources reserved for Kubernetes daemons. @default not emitted */
  readonly kubeReserved?: Readonly<Record<string, string>>;
  /**
   * Hard eviction thresholds, e.g. `{ "memory.available": "200Mi" }`; `"0%"` turns a signal off (a node in a
   * container that shares its disk with the machine: `{ "nodefs.available": "0%", "imagefs.available": "0%" }`).
   * @default not emitted (kubelet defaults)
   */
  readonly evictionHard?: Readonly<Record<string, string>>;
  /**
   * Cgroup under which the kubelet puts the pods, e.g. "/kubelet" (a node inside a container, as kind does).
   * @default not emitted (the root cgroup)
   */
  readonly cgroupRoot?: string;
  /** Refuse to start while swap is on. @default not emitted (true) */
  readonly failSwapOn?: boolean;
  /**
   * Disk usage (percent) above which image garbage collection always runs; 81–100 (the low threshold stays at the
   * kubelet's 80). 100 keeps images until the disk is full (a node whose disk is the machine's).
   * @default not emitted (85)
   */
  readonly imageGCHighThresholdPercent?: number;
  /**
   * Account and limit pods' local ephemeral storage; false where the kubelet cannot read the root filesystem's
   * usage (e.g. rootless or nested containers).
   * @default not emitted (true)
   */
  readonly localStorageCapacityIsolation?: boolean;
}

/**
 * kube-proxy settings, rendered as a `KubeProxyConfiguration` (kubeproxy.config.k8s.io/v1alpha1) beside the init
 * configuration; kubeadm fills in the rest (cluster CIDR, kubeconfig) and stores it for every node's kube-proxy.
 */
export interface KubeProxyConfigInput {
  /** Proxy mode; "nftables" needs Kubernetes 1.31 or later. @default not emitted (kube-proxy's: "iptables") */
  readonly mode?: 'iptables' | 'nftables';
  /**
   * Connection tracking. `maxPerCore`: conntrack entries per CPU core kube-proxy sets as the node's limit; 0 leaves
   * the limit as it is (a node in a container cannot set it).
   * @default not emitted (kube-proxy's: 32768 per core)
   */
  readonly conntrack?: { readonly maxPerCore?: number };
  /**
   * iptables mode: `minSyncPeriod`, the least time between two rule syncs, e.g. "1s".
   * @default not emitted (kube-proxy's: "1s")
   */
  readonly iptables?: { readonly minSyncPeriod?: string };
}

// ---------------------------------------------------------------------------
// Secure defaults

export interface ControlPlaneArgs {
  readonly apiServer: Record<string, string>;
  readonly controllerManager: Record<string, string>;
  readonly scheduler: Record<string, string>;
}

/**
 * Control-plane flags hakube sets by default (seeds 000 and 001); the caller merges the user's overrides on top.
 *
 * - API server: `authorization-mode: Node,RBAC`, `enable-admission-plugins: NodeRestriction`,
 *   `profiling: "false"`. Seed 000 also lists NamespaceLifecycle, LimitRanger, ServiceAccount,
 *   DefaultStorageClass and ResourceQuota: those are in kube-apiserver's default-on set
 *   (kubernetes/kubernetes `pkg/kubeapiserver/options/plugins.go`, `DefaultOffAdmissionPlugins`), and
 *   `--enable-admission-plugins` only adds to that set, so repeating them changes nothing; only
 *   NodeRestriction, which is off by default, is named. `anonymous-auth` keeps its default (true): kubeadm's
 *   static-pod probes call `/livez`, `/readyz` without credentials, and RBAC still limits anonymous
 *   requests to those health endpoints.
 * - Controller manager and scheduler: `bind-address: 127.0.0.1` (their health ports only on loopback),
 *   `profiling: "false"`, leader election on with seed 001's timings (lease 15s, renew deadline 10s,
 *   retry period 2s).
 *
 * Returns fresh objects on every call.
 */
export function defaultControlPlaneArgs(): ControlPlaneArgs {
  const leaderElection = {
    'leader-elect': 'true',
    'leader-elect-lease-duration': '15s',
    'leader-elect-renew-deadline': '10s',
    'leader-elect-retry-period': '2s',
  };
  return {
    apiServer: {
      'authorization-mode': 'Node,RBAC',
      'enable-admission-plugins': 'NodeRestriction',
      profiling: 'false',
    },
    controllerManager: { 'bind-address': '127.0.0.1', profiling: 'false', ...leaderElection },
    scheduler: { 'bind-address': '127.0.0.1', profiling: 'false', ...leaderElection },
  };
}

// ---------------------------------------------------------------------------
// Rendered object types (the subset of the upstream API hakube emits)

type Args = Record<string, string> | Array<{ name: string; value: string }>;

interface Doc {
  apiVersion: string;
  kind: string;
  [key: string]: unknown;
}

interface Taint {
  key: string;
  value?: string;
  effect: TaintEffect;
}

interface NodeRegistrationOptions {
  name: string;
  criSocket: string;
  taints?: Taint[];
  kubeletExtraArgs?: Args;
}

interface APIEndpoint {
  advertiseAddress: string;
  bindPort: number;
}

// ---------------------------------------------------------------------------
// Renderers

const BOOTSTRAP_TOKEN = /^[a-z0-9]{6}\.[a-z0-9]{16}$/;
/** A Go duration of hours, minutes and whole seconds ("24h0m0s", "90m", "0s"). */
const DURATION = /^(?=\d)(\d+h)?(\d+m)?(\d+s)?$/;
const CA_CERT_HASH = /^sha256:[0-9a-f]{64}$/;
const CRI_SOCKET = /^unix:\/\/\/[A-Za-z0-9._/-]+$/;

/**
 * `kubeadm init --config`: InitConfiguration, ClusterConfiguration, KubeletConfiguration and, when `kubeProxy` sets
 * anything, KubeProxyConfiguration, as one multi-document YAML. kubeadm uploads the component configurations to the
 * cluster, and joining nodes take them from there.
 */
export function renderInitConfig(cluster: ClusterConfigInput, init: InitConfigInput, kubelet: KubeletConfigInput, kubeProxy?: KubeProxyConfigInput): string {
  const { normalized } = parseKubernetesVersion(cluster.kubernetesVersion);
  const apiVersion = kubeadmApiVersion(cluster.kubernetesVersion);
  const v4 = apiVersion === 'kubeadm.k8s.io/v1beta4';

  if (!BOOTSTRAP_TOKEN.test(init.bootstrapToken.token)) {
    // never echo the token itself
    fail(WHERE, 'bootstrapToken.token', '<redacted>', 'must match [a-z0-9]{6}.[a-z0-9]{16}');
  }
  if (!DURATION.test(init.bootstrapToken.ttl)) {
    fail(WHERE, 'bootstrapToken.ttl', init.bootstrapToken.ttl, 'must be a duration like "24h0m0s" ("0s" never expires)');
  }

  const initDoc: Doc = {
    apiVersion,
    kind: 'InitConfiguration',
    bootstrapTokens: [
      {
        token: init.bootstrapToken.token,
        ttl: init.bootstrapToken.ttl,
        usages: ['authentication', 'signing'],
        groups: ['system:bootstrappers:kubeadm:default-node-token'],
      },
    ],
    localAPIEndpoint: apiEndpoint('advertiseAddress', init.advertiseAddress, init.bindPort),
    nodeRegistration: nodeRegistration(init.nodeRegistration, v4),
  };

  const clusterDoc: Doc = {
    apiVersion,
    kind: 'ClusterConfiguration',
    clusterName: check(cluster.clusterName, isHostname(cluster.clusterName), 'clusterName', 'is not a lowercase RFC 1123 name'),
    kubernetesVersion: normalized,
    controlPlaneEndpoint: hostPort('controlPlaneEndpoint', cluster.controlPlaneEndpoint),
    networking: {
      podSubnet: cidrList('podSubnet', cluster.podSubnet),
      serviceSubnet: cidrList('serviceSubnet', cluster.serviceSubnet),
      ...(cluster.dnsDomain !== undefined
        ? { dnsDomain: check(cluster.dnsDomain, isHostname(cluster.dnsDomain), 'dnsDomain', 'is not a DNS domain') }
        : {}),
    },
    apiServer: {
      ...argsField(cluster.apiServerExtraArgs, v4, 'apiServerExtraArgs'),
      ...listField('certSANs', sans('certSANs', cluster.certSANs)),
    },
    controllerManager: argsField(cluster.controllerManagerExtraArgs, v4, 'controllerManagerExtraArgs'),
    scheduler: argsField(cluster.schedulerExtraArgs, v4, 'schedulerExtraArgs'),
    etcd: etcd(cluster.etcd, v4),
  };
  if (cluster.imageRepository !== undefined) {
    clusterDoc.imageRepository = check(
      cluster.imageRepository,
      isImageRepository(cluster.imageRepository),
      'imageRepository',
      'is not a registry path like "registry.example.com:5000/k8s"',
    );
  }

  const proxyDoc = kubeProxy === undefined ? undefined : kubeProxyDoc(kubeProxy, normalized);
  return [initDoc, clusterDoc, kubeletDoc(kubelet), ...(proxyDoc ? [proxyDoc] : [])].map(dump).join('---\n');
}

/** `kubeadm join --config`: one JoinConfiguration (a control-plane node when `join.controlPlane` is set). */
export function renderJoinConfig(kubernetesVersion: string, join: JoinConfigInput): string {
  const apiVersion = kubeadmApiVersion(kubernetesVersion);
  const v4 = apiVersion === 'kubeadm.k8s.io/v1beta4';
  if (!BOOTSTRAP_TOKEN.test(join.token)) fail(WHERE, 'token', '<redacted>', 'must match [a-z0-9]{6}.[a-z0-9]{16}');
  if (join.caCertHashes.length === 0) {
    fail(WHERE, 'caCertHashes', [], 'is empty: joining without pinning the cluster CA is unsafe');
  }
  for (const hash of join.caCertHashes) {
    if (!CA_CERT_HASH.test(hash)) fail(WHERE, 'caCertHashes', hash, 'must be "sha256:" and 64 lowercase hex digits');
  }
  const doc: Doc = {
    apiVersion,
    kind: 'JoinConfiguration',
    discovery: {
      bootstrapToken: {
        apiServerEndpoint: hostPort('apiServerEndpoint', join.apiServerEndpoint),
        token: join.token,
        caCertHashes: unique(join.caCertHashes),
      },
    },
    nodeRegistration: nodeRegistration(join.nodeRegistration, v4),
  };
  if (join.controlPlane) {
    doc.controlPlane = {
      localAPIEndpoint: apiEndpoint('controlPlane.advertiseAddress', join.controlPlane.advertiseAddress, join.controlPlane.bindPort),
    };
  }
  return dump(doc);
}

// ---------------------------------------------------------------------------
// Pieces

function kubeletDoc(k: KubeletConfigInput): Doc {
  const doc: Doc = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // kubeadm defaults these too; stated here so the security posture is visible in review
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true } },
    authorization: { mode: 'Webhook' },
    cgroupDriver: k.cgroupDriver ?? 'systemd',
    rotateCertificates: k.rotateCertificates ?? true,
  };
  checkKubeletSettings(WHERE, 'kubelet', k);
  if (k.serverTLSBootstrap !== undefined) doc.serverTLSBootstrap = k.serverTLSBootstrap;
  if (k.protectKernelDefaults !== undefined) doc.protectKernelDefaults = k.protectKernelDefaults;
  if (k.maxPods !== undefined) doc.maxPods = k.maxPods;
  if (k.cgroupRoot !== undefined) doc.cgroupRoot = k.cgroupRoot;
  if (k.failSwapOn !== undefined) doc.failSwapOn = k.failSwapOn;
  if (k.imageGCHighThresholdPercent !== undefined) doc.imageGCHighThresholdPercent = k.imageGCHighThresholdPercent;
  if (k.localStorageCapacityIsolation !== undefined) doc.localStorageCapacityIsolation = k.localStorageCapacityIsolation;
  for (const field of ['systemReserved', 'kubeReserved', 'evictionHard'] as const) {
    const map = k[field];
    if (map !== undefined && Object.keys(map).length > 0) doc[field] = { ...map };
  }
  return doc;
}

/** The KubeProxyConfiguration document, or undefined when `p` sets nothing. */
function kubeProxyDoc(p: KubeProxyConfigInput, kubernetesVersion: string): Doc | undefined {
  checkKubeProxySettings(WHERE, 'kubeProxy', p, kubernetesVersion);
  const doc: Doc = { apiVersion: 'kubeproxy.config.k8s.io/v1alpha1', kind: 'KubeProxyConfiguration' };
  if (p.mode !== undefined) doc.mode = p.mode;
  if (p.conntrack?.maxPerCore !== undefined) doc.conntrack = { maxPerCore: p.conntrack.maxPerCore };
  if (p.iptables?.minSyncPeriod !== undefined) doc.iptables = { minSyncPeriod: p.iptables.minSyncPeriod };
  return Object.keys(doc).length > 2 ? doc : undefined;
}

function nodeRegistration(n: NodeRegistrationInput, v4: boolean): NodeRegistrationOptions {
  const out: NodeRegistrationOptions = {
    name: check(n.name, isHostname(n.name), 'nodeRegistration.name', 'is not a lowercase RFC 1123 name'),
    criSocket: check(
      n.criSocket ?? DEFAULT_CRI_SOCKET,
      CRI_SOCKET.test(n.criSocket ?? DEFAULT_CRI_SOCKET),
      'nodeRegistration.criSocket',
      'must be a unix:/// socket path',
    ),
  };
  if (n.taints !== undefined) {
    checkTaints(WHERE, 'nodeRegistration.taints', n.taints);
    out.taints = n.taints.map((t) => {
      return t.value !== undefined && t.value !== '' ? { key: t.key, value: t.value, effect: t.effect } : { key: t.key, effect: t.effect };
    });
  }
  const args = argsField(n.kubeletExtraArgs ?? {}, v4, 'nodeRegistration.kubeletExtraArgs');
  if (args.extraArgs) out.kubeletExtraArgs = args.extraArgs;
  return out;
}

function etcd(e: EtcdInput, v4: boolean): object {
  if ('local' in e && 'external' in e) fail(WHERE, 'etcd', Object.keys(e), 'must be either local or external, not both');
  if ('local' in e) {
    const l = e.local;
    return {
      local: {
        ...argsField(l.extraArgs ?? {}, v4, 'etcd.local.extraArgs'),
        ...listField('serverCertSANs', sans('etcd.local.serverCertSANs', l.serverCertSANs ?? [])),
        ...listField('peerCertSANs', sans('etcd.local.peerCertSANs', l.peerCertSANs ?? [])),
      },
    };
  }
  const x = e.external;
  if (x.endpoints.length === 0) fail(WHERE, 'etcd.external.endpoints', [], 'is empty');
  for (const url of x.endpoints) {
    if (!isHttpUrl(url)) fail(WHERE, 'etcd.external.endpoints', url, 'is not an http(s) URL');
  }
  for (const key of ['caFile', 'certFile', 'keyFile'] as const) {
    if (!isAbsolutePath(x[key])) fail(WHERE, `etcd.external.${key}`, x[key], 'must be an absolute path');
  }
  return { external: { endpoints: unique(x.endpoints), caFile: x.caFile, certFile: x.certFile, keyFile: x.keyFile } };
}

/** `{ extraArgs }` in the version's shape, or `{}` when there are none. Sorted by flag name. */
function argsField(args: ExtraArgs, v4: boolean, prop: string): { extraArgs?: Args } {
  checkExtraArgs(WHERE, prop, args);
  const names = Object.keys(args).sort();
  if (names.length === 0) return {};
  return {
    extraArgs: v4
      ? names.map((name) => ({ name, value: args[name] }))
      : Object.fromEntries(names.map((name) => [name, args[name]])),
  };
}

function listField(key: string, values: string[]): Record<string, string[]> {
  return values.length > 0 ? { [key]: values } : {};
}

/** SANs: IP addresses or DNS names (a leading "*." wildcard allowed), deduplicated, order kept. */
function sans(prop: string, values: readonly string[]): string[] {
  for (const value of values) {
    const dns = value.startsWith('*.') ? value.slice(2) : value;
    if (isIP(value) === 0 && !isHostname(dns)) fail(WHERE, prop, value, 'is neither an IP address nor a DNS name');
  }
  return unique(values);
}

function apiEndpoint(prop: string, address: string, port: number): APIEndpoint {
  if (isIP(address) === 0) fail(WHERE, prop, address, 'is not an IP address');
  if (!isPort(port)) fail(WHERE, prop.replace(/advertiseAddress$/, 'bindPort'), port, 'is not a port');
  return { advertiseAddress: address, bindPort: port };
}

/** "host:port" with a DNS name, IPv4 or bracketed IPv6 host. */
function hostPort(prop: string, value: string): string {
  const match = typeof value === 'string' ? /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value) : null;
  const host = match?.[1] ?? match?.[2];
  const ok =
    match !== null &&
    host !== undefined &&
    isPort(Number(match[3])) &&
    (match[1] !== undefined ? isIP(match[1]) === 6 : isIP(host) === 4 || isHostname(host));
  if (!ok) fail(WHERE, prop, value, 'must be "host:port" (an IPv6 host in brackets)');
  return value;
}

/** One CIDR, or two comma-separated (dual stack). */
function cidrList(prop: string, value: string): string {
  const parts = typeof value === 'string' ? value.split(',') : [];
  const ok =
    parts.length >= 1 &&
    parts.length <= 2 &&
    parts.every((part) => {
      const m = /^([^/]+)\/(\d{1,3})$/.exec(part);
      const family = m ? isIP(m[1]) : 0;
      return family !== 0 && Number(m![2]) <= (family === 4 ? 32 : 128);
    });
  if (!ok) fail(WHERE, prop, value, 'must be a CIDR, or an IPv4 and an IPv6 CIDR separated by a comma');
  return value;
}

function check<T>(value: T, ok: boolean, prop: string, why: string): T {
  if (!ok) fail(WHERE, prop, value, why);
  return value;
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** Keys sorted at every level, `apiVersion` and `kind` first. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  const rank = (k: string) => (k === 'apiVersion' ? 0 : k === 'kind' ? 1 : 2);
  entries.sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
}

function dump(doc: Doc): string {
  return yaml.dump(sortKeys(doc), { noRefs: true, lineWidth: -1, sortKeys: false });
}

/** The kubelet's default `imageGCLowThresholdPercent`: the high threshold must stay above it. */
export const KUBELET_IMAGE_GC_LOW_THRESHOLD_PERCENT = 80;

/**
 * Kubelet settings: the systemd cgroup driver only, a positive pod limit, resource and eviction-signal names with
 * quantities (`"0%"` included), a cgroup path, an image GC threshold the kubelet accepts, booleans.
 */
export function checkKubeletSettings(where: string, prop: string, kubelet: KubeletConfigInput | undefined): void {
  if (kubelet === undefined) return;
  if (typeof kubelet !== 'object' || kubelet === null || Array.isArray(kubelet)) fail(where, prop, kubelet, 'must be an object of kubelet settings');
  if (kubelet.cgroupDriver !== undefined && kubelet.cgroupDriver !== 'systemd') {
    fail(where, `${prop}.cgroupDriver`, kubelet.cgroupDriver, 'must be "systemd" (containerd is configured with SystemdCgroup = true)');
  }
  if (kubelet.maxPods !== undefined && (!Number.isInteger(kubelet.maxPods) || kubelet.maxPods < 1)) {
    fail(where, `${prop}.maxPods`, kubelet.maxPods, 'must be a positive integer');
  }
  for (const field of ['systemReserved', 'kubeReserved', 'evictionHard'] as const) {
    for (const [key, value] of Object.entries(kubelet[field] ?? {})) {
      // resource names (cpu, hugepages-2Mi) and eviction signals (memory.available, nodefs.inodesFree)
      if (!/^[A-Za-z0-9]([A-Za-z0-9./-]*[A-Za-z0-9])?$/.test(key)) fail(where, `${prop}.${field}`, key, 'is not a resource or signal name');
      if (typeof value !== 'string' || !/^[0-9A-Za-z.%+-]+$/.test(value)) fail(where, `${prop}.${field}.${key}`, value, 'is not a quantity');
    }
  }
  if (kubelet.cgroupRoot !== undefined && (typeof kubelet.cgroupRoot !== 'string' || !/^\/([A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*)?$/.test(kubelet.cgroupRoot))) {
    fail(where, `${prop}.cgroupRoot`, kubelet.cgroupRoot, 'is not a cgroup path like "/kubelet"');
  }
  const high = kubelet.imageGCHighThresholdPercent;
  if (high !== undefined && (!Number.isInteger(high) || high <= KUBELET_IMAGE_GC_LOW_THRESHOLD_PERCENT || high > 100)) {
    fail(where, `${prop}.imageGCHighThresholdPercent`, high, `must be an integer from ${KUBELET_IMAGE_GC_LOW_THRESHOLD_PERCENT + 1} to 100 (the kubelet refuses a value not above its low threshold, ${KUBELET_IMAGE_GC_LOW_THRESHOLD_PERCENT})`);
  }
  for (const field of ['failSwapOn', 'localStorageCapacityIsolation', 'serverTLSBootstrap', 'protectKernelDefaults', 'rotateCertificates'] as const) {
    if (kubelet[field] !== undefined && typeof kubelet[field] !== 'boolean') fail(where, `${prop}.${field}`, kubelet[field], 'must be true or false');
  }
}

/** A Go duration of whole units ("1s", "500ms", "1m30s", "0s"). */
const GO_DURATION = /^(\d+(ms|s|m|h))+$/;

/**
 * kube-proxy settings: mode iptables or nftables (nftables from Kubernetes 1.31, where it is on by default), a
 * conntrack limit per core of 0 or more, a duration for iptables.minSyncPeriod (iptables mode only).
 */
export function checkKubeProxySettings(where: string, prop: string, proxy: KubeProxyConfigInput | undefined, kubernetesVersion: string): void {
  if (proxy === undefined) return;
  if (typeof proxy !== 'object' || proxy === null || Array.isArray(proxy)) fail(where, prop, proxy, 'must be an object of kube-proxy settings');
  const mode = proxy.mode ?? 'iptables';
  if (mode !== 'iptables' && mode !== 'nftables') fail(where, `${prop}.mode`, proxy.mode, 'must be "iptables" or "nftables"');
  const minor = Number(/^v?1\.(\d+)\./.exec(kubernetesVersion)?.[1] ?? NaN);
  if (mode === 'nftables' && !(minor >= 31)) {
    fail(where, `${prop}.mode`, proxy.mode, `needs Kubernetes 1.31 or later (kube-proxy's nftables mode is off by default before), not ${kubernetesVersion}`);
  }
  const maxPerCore = proxy.conntrack?.maxPerCore;
  if (maxPerCore !== undefined && (!Number.isInteger(maxPerCore) || maxPerCore < 0 || maxPerCore > 2 ** 31 - 1)) {
    fail(where, `${prop}.conntrack.maxPerCore`, maxPerCore, 'must be an integer of 0 or more (0: leave the node\'s conntrack limit as it is)');
  }
  const minSync = proxy.iptables?.minSyncPeriod;
  if (minSync !== undefined) {
    if (typeof minSync !== 'string' || !GO_DURATION.test(minSync)) fail(where, `${prop}.iptables.minSyncPeriod`, minSync, 'must be a duration like "1s" or "500ms"');
    if (mode !== 'iptables') fail(where, `${prop}.iptables.minSyncPeriod`, minSync, 'applies to mode "iptables" only (kube-proxy ignores it in nftables mode)');
  }
}
