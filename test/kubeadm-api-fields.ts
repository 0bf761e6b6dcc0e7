/**
 * Allowed JSON field names of the configuration kinds hakube renders, per API version, taken from the json tags
 * of the upstream Go types (names only; embedded `json:",inline"` structs are flattened into their parent).
 *
 * Sources read:
 * - kubeadm.k8s.io/v1beta4: kubernetes/kubernetes `cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go`, stored blob
 *   of commit 1329935739c3aa007d23cb9a4dadfee9d59ff79b. No release tag could be resolved for it offline; its
 *   content is the v1.31/v1.32 release line (has `timeouts`, `encryptionAlgorithm` with ECDSA-P256 but not
 *   ECDSA-P384 (added in v1.34), `certificateValidityPeriod`; no `UpgradeConfiguration.plan.etcdUpgrade`
 *   (v1.33)). Later additions listed in the kubernetes.io v1beta4 reference (v1.35: `etcd.external.httpEndpoints`)
 *   are not here; hakube emits none of them.
 * - kubeadm.k8s.io/v1beta3: kubernetes/kubernetes `cmd/kubeadm/app/apis/kubeadm/v1beta3/types.go`, stored
 *   blob of commit 428c3fe9540a2cbe8daf4645879a87b30bbf1d02 (v1beta3 is frozen; the fields used are the same
 *   from v1.22 to its removal).
 * - BootstrapToken: kubernetes/kubernetes `cmd/kubeadm/app/apis/bootstraptoken/v1/types.go`
 *   (commit 2d350a359e7b251ffa047415af6bf64350f41888). Taint: k8s.io/api `core/v1` Taint.
 * - kubelet.config.k8s.io/v1beta1: kubernetes/kubelet `config/v1beta1/types.go` at tag v0.31.0
 *   (= Kubernetes v1.31.0; mirror of kubernetes/kubernetes `staging/src/k8s.io/kubelet/config/v1beta1/types.go`).
 * - kubeproxy.config.k8s.io/v1alpha1: kubernetes/kube-proxy `config/v1alpha1/types.go` at tag v0.31.0 (the Go
 *   module k8s.io/kube-proxy@v0.31.0, read from the module proxy).
 *
 * A field's value says what its value is:
 * - `null`: a scalar or a list of scalars;
 * - `MAP`: a map with free-form keys (`map[string]string` etc.);
 * - a type name: an object (or a list of objects) of that type, listed in the same table;
 * - `UNMODELLED`: a struct hakube never emits and this file does not describe; the field-name test fails if it
 *   appears, so whoever starts emitting it has to add its type here first.
 */

export const MAP = '<map>';
export const UNMODELLED = '<unmodelled>';

export type FieldType = null | typeof MAP | typeof UNMODELLED | string;
export type TypeTable = Readonly<Record<string, Readonly<Record<string, FieldType>>>>;

export interface ApiSchema {
  /** Top-level kinds of this apiVersion (each also a type in `types`). */
  readonly kinds: readonly string[];
  readonly types: TypeTable;
}

const TYPE_META = { apiVersion: null, kind: null } as const;

/** Types shared by both kubeadm versions. */
const KUBEADM_COMMON = {
  BootstrapToken: { token: null, description: null, ttl: null, expires: null, usages: null, groups: null },
  Taint: { key: null, value: null, effect: null, timeAdded: null },
  APIEndpoint: { advertiseAddress: null, bindPort: null },
  Networking: { serviceSubnet: null, podSubnet: null, dnsDomain: null },
  Etcd: { local: 'LocalEtcd', external: 'ExternalEtcd' },
  ExternalEtcd: { endpoints: null, caFile: null, certFile: null, keyFile: null },
  JoinControlPlane: { localAPIEndpoint: 'APIEndpoint', certificateKey: null },
  BootstrapTokenDiscovery: { token: null, apiServerEndpoint: null, caCertHashes: null, unsafeSkipCAVerification: null },
  FileDiscovery: { kubeConfigPath: null },
  HostPathMount: { name: null, hostPath: null, mountPath: null, readOnly: null, pathType: null },
  Patches: { directory: null },
} as const;

export const KUBEADM_V1BETA3: ApiSchema = {
  kinds: ['InitConfiguration', 'ClusterConfiguration', 'JoinConfiguration'],
  types: {
    ...KUBEADM_COMMON,
    InitConfiguration: {
      ...TYPE_META,
      bootstrapTokens: 'BootstrapToken',
      nodeRegistration: 'NodeRegistrationOptions',
      localAPIEndpoint: 'APIEndpoint',
      certificateKey: null,
      skipPhases: null,
      patches: 'Patches',
    },
    ClusterConfiguration: {
      ...TYPE_META,
      etcd: 'Etcd',
      networking: 'Networking',
      kubernetesVersion: null,
      controlPlaneEndpoint: null,
      apiServer: 'APIServer',
      controllerManager: 'ControlPlaneComponent',
      scheduler: 'ControlPlaneComponent',
      dns: 'DNS',
      certificatesDir: null,
      imageRepository: null,
      featureGates: MAP,
      clusterName: null,
    },
    ControlPlaneComponent: { extraArgs: MAP, extraVolumes: 'HostPathMount' },
    APIServer: { extraArgs: MAP, extraVolumes: 'HostPathMount', certSANs: null, timeoutForControlPlane: null },
    DNS: { imageRepository: null, imageTag: null },
    NodeRegistrationOptions: {
      name: null,
      criSocket: null,
      taints: 'Taint',
      kubeletExtraArgs: MAP,
      ignorePreflightErrors: null,
      imagePullPolicy: null,
    },
    LocalEtcd: { imageRepository: null, imageTag: null, dataDir: null, extraArgs: MAP, serverCertSANs: null, peerCertSANs: null },
    JoinConfiguration: {
      ...TYPE_META,
      nodeRegistration: 'NodeRegistrationOptions',
      caCertPath: null,
      discovery: 'Discovery',
      controlPlane: 'JoinControlPlane',
      skipPhases: null,
      patches: 'Patches',
    },
    Discovery: { bootstrapToken: 'BootstrapTokenDiscovery', file: 'FileDiscovery', tlsBootstrapToken: null, timeout: null },
  },
};

export const KUBEADM_V1BETA4: ApiSchema = {
  kinds: ['InitConfiguration', 'ClusterConfiguration', 'JoinConfiguration'],
  types: {
    ...KUBEADM_COMMON,
    InitConfiguration: {
      ...TYPE_META,
      bootstrapTokens: 'BootstrapToken',
      dryRun: null,
      nodeRegistration: 'NodeRegistrationOptions',
      localAPIEndpoint: 'APIEndpoint',
      certificateKey: null,
      skipPhases: null,
      patches: 'Patches',
      timeouts: 'Timeouts',
    },
    ClusterConfiguration: {
      ...TYPE_META,
      etcd: 'Etcd',
      networking: 'Networking',
      kubernetesVersion: null,
      controlPlaneEndpoint: null,
      apiServer: 'APIServer',
      controllerManager: 'ControlPlaneComponent',
      scheduler: 'ControlPlaneComponent',
      dns: 'DNS',
      proxy: 'Proxy',
      certificatesDir: null,
      imageRepository: null,
      featureGates: MAP,
      clusterName: null,
      encryptionAlgorithm: null,
      certificateValidityPeriod: null,
      caCertificateValidityPeriod: null,
    },
    ControlPlaneComponent: { extraArgs: 'Arg', extraVolumes: 'HostPathMount', extraEnvs: 'EnvVar' },
    APIServer: { extraArgs: 'Arg', extraVolumes: 'HostPathMount', extraEnvs: 'EnvVar', certSANs: null },
    DNS: { imageRepository: null, imageTag: null, disabled: null },
    Proxy: { disabled: null },
    NodeRegistrationOptions: {
      name: null,
      criSocket: null,
      taints: 'Taint',
      kubeletExtraArgs: 'Arg',
      ignorePreflightErrors: null,
      imagePullPolicy: null,
      imagePullSerial: null,
    },
    LocalEtcd: {
      imageRepository: null,
      imageTag: null,
      dataDir: null,
      extraArgs: 'Arg',
      extraEnvs: 'EnvVar',
      serverCertSANs: null,
      peerCertSANs: null,
    },
    JoinConfiguration: {
      ...TYPE_META,
      dryRun: null,
      nodeRegistration: 'NodeRegistrationOptions',
      caCertPath: null,
      discovery: 'Discovery',
      controlPlane: 'JoinControlPlane',
      skipPhases: null,
      patches: 'Patches',
      timeouts: 'Timeouts',
    },
    Discovery: { bootstrapToken: 'BootstrapTokenDiscovery', file: 'FileDiscovery', tlsBootstrapToken: null },
    Arg: { name: null, value: null },
    // corev1.EnvVar, inlined
    EnvVar: { name: null, value: null, valueFrom: UNMODELLED },
    Timeouts: {
      controlPlaneComponentHealthCheck: null,
      kubeletHealthCheck: null,
      kubernetesAPICall: null,
      etcdAPICall: null,
      tlsBootstrap: null,
      discovery: null,
      upgradeManifests: null,
    },
  },
};

/** Every top-level KubeletConfiguration field at v0.31.0; nested structs hakube emits are modelled. */
export const KUBELET_V1BETA1: ApiSchema = {
  kinds: ['KubeletConfiguration'],
  types: {
    KubeletConfiguration: {
      ...TYPE_META,
      enableServer: null,
      staticPodPath: null,
      podLogsDir: null,
      syncFrequency: null,
      fileCheckFrequency: null,
      httpCheckFrequency: null,
      staticPodURL: null,
      staticPodURLHeader: MAP,
      address: null,
      port: null,
      readOnlyPort: null,
      tlsCertFile: null,
      tlsPrivateKeyFile: null,
      tlsCipherSuites: null,
      tlsMinVersion: null,
      rotateCertificates: null,
      serverTLSBootstrap: null,
      authentication: 'KubeletAuthentication',
      authorization: 'KubeletAuthorization',
      registryPullQPS: null,
      registryBurst: null,
      eventRecordQPS: null,
      eventBurst: null,
      enableDebuggingHandlers: null,
      enableContentionProfiling: null,
      healthzPort: null,
      healthzBindAddress: null,
      oomScoreAdj: null,
      clusterDomain: null,
      clusterDNS: null,
      streamingConnectionIdleTimeout: null,
      nodeStatusUpdateFrequency: null,
      nodeStatusReportFrequency: null,
      nodeLeaseDurationSeconds: null,
      imageMinimumGCAge: null,
      imageMaximumGCAge: null,
      imageGCHighThresholdPercent: null,
      imageGCLowThresholdPercent: null,
      volumeStatsAggPeriod: null,
      kubeletCgroups: null,
      systemCgroups: null,
      cgroupRoot: null,
      cgroupsPerQOS: null,
      cgroupDriver: null,
      cpuManagerPolicy: null,
      cpuManagerPolicyOptions: MAP,
      cpuManagerReconcilePeriod: null,
      memoryManagerPolicy: null,
      topologyManagerPolicy: null,
      topologyManagerScope: null,
      topologyManagerPolicyOptions: MAP,
      qosReserved: MAP,
      runtimeRequestTimeout: null,
      hairpinMode: null,
      maxPods: null,
      podCIDR: null,
      podPidsLimit: null,
      resolvConf: null,
      runOnce: null,
      cpuCFSQuota: null,
      cpuCFSQuotaPeriod: null,
      nodeStatusMaxImages: null,
      maxOpenFiles: null,
      contentType: null,
      kubeAPIQPS: null,
      kubeAPIBurst: null,
      serializeImagePulls: null,
      maxParallelImagePulls: null,
      evictionHard: MAP,
      evictionSoft: MAP,
      evictionSoftGracePeriod: MAP,
      evictionPressureTransitionPeriod: null,
      evictionMaxPodGracePeriod: null,
      evictionMinimumReclaim: MAP,
      podsPerCore: null,
      enableControllerAttachDetach: null,
      protectKernelDefaults: null,
      makeIPTablesUtilChains: null,
      iptablesMasqueradeBit: null,
      iptablesDropBit: null,
      featureGates: MAP,
      failSwapOn: null,
      memorySwap: UNMODELLED,
      containerLogMaxSize: null,
      containerLogMaxFiles: null,
      containerLogMaxWorkers: null,
      containerLogMonitorInterval: null,
      configMapAndSecretChangeDetectionStrategy: null,
      systemReserved: MAP,
      kubeReserved: MAP,
      reservedSystemCPUs: null,
      showHiddenMetricsForVersion: null,
      systemReservedCgroup: null,
      kubeReservedCgroup: null,
      enforceNodeAllocatable: null,
      allowedUnsafeSysctls: null,
      volumePluginDir: null,
      providerID: null,
      kernelMemcgNotification: null,
      logging: UNMODELLED,
      enableSystemLogHandler: null,
      enableSystemLogQuery: null,
      shutdownGracePeriod: null,
      shutdownGracePeriodCriticalPods: null,
      shutdownGracePeriodByPodPriority: UNMODELLED,
      reservedMemory: UNMODELLED,
      enableProfilingHandler: null,
      enableDebugFlagsHandler: null,
      seccompDefault: null,
      memoryThrottlingFactor: null,
      registerWithTaints: UNMODELLED,
      registerNode: null,
      tracing: UNMODELLED,
      localStorageCapacityIsolation: null,
      containerRuntimeEndpoint: null,
      imageServiceEndpoint: null,
      failCgroupV1: null,
    },
    KubeletAuthentication: {
      x509: 'KubeletX509Authentication',
      webhook: 'KubeletWebhookAuthentication',
      anonymous: 'KubeletAnonymousAuthentication',
    },
    KubeletX509Authentication: { clientCAFile: null },
    KubeletWebhookAuthentication: { enabled: null, cacheTTL: null },
    KubeletAnonymousAuthentication: { enabled: null },
    KubeletAuthorization: { mode: null, webhook: 'KubeletWebhookAuthorization' },
    KubeletWebhookAuthorization: { cacheAuthorizedTTL: null, cacheUnauthorizedTTL: null },
  },
};

/** Every top-level KubeProxyConfiguration field at v0.31.0; nested structs hakube emits are modelled. */
export const KUBEPROXY_V1ALPHA1: ApiSchema = {
  kinds: ['KubeProxyConfiguration'],
  types: {
    KubeProxyConfiguration: {
      ...TYPE_META,
      featureGates: MAP,
      clientConnection: UNMODELLED,
      logging: UNMODELLED,
      hostnameOverride: null,
      bindAddress: null,
      healthzBindAddress: null,
      metricsBindAddress: null,
      bindAddressHardFail: null,
      enableProfiling: null,
      showHiddenMetricsForVersion: null,
      mode: null,
      iptables: 'KubeProxyIPTablesConfiguration',
      ipvs: UNMODELLED,
      nftables: 'KubeProxyNFTablesConfiguration',
      winkernel: UNMODELLED,
      detectLocalMode: null,
      detectLocal: UNMODELLED,
      clusterCIDR: null,
      nodePortAddresses: null,
      oomScoreAdj: null,
      conntrack: 'KubeProxyConntrackConfiguration',
      configSyncPeriod: null,
      portRange: null,
      windowsRunAsService: null,
    },
    KubeProxyIPTablesConfiguration: { masqueradeBit: null, masqueradeAll: null, localhostNodePorts: null, syncPeriod: null, minSyncPeriod: null },
    KubeProxyNFTablesConfiguration: { masqueradeBit: null, masqueradeAll: null, syncPeriod: null, minSyncPeriod: null },
    KubeProxyConntrackConfiguration: {
      maxPerCore: null,
      min: null,
      tcpEstablishedTimeout: null,
      tcpCloseWaitTimeout: null,
      tcpBeLiberal: null,
      udpTimeout: null,
      udpStreamTimeout: null,
    },
  },
};

/** Schema per apiVersion. */
export const API_SCHEMAS: Readonly<Record<string, ApiSchema>> = {
  'kubeadm.k8s.io/v1beta3': KUBEADM_V1BETA3,
  'kubeadm.k8s.io/v1beta4': KUBEADM_V1BETA4,
  'kubelet.config.k8s.io/v1beta1': KUBELET_V1BETA1,
  'kubeproxy.config.k8s.io/v1alpha1': KUBEPROXY_V1ALPHA1,
};

/**
 * Every key of `doc` (a parsed YAML document) that its apiVersion/kind does not allow, as JSON paths
 * ("ClusterConfiguration.apiServer.extraArg"). Unknown apiVersions, kinds and UNMODELLED fields are
 * reported too. Empty when the document only uses upstream field names.
 */
export function unknownFields(doc: unknown): string[] {
  if (!isObject(doc)) return ['<document is not a mapping>'];
  const apiVersion = String(doc.apiVersion);
  const kind = String(doc.kind);
  const schema = API_SCHEMAS[apiVersion];
  if (!schema) return [`<unknown apiVersion ${apiVersion}>`];
  if (!schema.kinds.includes(kind)) return [`<unknown kind ${kind} in ${apiVersion}>`];
  const problems: string[] = [];
  walk(schema.types, kind, doc, kind, problems);
  return problems;
}

function walk(types: TypeTable, typeName: string, value: unknown, path: string, problems: string[]): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => walk(types, typeName, item, `${path}[${i}]`, problems));
    return;
  }
  const fields = types[typeName];
  if (!fields) {
    problems.push(`${path}: <type ${typeName} missing from the table>`);
    return;
  }
  if (!isObject(value)) {
    problems.push(`${path}: <expected a ${typeName} mapping>`);
    return;
  }
  for (const [key, child] of Object.entries(value)) {
    const childPath = `${path}.${key}`;
    if (!Object.prototype.hasOwnProperty.call(fields, key)) {
      problems.push(childPath);
      continue;
    }
    const type = fields[key];
    if (type === null || type === MAP) continue;
    if (type === UNMODELLED) {
      problems.push(`${childPath}: <unmodelled field; describe its type in test/kubeadm-api-fields.ts>`);
      continue;
    }
    walk(types, type, child, childPath, problems);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
