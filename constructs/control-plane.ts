import { Construct, type IValidation } from 'constructs';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Host, assertUniqueHosts } from '../lib/inventory.js';
import { type PlanContributor, type StepFile, type StepSpec, addWarning } from '../lib/plan/index.js';
import { type SecretStore, secretStoreFor } from '../lib/pki/index.js';
import {
  BOOTSTRAP_TOKEN_FILE,
  KUBEADM_PKI_DIR,
  OPERATOR_KUBECONFIG_FILE,
  type KubernetesPkiFiles,
  ensureBootstrapToken,
  ensureKubernetesPki,
  ensureOperatorKubeconfig,
  kubeadmPkiStepFiles,
  storedCaCertHash,
} from '../lib/pki/kubernetes.js';
import { type ImageMirror, mirrorRegistryHost, rewriteManifestImages } from '../lib/render/image-mirror.js';
import {
  type ExtraArgs,
  type KubeProxyConfigInput,
  type KubeletConfigInput,
  type TaintInput,
  checkKubeProxySettings,
  checkKubeletSettings,
  defaultControlPlaneArgs,
  renderInitConfig,
  renderJoinConfig,
} from '../lib/render/kubeadm-config.js';
import {
  KUBERNETES_PATHS,
  renderBootstrapTokenScript,
  renderCniScript,
  renderKubeadmInitScript,
  renderKubeadmJoinScript,
} from '../lib/render/kubeadm-scripts.js';
import { nodePrepSteps } from '../lib/render/node-prep.js';
import { DEFAULT_REQUIRED_PORTS, type NodePrepOptions, type NodePrepSettings, type NodeRole, resolveNodePrepOptions } from '../lib/render/node-prep-options.js';
import {
  checkExtraArgs,
  checkImageMirror,
  checkKubernetesVersion,
  checkTaints,
  type Ipv4Cidr,
  fail,
  ipv4CidrsOverlap,
  isHostname,
  isHttpUrl,
  isIpAddress,
  isIpv4InSubnet,
  isPort,
  joinHostPort,
  parseIpv4Cidr,
  problem,
} from '../lib/validate.js';
import yaml from 'js-yaml';
import { EtcdCluster } from './etcd-cluster.js';
import { LoadBalancerVip } from './load-balancer-vip.js';

/** The address clients use for the API servers when it is not a `LoadBalancerVip` of this app. */
export interface ExternalEndpoint {
  /** IP address or DNS name of the load balancer. */
  readonly address: string;
  /** Its port. @default 6443 */
  readonly port?: number;
}

/** The pod network add-on applied once after `kubeadm init`. */
export interface CniProps {
  /** Which add-on. @default "flannel" */
  readonly plugin?: 'flannel' | 'calico';
  /**
   * Manifest to apply: an http(s) URL the first control-plane host can fetch, or a file on the operator's machine
   * (copied to the host; use this for air-gapped sites). For calico, the tigera-operator manifest. With an
   * `imageMirror` it must be a file: its `image:` fields are pointed at the mirror.
   * @default the add-on's upstream release manifest
   */
  readonly manifest?: string;
}

export const FLANNEL_MANIFEST = 'https://github.com/flannel-io/flannel/releases/download/v0.26.1/kube-flannel.yml';
export const CALICO_OPERATOR_MANIFEST = 'https://raw.githubusercontent.com/projectcalico/calico/v3.28.2/manifests/tigera-operator.yaml';
/** flannel's manifest configures this pod network unless edited. */
const FLANNEL_POD_SUBNET = '10.244.0.0/16';

/** What a control plane is configured with, as `HaCluster` passes it through: everything but its hosts, endpoint, etcd, name and secrets. */
export interface ControlPlaneOptions {
  /** Kubernetes version, e.g. "1.34.2": a release of a supported minor (1.31 to 1.34, kubeadm API v1beta4). */
  readonly kubernetesVersion: string;
  /**
   * Let a `kubernetesVersion` outside the supported minors through (1.22 or later), with a warning. Untested: for
   * trying a newer release before hakube supports it, or keeping an old cluster running.
   * @default false
   */
  readonly allowUnsupportedKubernetesVersion?: boolean;
  /** Pod network (IPv4 CIDR). @default "10.244.0.0/16" (flannel's) */
  readonly podSubnet?: string;
  /** Service network (IPv4 CIDR). @default "10.96.0.0/12" */
  readonly serviceSubnet?: string;
  /** More names and addresses for the API server certificate (the endpoint is always in it). @default [] */
  readonly certSANs?: string[];
  /** API server flags, merged over hakube's secure defaults (`Node,RBAC`, `NodeRestriction`, profiling off). @default {} */
  readonly apiServerExtraArgs?: Record<string, string>;
  /** Controller-manager flags, merged over the defaults (127.0.0.1, leader election 15s/10s/2s, profiling off). @default {} */
  readonly controllerManagerExtraArgs?: Record<string, string>;
  /** Scheduler flags, merged over the defaults (127.0.0.1, leader election 15s/10s/2s, profiling off). @default {} */
  readonly schedulerExtraArgs?: Record<string, string>;
  /** Kubelet configuration. @default systemd cgroup driver, certificate rotation on */
  readonly kubelet?: KubeletConfigInput;
  /** Taints of the control-plane nodes. @default kubeadm's `node-role.kubernetes.io/control-plane:NoSchedule` */
  readonly taints?: TaintInput[];
  /** kube-proxy settings (a KubeProxyConfiguration in the init configuration). @default kube-proxy's defaults (iptables mode) */
  readonly kubeProxy?: KubeProxyConfigInput;
  /** Node preparation: package sources and proxies (air-gapped sites), OS family, preflight limits. @default pkgs.k8s.io, Debian */
  readonly nodePrep?: NodePrepSettings;
  /** Pod network add-on. @default flannel from its upstream manifest */
  readonly cni?: CniProps;
  /**
   * One registry for every image the cluster pulls (air-gapped sites): kubeadm's `imageRepository` (control plane,
   * etcd, CoreDNS, kube-proxy), containerd's sandbox image and registry settings on every node (worker pools too),
   * and the CNI manifest's images (`cni.manifest` must then be a file). Replaces the former `imageRepository` prop.
   * @default none: images come from registry.k8s.io and the CNI's own registries
   */
  readonly imageMirror?: ImageMirror;
  /** Lifetime of the bootstrap token; it is re-created before joins when it expired. @default "24h0m0s" */
  readonly bootstrapTokenTtl?: string;
}

/** A control plane: its hosts, its API endpoint and etcd, and the settings of `ControlPlaneOptions`. */
export interface ControlPlaneProps extends ControlPlaneOptions {
  /** Control-plane hosts: an odd number (1 is allowed for development, with a warning). The first runs `kubeadm init`. */
  readonly hosts: Host[];
  /** Where clients reach the API servers: a `LoadBalancerVip` (the control plane adds itself as its backends) or an external load balancer. */
  readonly endpoint: LoadBalancerVip | ExternalEndpoint;
  /** Cluster name (kubeadm `clusterName`, step ids, secrets dir). @default the construct id */
  readonly clusterName?: string;
  /** Operator-side directory for the cluster PKI and bootstrap token. @default ".hakube/<clusterName>" */
  readonly secretsDir?: string;
  /** `"stacked"`: kubeadm runs etcd on the control-plane hosts; or an `EtcdCluster` of this app (external etcd). @default "stacked" */
  readonly etcd?: 'stacked' | EtcdCluster;
}

const API_SERVER_PORT = 6443;

/**
 * An HA Kubernetes control plane made with kubeadm. Everything that crosses hosts is decided at plan time — the
 * cluster CAs and service-account key (placed on every control-plane host before `kubeadm init`/`join`, so kubeadm
 * reuses them), the bootstrap token and the CA hash joins pin — so no step waits on another host's output.
 * Control-plane joins run one at a time after init (concurrent joins race in etcd); worker pools join in parallel.
 */
export class ControlPlane extends Construct implements PlanContributor {
  /** The control-plane hosts; the first runs `kubeadm init`, the others join one at a time. */
  readonly hosts: readonly Host[];
  /** Kubernetes version of every node (kubeadm, kubelet, kubectl and the control-plane images). */
  readonly kubernetesVersion: string;
  /** The cluster's name (kubeadm's `clusterName`, step ids `k8s-<clusterName>/…`). */
  readonly clusterName: string;
  /** Operator-side directory of the cluster's PKI, bootstrap token and admin kubeconfig. */
  readonly secretsDir: string;
  /** `host:port` every node and client uses (`controlPlaneEndpoint`). */
  readonly endpoint: string;
  /** `"stacked"` (kubeadm's local etcd on the control-plane hosts) or the external cluster. */
  readonly etcd: 'stacked' | EtcdCluster;
  /** The pod network (CIDR). */
  readonly podSubnet: string;
  /** The service network (CIDR). */
  readonly serviceSubnet: string;
  /** Extra subject alternative names of the API server certificate (the endpoint's address is always one). */
  readonly certSANs: readonly string[];
  /** Node preparation of every node of the cluster (the control plane's version and image mirror included). */
  readonly nodePrep: NodePrepOptions;
  /**
   * Absolute path of the operator's admin kubeconfig (`<secretsDir>/kubernetes/admin.conf`, 0600), pointing at the
   * endpoint; written when the plan is made (`Plan.of`), usable once the cluster is up: `kubectl --kubeconfig <path>`.
   */
  readonly adminKubeconfig: string;
  private readonly props: ControlPlaneProps;
  private readonly loadBalancer?: LoadBalancerVip;
  private readonly store: SecretStore;
  private readonly joiners: Array<{ host: Host; pool: string }> = [];
  private readonly where: string;
  private pkiFiles?: Promise<KubernetesPkiFiles>;
  /** The CA's public-key pin every join carries, once per plan (parsing the CA for each of thousands of joins adds up). */
  private caCertHash?: string;
  /** Text of the CNI manifest when it is a file (images pointed at the mirror when there is one). */
  private readonly cniManifest?: string;

  constructor(scope: Construct, id: string, props: ControlPlaneProps) {
    super(scope, id);
    const where = `ControlPlane ${this.node.path}`;
    this.where = where;
    this.props = props;
    const hosts = props.hosts ?? [];
    if (hosts.length === 0) fail(where, 'hosts', 0, 'is empty: a control plane needs at least one host');
    assertUniqueHosts(where, hosts);
    const twice = hosts.find((h, i) => hosts.indexOf(h) !== i);
    if (twice) fail(where, 'hosts', twice.name, 'is listed twice');
    if (hosts.length % 2 === 0) {
      fail(where, 'hosts', hosts.length, `is an even count: with stacked etcd ${hosts.length} members tolerate no more failures than ${hosts.length - 1}, and leader election gains nothing; use ${hosts.length - 1} or ${hosts.length + 1}`);
    }
    if (hosts.length === 1) addWarning(this, 'a single control-plane host is a single point of failure: fine for development, not for HA');
    this.hosts = Object.freeze([...hosts]);

    const version = checkKubernetesVersion(where, 'kubernetesVersion', props.kubernetesVersion, props.allowUnsupportedKubernetesVersion);
    this.kubernetesVersion = version.version;
    if (version.warning) addWarning(this, version.warning);
    // every prop that reaches a kubeadm or kubelet file is checked here, before anything is written
    checkTaints(where, 'taints', props.taints);
    checkExtraArgs(where, 'apiServerExtraArgs', props.apiServerExtraArgs);
    checkExtraArgs(where, 'controllerManagerExtraArgs', props.controllerManagerExtraArgs);
    checkExtraArgs(where, 'schedulerExtraArgs', props.schedulerExtraArgs);
    checkKubeletSettings(where, 'kubelet', props.kubelet);
    checkKubeProxySettings(where, 'kubeProxy', props.kubeProxy, this.kubernetesVersion);
    const removed = (props as { imageRepository?: unknown }).imageRepository;
    if (removed !== undefined) {
      fail(where, 'imageRepository', removed, `was replaced by imageMirror: use imageMirror: { repository: ${JSON.stringify(removed)} }, which also points containerd's sandbox image and the CNI's images at it (cni.manifest must then be a file)`);
    }
    checkImageMirror(where, 'imageMirror', props.imageMirror);
    this.clusterName = props.clusterName ?? id;
    if (!isHostname(this.clusterName) || this.clusterName.includes('.')) fail(where, 'clusterName', this.clusterName, 'must be lowercase letters, digits and "-"');
    this.secretsDir = props.secretsDir ?? `.hakube/${this.clusterName}`;
    this.store = secretStoreFor(this, this.secretsDir);
    this.adminKubeconfig = this.store.path(OPERATOR_KUBECONFIG_FILE);

    // the endpoint, and the load balancer in front of the API servers
    let endpointHost: string;
    let endpointPort: number;
    if (props.endpoint instanceof LoadBalancerVip) {
      this.loadBalancer = props.endpoint;
      endpointHost = props.endpoint.vip;
      endpointPort = props.endpoint.port;
      for (const host of hosts) props.endpoint.addBackend({ name: host.name, address: host.internalAddress, port: API_SERVER_PORT });
    } else {
      const ext = props.endpoint;
      if (!ext || (!isIpAddress(ext.address) && !isHostname(ext.address))) fail(where, 'endpoint.address', ext?.address, 'is neither an IP address nor a DNS name');
      endpointHost = ext.address;
      endpointPort = ext.port ?? API_SERVER_PORT;
      if (!isPort(endpointPort)) fail(where, 'endpoint.port', endpointPort, 'is not a port (1-65535)');
    }
    this.endpoint = joinHostPort(endpointHost, endpointPort);
    this.certSANs = Object.freeze([...new Set([endpointHost, ...(props.certSANs ?? [])])]);
    for (const san of this.certSANs) if (!isIpAddress(san) && !isHostname(san)) fail(where, 'certSANs', san, 'is neither an IP address nor a DNS name');

    // networks
    this.podSubnet = props.podSubnet ?? FLANNEL_POD_SUBNET;
    this.serviceSubnet = props.serviceSubnet ?? '10.96.0.0/12';
    const pod = parseIpv4Cidr(this.podSubnet);
    const service = parseIpv4Cidr(this.serviceSubnet);
    if (!pod) fail(where, 'podSubnet', this.podSubnet, 'is not an IPv4 CIDR like "10.244.0.0/16"');
    if (!service) fail(where, 'serviceSubnet', this.serviceSubnet, 'is not an IPv4 CIDR like "10.96.0.0/12"');
    if (ipv4CidrsOverlap(pod, service)) fail(where, 'serviceSubnet', this.serviceSubnet, `overlaps podSubnet ${this.podSubnet}`);
    // worker pools' hosts are only known once the whole tree is built
    this.node.addValidation(new NodesOutsideClusterNetworks(() => [...this.hosts, ...this.joiners.map((j) => j.host)], [
      { name: 'pod', text: this.podSubnet, cidr: pod },
      { name: 'service', text: this.serviceSubnet, cidr: service },
    ]));
    for (const [network, cidr, text] of [['pod', pod, this.podSubnet], ['service', service, this.serviceSubnet]] as const) {
      if (isIpv4InSubnet(endpointHost, cidr)) fail(where, 'endpoint', endpointHost, `lies inside the ${network} network ${text}: clients would be routed into the cluster instead of to the API servers`);
    }

    // etcd
    this.etcd = props.etcd ?? 'stacked';
    if (this.etcd !== 'stacked' && !(this.etcd instanceof EtcdCluster)) fail(where, 'etcd', String(this.etcd), 'must be "stacked" or an EtcdCluster');
    this.node.addValidation(new NoStackedEtcdMember(this));
    if (this.etcd instanceof EtcdCluster) this.checkExternalEtcdVersion(this.etcd);

    // CNI
    const plugin = props.cni?.plugin ?? 'flannel';
    if (plugin !== 'flannel' && plugin !== 'calico') fail(where, 'cni.plugin', plugin, 'must be "flannel" or "calico"');
    const manifest = props.cni?.manifest;
    if (manifest !== undefined && !isHttpUrl(manifest) && !existsSync(resolve(manifest))) {
      fail(where, 'cni.manifest', manifest, 'is neither an http(s) URL nor an existing file');
    }
    const mirror = props.imageMirror;
    if (mirror && (manifest === undefined || isHttpUrl(manifest))) {
      const url = manifest ?? (plugin === 'flannel' ? FLANNEL_MANIFEST : CALICO_OPERATOR_MANIFEST);
      fail(where, 'cni.manifest', url, `is ${manifest === undefined ? 'the default, ' : ''}a URL, but with imageMirror set the site is air-gapped: download the manifest once (curl -fLO ${url}) and give the file as cni.manifest; hakube points its images at ${mirror.repository}`);
    }
    if (manifest !== undefined && !isHttpUrl(manifest)) {
      const text = readFileSync(resolve(manifest), 'utf8');
      try {
        this.cniManifest = mirror ? rewriteManifestImages(text, mirror.repository) : text;
      } catch (error) {
        fail(where, 'cni.manifest', manifest, `cannot be pointed at imageMirror ${mirror!.repository}: ${(error as Error).message}`);
      }
    }
    if (plugin === 'flannel' && manifest === undefined && this.podSubnet !== FLANNEL_POD_SUBNET) {
      fail(where, 'podSubnet', this.podSubnet, `differs from ${FLANNEL_POD_SUBNET}, the network flannel's upstream manifest configures: use that, calico, or your own flannel manifest (cni.manifest)`);
    }

    const ttl = props.bootstrapTokenTtl ?? '24h0m0s';
    if (!/^(\d+h)?(\d+m)?(\d+s)?$/.test(ttl) || ttl === '') fail(where, 'bootstrapTokenTtl', ttl, 'must be a duration like "24h0m0s"');
    this.nodePrep = {
      ...(props.nodePrep ?? {}),
      kubernetesVersion: this.kubernetesVersion,
      ...(props.imageMirror ? { imageMirror: props.imageMirror } : {}),
    };
    resolveNodePrepOptions(where, this.nodePrep); // fail now, with this construct's path, not at plan time
  }

  /** Id of the step after which the API server answers and the bootstrap token is valid: joins run after it. */
  get joinReadyStepId(): string {
    return `k8s-${this.clusterName}/bootstrap-token`;
  }

  /** Id of the step that runs `kubeadm init`. */
  get initStepId(): string {
    return `k8s-${this.clusterName}/${this.hosts[0].name}/init`;
  }

  /** Id of a host's step (`preflight`, `os`, `containerd`, `kube-packages`, `init` or `join`). */
  stepId(host: Host, action: string): string {
    return `k8s-${this.clusterName}/${host.name}/${action}`;
  }

  /** Called by `WorkerPool`: these hosts join as workers. */
  registerWorkers(pool: string, hosts: readonly Host[]): void {
    for (const host of hosts) {
      const clash = this.hosts.find((h) => h.name === host.name) ?? this.joiners.find((j) => j.host.name === host.name)?.host;
      if (clash) fail(this.where, 'workers', host.name, `is already a ${this.hosts.includes(clash) ? 'control-plane host' : 'worker'} of this cluster`);
      this.joiners.push({ host, pool });
    }
  }

  /** Steps that prepare a node (preflight, OS, containerd, Kubernetes packages). */
  nodePrepSteps(host: Host, role: NodeRole): StepSpec[] {
    // with external etcd, 2379/2380 are not the control plane's (and may be its co-located etcd's, as in Kubespray)
    const external = role === 'control-plane' && this.etcd !== 'stacked' && this.nodePrep.requiredPorts === undefined;
    const options = external
      ? { ...this.nodePrep, requiredPorts: DEFAULT_REQUIRED_PORTS['control-plane'].filter((p) => p !== 2379 && p !== 2380) }
      : this.nodePrep;
    return nodePrepSteps(host, role, options, `k8s-${this.clusterName}`);
  }

  /** The join step of a node (control plane when `controlPlane`), with its kubeadm JoinConfiguration as a secret file. */
  async joinStep(host: Host, options: { controlPlane: boolean; after: string[]; taints?: TaintInput[]; labels?: Record<string, string> }): Promise<StepSpec> {
    const pki = await this.pki();
    const token = ensureBootstrapToken(this.store);
    const config = renderJoinConfig(this.kubernetesVersion, {
      apiServerEndpoint: this.endpoint,
      token,
      caCertHashes: [(this.caCertHash ??= storedCaCertHash(this.store, pki.ca))],
      nodeRegistration: this.nodeRegistration(host, options.taints, options.labels),
      controlPlane: options.controlPlane ? { advertiseAddress: host.internalAddress, bindPort: API_SERVER_PORT } : undefined,
    });
    const stored = this.store.writeText(`kubernetes/kubeadm/${host.name}-join.yaml`, config);
    return {
      id: this.stepId(host, 'join'),
      host,
      title: `Join ${host.name} to ${this.clusterName} as a ${options.controlPlane ? 'control-plane node' : 'worker'}`,
      files: [
        ...(options.controlPlane ? await this.controlPlaneFiles(pki) : []),
        { path: KUBERNETES_PATHS.joinConfig, mode: '0600', secret: this.store.ref(stored) },
      ],
      script: renderKubeadmJoinScript(options.controlPlane),
      after: [this.stepId(host, 'kube-packages'), ...options.after],
    };
  }

  async planSteps(): Promise<StepSpec[]> {
    const pki = await this.pki();
    const token = ensureBootstrapToken(this.store);
    await ensureOperatorKubeconfig(this.store, pki, { name: this.clusterName, server: `https://${this.endpoint}` });
    const [first, ...others] = this.hosts;
    const ttl = this.props.bootstrapTokenTtl ?? '24h0m0s';
    const args = defaultControlPlaneArgs();
    const initConfig = renderInitConfig(
      {
        kubernetesVersion: this.kubernetesVersion,
        clusterName: this.clusterName,
        controlPlaneEndpoint: this.endpoint,
        certSANs: this.certSANs,
        podSubnet: this.podSubnet,
        serviceSubnet: this.serviceSubnet,
        etcd:
          this.etcd === 'stacked'
            ? { local: {} }
            : {
                external: {
                  endpoints: this.etcd.clientEndpoints,
                  caFile: `${KUBEADM_PKI_DIR}/etcd/ca.crt`,
                  certFile: `${KUBEADM_PKI_DIR}/apiserver-etcd-client.crt`,
                  keyFile: `${KUBEADM_PKI_DIR}/apiserver-etcd-client.key`,
                },
              },
        apiServerExtraArgs: merge(args.apiServer, this.props.apiServerExtraArgs),
        controllerManagerExtraArgs: merge(args.controllerManager, this.props.controllerManagerExtraArgs),
        schedulerExtraArgs: merge(args.scheduler, this.props.schedulerExtraArgs),
        imageRepository: this.props.imageMirror?.repository,
      },
      {
        advertiseAddress: first.internalAddress,
        bindPort: API_SERVER_PORT,
        nodeRegistration: this.nodeRegistration(first, this.props.taints),
        bootstrapToken: { token, ttl },
      },
      this.props.kubelet ?? {},
      this.props.kubeProxy,
    );
    const initStored = this.store.writeText(`kubernetes/kubeadm/${first.name}-init.yaml`, initConfig);
    const before = [
      ...(this.loadBalancer ? [this.loadBalancer.readyStepId] : []),
      ...(this.etcd instanceof EtcdCluster ? [this.etcd.readyStepId] : []),
    ];

    const steps: StepSpec[] = this.hosts.flatMap((h) => this.nodePrepSteps(h, 'control-plane'));
    steps.push({
      id: this.initStepId,
      host: first,
      title: `Initialise the control plane of ${this.clusterName} on ${first.name} (kubeadm init)`,
      files: [
        ...(await this.controlPlaneFiles(pki)),
        { path: KUBERNETES_PATHS.initConfig, mode: '0600', secret: this.store.ref(initStored) },
      ],
      script: renderKubeadmInitScript(),
      after: [this.stepId(first, 'kube-packages'), ...before],
    });
    steps.push({
      id: this.joinReadyStepId,
      host: first,
      title: `Make sure the bootstrap token of ${this.clusterName} is valid for the joins`,
      files: [{ path: KUBERNETES_PATHS.bootstrapToken, mode: '0600', secret: this.store.ref(BOOTSTRAP_TOKEN_FILE) }],
      script: renderBootstrapTokenScript(ttl, [...others.map((h) => h.name), ...this.joiners.map((j) => j.host.name)].sort()),
      after: [this.initStepId],
    });
    steps.push(this.cniStep(first));
    // control-plane joins one at a time: each adds an etcd member, and concurrent member additions race
    let previous = this.joinReadyStepId;
    for (const host of others) {
      const join = await this.joinStep(host, { controlPlane: true, after: [previous], taints: this.props.taints });
      steps.push(join);
      previous = join.id;
    }
    return steps;
  }

  private cniStep(first: Host): StepSpec {
    const plugin = this.props.cni?.plugin ?? 'flannel';
    const manifest = this.props.cni?.manifest ?? (plugin === 'flannel' ? FLANNEL_MANIFEST : CALICO_OPERATOR_MANIFEST);
    const files: StepFile[] = [];
    if (this.cniManifest !== undefined) files.push({ path: KUBERNETES_PATHS.cniManifest, mode: '0644', content: this.cniManifest });
    if (plugin === 'calico') {
      const installation = {
        apiVersion: 'operator.tigera.io/v1',
        kind: 'Installation',
        metadata: { name: 'default' },
        spec: {
          calicoNetwork: { ipPools: [{ cidr: this.podSubnet, encapsulation: 'VXLANCrossSubnet', natOutgoing: 'Enabled', nodeSelector: 'all()' }] },
          ...calicoRegistry(this.props.imageMirror),
        },
      };
      files.push({ path: KUBERNETES_PATHS.cniExtra, mode: '0644', content: yaml.dump(installation) });
    }
    return {
      id: `k8s-${this.clusterName}/cni`,
      host: first,
      title: `Apply the ${plugin} pod network to ${this.clusterName}`,
      files,
      script: renderCniScript(plugin, isHttpUrl(manifest) ? manifest : undefined),
      after: [this.initStepId],
    };
  }

  private nodeRegistration(host: Host, taints?: TaintInput[], labels?: Record<string, string>) {
    const kubeletExtraArgs: Record<string, string> = { 'node-ip': host.internalAddress };
    if (labels && Object.keys(labels).length > 0) {
      kubeletExtraArgs['node-labels'] = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(',');
    }
    return { name: host.name, taints, kubeletExtraArgs };
  }

  /** The cluster PKI, loaded (or created) once per plan even when thousands of joins need it. */
  private pki(): Promise<KubernetesPkiFiles> {
    this.pkiFiles ??= ensureKubernetesPki(this.store, this.clusterName);
    return this.pkiFiles;
  }

  /** The shared PKI for a control-plane host, plus the external etcd's CA and API-server client certificate. */
  private async controlPlaneFiles(pki: KubernetesPkiFiles): Promise<StepFile[]> {
    if (this.etcd === 'stacked') return kubeadmPkiStepFiles(this.store, pki, { etcd: 'stacked' });
    const client = await this.etcd.clientCertificate('apiserver-etcd-client', 'kube-apiserver-etcd-client');
    return [
      ...kubeadmPkiStepFiles(this.store, pki, { etcd: 'external' }),
      { path: `${KUBEADM_PKI_DIR}/etcd/ca.crt`, mode: '0644', secret: client.ca },
      { path: `${KUBEADM_PKI_DIR}/apiserver-etcd-client.crt`, mode: '0644', secret: client.certificate },
      { path: `${KUBEADM_PKI_DIR}/apiserver-etcd-client.key`, mode: '0600', secret: client.key },
    ];
  }

  /**
   * kubeadm's preflight refuses an external etcd older than its `MinExternalEtcdVersion` (3.5.24 for kubeadm
   * v1.34.12, 3.5.x for every supported minor). A release below 3.5 is an error; the distribution's package is a
   * warning, since its version is only known on the host — Debian 12's etcd-server is 3.4.23, which kubeadm refuses.
   */
  private checkExternalEtcdVersion(etcd: EtcdCluster): void {
    const install = etcd.install;
    if (install.from === 'distro') {
      addWarning(this, `external etcd ${etcd.node.path} installs the distribution's etcd (3.4.23 on Debian 12), which kubeadm's preflight refuses (v1.34.12 wants 3.5.24 or newer): give it install: { from: 'release', version: '3.6.5', sha256: … }`);
      return;
    }
    const [major, minor] = install.version.split('.').map(Number);
    if (major < 3 || (major === 3 && minor < 5)) {
      fail(this.where, 'etcd', `${etcd.node.path} (etcd ${install.version})`, `is older than 3.5, which kubeadm's preflight refuses for an external etcd (v1.34.12 wants 3.5.24 or newer): install a 3.5 or 3.6 release`);
    }
  }

  /** Stacked etcd listens on 2379/2380 of every control-plane host: no EtcdCluster may share those hosts. */
}

/**
 * Where the tigera operator pulls calico's images from: `<registry><imagePath>/<name>` (operator `ReplaceImagePath`
 * swaps the image's first path component, "calico", for imagePath), i.e. `<repository>/calico/node:…`, the name
 * `mirrorImage` gives docker.io/calico/node.
 */
function calicoRegistry(mirror: ImageMirror | undefined): { registry?: string; imagePath?: string } {
  if (!mirror) return {};
  const host = mirrorRegistryHost(mirror.repository);
  const path = mirror.repository.slice(host.length + 1);
  return { registry: `${host}/`, imagePath: path ? `${path}/calico` : 'calico' };
}

function merge(defaults: ExtraArgs, overrides: Record<string, string> | undefined): ExtraArgs {
  return { ...defaults, ...(overrides ?? {}) };
}

/** Rule: no node's address lies inside the pod or service network (its traffic would be routed into the cluster). */
class NodesOutsideClusterNetworks implements IValidation {
  constructor(
    private readonly nodes: () => readonly Host[],
    private readonly networks: ReadonlyArray<{ readonly name: string; readonly text: string; readonly cidr: Ipv4Cidr }>,
  ) {}
  validate(): string[] {
    return this.nodes().flatMap((h) =>
      this.networks
        .filter(({ cidr }) => isIpv4InSubnet(h.internalAddress, cidr) || isIpv4InSubnet(h.address, cidr))
        .map(({ name, text }) => problem('hosts', h.name, `(${h.internalAddress}) lies inside the ${name} network ${text}: its traffic would be routed into the cluster`)),
    );
  }
}

/** Rule: a host of a stacked-etcd control plane is no member of an EtcdCluster too (both would hold etcd's ports). */
class NoStackedEtcdMember implements IValidation {
  constructor(private readonly controlPlane: ControlPlane) {}
  validate(): string[] {
    const cp = this.controlPlane;
    if (cp.etcd !== 'stacked') return [];
    const names = new Set(cp.hosts.map((h) => h.name));
    return cp.node.root.node
      .findAll()
      .filter((c): c is EtcdCluster => c instanceof EtcdCluster)
      .flatMap((e) => e.members.filter((m) => names.has(m.name)).map((m) => problem('hosts', m.name, `runs stacked etcd for this control plane and is also a member of EtcdCluster ${e.node.path}: both would listen on ${e.clientPort}/${e.peerPort}; pass that cluster as \`etcd\` instead`)));
  }
}
