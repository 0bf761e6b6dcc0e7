import { Construct } from 'constructs';
import type { Host } from '../lib/inventory.js';
import { assertUniqueHosts } from '../lib/inventory.js';
import { type PlanContributor, type SecretRef, type StepFile, type StepSpec, addWarning } from '../lib/plan/index.js';
import { type CaFiles, type IssuedFiles, type SecretStore, secretStoreFor } from '../lib/pki/index.js';
import {
  ETCD_PATHS,
  ETCD_RELEASE_BASE_URL,
  type EtcdInstallSource,
  type EtcdTuning,
  etcdBinDir,
  httpsUrl,
  renderEtcdConfigureScript,
  renderEtcdEnv,
  renderEtcdHealthScript,
  renderEtcdInstallScript,
  renderEtcdUnit,
} from '../lib/render/etcd.js';
import { fail, isAbsolutePath, isHostname, isHttpUrl, isIpAddress, isPort, isSha256Hex, isVersion } from '../lib/validate.js';

export type { EtcdInstallSource } from '../lib/render/etcd.js';

/** What an etcd cluster is configured with, as `HaCluster` passes it through: everything but its members, name and secrets. */
export interface EtcdClusterOptions {
  /** Allow an even member count or more than 7 members (both lower availability per machine). @default false */
  readonly allowUnsafeMemberCount?: boolean;
  /** Where etcd comes from. @default { from: 'distro' } */
  readonly install?: EtcdInstallSource;
  /** Client port. @default 2379 */
  readonly clientPort?: number;
  /** Peer port. @default 2380 */
  readonly peerPort?: number;
  /** Data directory on each member (mode 0700, owned by etcd). @default "/var/lib/etcd/data" */
  readonly dataDir?: string;
  /** Heartbeat interval in milliseconds. @default 100 */
  readonly heartbeatIntervalMs?: number;
  /** Election timeout in milliseconds; at least 5 × the heartbeat interval, at most 50000. @default 1000 */
  readonly electionTimeoutMs?: number;
  /** Applied Raft entries between snapshots. @default 100000 */
  readonly snapshotCount?: number;
  /** Auto-compaction mode. @default "periodic" */
  readonly autoCompactionMode?: 'periodic' | 'revision';
  /** Auto-compaction retention: hours or a duration ("8", "30m") for periodic, revisions for revision; "0" is off. @default "0" */
  readonly autoCompactionRetention?: string;
  /** Backend size quota in bytes. @default 2147483648 (2 GiB) */
  readonly quotaBackendBytes?: number;
  /** More names or IPs in every member's server certificate, e.g. a load balancer's VIP in front of the members. @default [] */
  readonly extraCertificateSans?: string[];
}

/** An etcd cluster: its members, name and secrets directory, and the settings of `EtcdClusterOptions`. */
export interface EtcdClusterProps extends EtcdClusterOptions {
  /** The member hosts, in order; the first runs the cluster health check. 3, 5 or 7 for HA. */
  readonly members: Host[];
  /** Name of the cluster: part of the cluster token and of the default secrets directory. @default the construct id */
  readonly clusterName?: string;
  /** Operator-side directory for the CA, certificates and the cluster token. @default ".hakube/<clusterName>" */
  readonly secretsDir?: string;
}

/** Certificates other constructs need to talk to the cluster (paths inside `secretsDir`). */
/** A client certificate of an etcd cluster, as references into its secrets directory that steps can copy. */
export interface EtcdClientCertificates {
  /** The cluster's CA certificate. */
  readonly ca: SecretRef;
  /** The client certificate. */
  readonly certificate: SecretRef;
  /** Its private key. */
  readonly key: SecretRef;
}

/**
 * An etcd cluster of 1, 3, 5 or 7 members, each a systemd service with TLS between peers and for clients
 * (client certificates required). Install, configure and a final health check are separate steps; configuring
 * members is serialized so a changed setting rolls through the cluster one member at a time.
 */
export class EtcdCluster extends Construct implements PlanContributor {
  /** The member hosts, in the order they are configured. */
  readonly members: readonly Host[];
  /** The cluster's name (step ids `etcd-<clusterName>/…`, the initial cluster token). */
  readonly clusterName: string;
  /** Operator-side directory of the cluster's CA, certificates and keys. */
  readonly secretsDir: string;
  /** TCP port clients connect to. */
  readonly clientPort: number;
  /** TCP port members talk to each other on. */
  readonly peerPort: number;
  /** The members' data directory. */
  readonly dataDir: string;
  /** Where etcd comes from: the distribution's packages or a pinned release. */
  readonly install: EtcdInstallSource;
  /** Heartbeat, election timeout, snapshots, compaction and quota, defaults filled in. */
  readonly tuning: EtcdTuning;
  /** Members needed for a majority: floor(n/2) + 1. */
  readonly quorum: number;
  /** Members that can fail while the cluster keeps accepting writes: n − quorum. */
  readonly faultTolerance: number;
  /** `https://<address>:<clientPort>` of every member. */
  readonly clientEndpoints: readonly string[];
  private readonly store: SecretStore;
  private readonly extraSans: readonly string[];

  constructor(scope: Construct, id: string, props: EtcdClusterProps) {
    super(scope, id);
    const where = `EtcdCluster ${this.node.path}`;
    const members = props.members ?? [];
    const n = members.length;
    if (n === 0) fail(where, 'members', n, 'is empty: an etcd cluster needs at least one member');
    assertUniqueHosts(where, members);
    const twice = members.find((m, i) => members.indexOf(m) !== i);
    if (twice) fail(where, 'members', twice.name, 'is listed twice');
    const quorum = Math.floor(n / 2) + 1;
    const tolerance = n - quorum;
    const arithmetic = `${n} members have a quorum of ${quorum} and tolerate ${tolerance} failed member${tolerance === 1 ? '' : 's'}`;
    if (n % 2 === 0 && !props.allowUnsafeMemberCount) {
      fail(where, 'members', n, `is an even count: ${arithmetic}, no more than ${n - 1} members, and an even network split can lose quorum on both sides; use ${n - 1} or ${n + 1} members (or allowUnsafeMemberCount)`);
    }
    if (n > 7 && !props.allowUnsafeMemberCount) {
      fail(where, 'members', n, `is more than 7: ${arithmetic}, but every write must reach ${quorum} members; 5 or 7 is the recommended maximum (or allowUnsafeMemberCount)`);
    }
    if (n === 1) addWarning(this, 'a single etcd member has no fault tolerance: fine for development, not for production');
    else if (n % 2 === 0 || n > 7) addWarning(this, `${arithmetic} (allowed by allowUnsafeMemberCount)`);

    this.clusterName = props.clusterName ?? id;
    if (!isHostname(this.clusterName)) fail(where, 'clusterName', this.clusterName, 'must be lowercase letters, digits and "-"');
    this.clientPort = props.clientPort ?? 2379;
    this.peerPort = props.peerPort ?? 2380;
    if (!isPort(this.clientPort)) fail(where, 'clientPort', this.clientPort, 'is not a port (1-65535)');
    if (!isPort(this.peerPort)) fail(where, 'peerPort', this.peerPort, 'is not a port (1-65535)');
    if (this.clientPort === this.peerPort) fail(where, 'peerPort', this.peerPort, 'must differ from clientPort');
    this.dataDir = props.dataDir ?? '/var/lib/etcd/data';
    if (!isAbsolutePath(this.dataDir) || this.dataDir === '/var/lib/etcd/default') {
      fail(where, 'dataDir', this.dataDir, 'must be an absolute path other than /var/lib/etcd/default (the distro package\'s own instance)');
    }
    this.install = validateInstall(where, props.install ?? { from: 'distro' });
    this.tuning = validateTuning(where, this, props);
    this.extraSans = [...(props.extraCertificateSans ?? [])];
    for (const san of this.extraSans) {
      if (!isIpAddress(san) && !isHostname(san)) fail(where, 'extraCertificateSans', san, 'is neither an IP address nor a DNS name');
    }
    this.secretsDir = props.secretsDir ?? `.hakube/${this.clusterName}`;
    this.store = secretStoreFor(this, this.secretsDir);

    this.members = Object.freeze([...members]);
    this.quorum = quorum;
    this.faultTolerance = tolerance;
    this.clientEndpoints = Object.freeze(members.map((m) => httpsUrl(m.internalAddress, this.clientPort)));
  }

  /** Id of the step after which the whole cluster is healthy; depend on it to use the cluster. */
  get readyStepId(): string {
    return `etcd-${this.clusterName}/health`;
  }

  /** Id of a member's step. */
  stepId(member: Host, action: 'install' | 'configure'): string {
    return `etcd-${this.clusterName}/${member.name}/${action}`;
  }

  /** A client certificate (e.g. for kube-apiserver) signed by this cluster's CA; created on first use. */
  async clientCertificate(name: string, commonName: string): Promise<EtcdClientCertificates> {
    const ca = await this.ca();
    const issued = await this.store.ensureCertificate(ca, { name: `etcd/${name}`, commonName, usages: ['client'] });
    return { ca: this.store.ref(ca.certificate), certificate: this.store.ref(issued.certificate), key: this.store.ref(issued.key) };
  }

  async planSteps(): Promise<StepSpec[]> {
    const ca = await this.ca();
    const token = this.store.ensureText('etcd/cluster-token', (token) => `${this.clusterName}-${token(16)}`).trim();
    const healthClient = await this.store.ensureCertificate(ca, {
      name: 'etcd/healthcheck-client',
      commonName: 'hakube-etcd-healthcheck',
      usages: ['client'],
    });
    const initialCluster = this.members.map((m) => ({ name: m.name, address: m.internalAddress }));
    const steps: StepSpec[] = [];
    let previousConfigure: string | undefined;
    const configured: string[] = [];
    for (const member of this.members) {
      const names = [member.name, 'localhost'];
      const ips = [...new Set([member.internalAddress, member.address, '127.0.0.1'])];
      const server = await this.store.ensureCertificate(ca, {
        name: `etcd/${member.name}-server`,
        commonName: member.name,
        usages: ['server', 'client'],
        dnsNames: [...names, ...this.extraSans.filter((san) => !isIpAddress(san))],
        ipAddresses: [...ips, ...this.extraSans.filter((san) => isIpAddress(san))],
      });
      const peer = await this.store.ensureCertificate(ca, {
        name: `etcd/${member.name}-peer`,
        commonName: member.name,
        usages: ['server', 'client'],
        dnsNames: names,
        ipAddresses: ips,
      });
      const env = renderEtcdEnv({
        name: member.name,
        address: member.internalAddress,
        clientPort: this.clientPort,
        peerPort: this.peerPort,
        dataDir: this.dataDir,
        initialCluster,
        clusterToken: token,
        tuning: this.tuning,
      });
      const installId = this.stepId(member, 'install');
      const configureId = this.stepId(member, 'configure');
      steps.push({
        id: installId,
        host: member,
        title: `Install etcd on ${member.name}`,
        script: renderEtcdInstallScript(this.install, this.dataDir),
      });
      steps.push({
        id: configureId,
        host: member,
        title: `Configure and start etcd member ${member.name}`,
        files: [
          { path: ETCD_PATHS.envFile, mode: '0644', content: env },
          { path: ETCD_PATHS.unitFile, mode: '0644', content: renderEtcdUnit(`${etcdBinDir(this.install)}/etcd`) },
          this.secretFile(ca.certificate, 'ca.crt', '0644'),
          ...this.pair(server, 'server', 'etcd:etcd'),
          ...this.pair(peer, 'peer', 'etcd:etcd'),
          ...this.pair(healthClient, 'healthcheck-client', 'root:root'),
        ],
        script: renderEtcdConfigureScript(this.install, this.dataDir, this.clientPort),
        after: previousConfigure ? [installId, previousConfigure] : [installId],
      });
      previousConfigure = configureId;
      configured.push(configureId);
    }
    const first = this.members[0];
    steps.push({
      id: this.readyStepId,
      host: first,
      title: `Check that all ${this.members.length} etcd members are healthy`,
      script: renderEtcdHealthScript(this.install, this.clientEndpoints),
      after: configured,
      // whenever a step of this cluster ran, its health is checked again
      rerunWith: steps.map((s) => s.id),
      check: true,
    });
    return steps;
  }

  private ca(): Promise<CaFiles> {
    return this.store.ensureCa('etcd/ca', `etcd-ca-${this.clusterName}`);
  }

  private secretFile(file: string, name: string, mode: string, owner = 'root:root'): StepFile {
    return { path: `${ETCD_PATHS.pkiDir}/${name}`, mode, owner, secret: this.store.ref(file) };
  }

  private pair(issued: IssuedFiles, name: string, owner: string): StepFile[] {
    return [
      this.secretFile(issued.certificate, `${name}.crt`, '0644', owner),
      this.secretFile(issued.key, `${name}.key`, '0600', owner),
    ];
  }
}

function validateInstall(where: string, source: EtcdInstallSource): EtcdInstallSource {
  if (source.from === 'distro') return source;
  if (source.from !== 'release') fail(where, 'install.from', (source as { from: unknown }).from, 'must be "distro" or "release"');
  if (!isVersion(source.version)) fail(where, 'install.version', source.version, 'must be a version like "3.5.17"');
  if (!isSha256Hex(source.sha256)) fail(where, 'install.sha256', source.sha256, 'must be 64 lowercase hex digits');
  const baseUrl = source.baseUrl ?? ETCD_RELEASE_BASE_URL;
  if (!isHttpUrl(baseUrl)) fail(where, 'install.baseUrl', baseUrl, 'must be an http(s) URL');
  const arch = source.arch ?? 'amd64';
  if (arch !== 'amd64' && arch !== 'arm64') fail(where, 'install.arch', arch, 'must be "amd64" or "arm64"');
  return { ...source, baseUrl: baseUrl.replace(/\/+$/, ''), arch };
}

function validateTuning(where: string, scope: Construct, props: EtcdClusterProps): EtcdTuning {
  const tuning: EtcdTuning = {
    heartbeatIntervalMs: props.heartbeatIntervalMs ?? 100,
    electionTimeoutMs: props.electionTimeoutMs ?? 1000,
    snapshotCount: props.snapshotCount ?? 100000,
    autoCompactionMode: props.autoCompactionMode ?? 'periodic',
    autoCompactionRetention: props.autoCompactionRetention ?? '0',
    quotaBackendBytes: props.quotaBackendBytes ?? 2 * 1024 ** 3,
  };
  const positive = (prop: keyof EtcdTuning) => {
    const value = tuning[prop];
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) fail(where, prop, value, 'must be a positive integer');
  };
  positive('heartbeatIntervalMs');
  positive('electionTimeoutMs');
  positive('snapshotCount');
  positive('quotaBackendBytes');
  if (tuning.electionTimeoutMs < 5 * tuning.heartbeatIntervalMs) {
    fail(where, 'electionTimeoutMs', tuning.electionTimeoutMs, `must be at least 5 × heartbeatIntervalMs (${5 * tuning.heartbeatIntervalMs}); etcd refuses to start otherwise`);
  }
  if (tuning.electionTimeoutMs > 50000) fail(where, 'electionTimeoutMs', tuning.electionTimeoutMs, 'must be at most 50000 (etcd\'s limit)');
  if (tuning.autoCompactionMode !== 'periodic' && tuning.autoCompactionMode !== 'revision') {
    fail(where, 'autoCompactionMode', tuning.autoCompactionMode, 'must be "periodic" or "revision"');
  }
  const retention = tuning.autoCompactionMode === 'periodic' ? /^(\d+|(\d+h)?(\d+m)?(\d+s)?)$/ : /^\d+$/;
  if (!retention.test(tuning.autoCompactionRetention) || tuning.autoCompactionRetention === '') {
    fail(where, 'autoCompactionRetention', tuning.autoCompactionRetention, `is not a ${tuning.autoCompactionMode} retention ("8", "30m" or a revision count)`);
  }
  if (tuning.quotaBackendBytes > 8 * 1024 ** 3) {
    addWarning(scope, `quotaBackendBytes ${tuning.quotaBackendBytes} is above 8 GiB, the largest size etcd suggests`);
  }
  return tuning;
}
