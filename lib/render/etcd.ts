import { hostScript } from '../shell.js';
import { joinHostPort } from '../validate.js';

/** Where etcd's files live on a member. */
export const ETCD_PATHS = {
  envFile: '/etc/etcd/etcd.env',
  unitFile: '/etc/systemd/system/etcd.service',
  pkiDir: '/etc/etcd/pki',
  /** sha256 of the files the running etcd was (re)started with. */
  appliedFile: '/etc/etcd/.hakube-applied',
} as const;

/** Marker in the unit file that tells a host's scripts hakube manages this etcd. */
export const ETCD_UNIT_MARKER = '# managed by hakube';

export interface EtcdTuning {
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
  readonly snapshotCount: number;
  readonly autoCompactionMode: 'periodic' | 'revision';
  readonly autoCompactionRetention: string;
  readonly quotaBackendBytes: number;
}

export interface EtcdMemberConfig {
  /** Member name (the host name). */
  readonly name: string;
  /** Address the member listens on and advertises. */
  readonly address: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  /** Every member of the initial cluster, this one included. */
  readonly initialCluster: ReadonlyArray<{ readonly name: string; readonly address: string }>;
  readonly clusterToken: string;
  readonly tuning: EtcdTuning;
}

/** `https://host:port`, with IPv6 addresses in brackets. */
export function httpsUrl(address: string, port: number): string {
  return `https://${joinHostPort(address, port)}`;
}

/** The member's environment file (seed 000's `ETCD_*` variables): TLS everywhere, client and peer cert auth on. */
export function renderEtcdEnv(c: EtcdMemberConfig): string {
  const pki = ETCD_PATHS.pkiDir;
  const peerUrl = httpsUrl(c.address, c.peerPort);
  const clientUrl = httpsUrl(c.address, c.clientPort);
  const vars: Array<[string, string | number | boolean]> = [
    ['ETCD_NAME', c.name],
    ['ETCD_DATA_DIR', c.dataDir],
    ['ETCD_LISTEN_PEER_URLS', peerUrl],
    ['ETCD_LISTEN_CLIENT_URLS', `${clientUrl},${httpsUrl('127.0.0.1', c.clientPort)}`],
    ['ETCD_INITIAL_ADVERTISE_PEER_URLS', peerUrl],
    ['ETCD_ADVERTISE_CLIENT_URLS', clientUrl],
    ['ETCD_INITIAL_CLUSTER', c.initialCluster.map((m) => `${m.name}=${httpsUrl(m.address, c.peerPort)}`).join(',')],
    ['ETCD_INITIAL_CLUSTER_STATE', 'new'],
    ['ETCD_INITIAL_CLUSTER_TOKEN', c.clusterToken],
    ['ETCD_CLIENT_CERT_AUTH', true],
    ['ETCD_TRUSTED_CA_FILE', `${pki}/ca.crt`],
    ['ETCD_CERT_FILE', `${pki}/server.crt`],
    ['ETCD_KEY_FILE', `${pki}/server.key`],
    ['ETCD_PEER_CLIENT_CERT_AUTH', true],
    ['ETCD_PEER_TRUSTED_CA_FILE', `${pki}/ca.crt`],
    ['ETCD_PEER_CERT_FILE', `${pki}/peer.crt`],
    ['ETCD_PEER_KEY_FILE', `${pki}/peer.key`],
    ['ETCD_AUTO_TLS', false],
    ['ETCD_PEER_AUTO_TLS', false],
    ['ETCD_HEARTBEAT_INTERVAL', c.tuning.heartbeatIntervalMs],
    ['ETCD_ELECTION_TIMEOUT', c.tuning.electionTimeoutMs],
    ['ETCD_SNAPSHOT_COUNT', c.tuning.snapshotCount],
    ['ETCD_AUTO_COMPACTION_MODE', c.tuning.autoCompactionMode],
    ['ETCD_AUTO_COMPACTION_RETENTION', c.tuning.autoCompactionRetention],
    ['ETCD_QUOTA_BACKEND_BYTES', c.tuning.quotaBackendBytes],
  ];
  return ['# etcd member configuration, written by hakube', ...vars.map(([k, v]) => `${k}=${v}`), ''].join('\n');
}

/** The systemd unit (seed 000): runs as `etcd`, notify type, always restarted, 65536 open files. */
export function renderEtcdUnit(binary: string): string {
  return `${ETCD_UNIT_MARKER}
[Unit]
Description=etcd key-value store
Documentation=https://etcd.io/docs/
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
User=etcd
Group=etcd
EnvironmentFile=${ETCD_PATHS.envFile}
ExecStart=${binary}
Restart=always
RestartSec=5
LimitNOFILE=65536
TimeoutStartSec=0

[Install]
WantedBy=multi-user.target
`;
}

/** How etcd gets onto a member. */
export type EtcdInstallSource =
  | {
      /** The distribution's packages (Debian `etcd-server` + `etcd-client`; `etcd` through dnf). */
      readonly from: 'distro';
    }
  | {
      /** A pinned upstream release tarball, checked against its sha256. */
      readonly from: 'release';
      /** etcd version without the leading v, e.g. "3.5.17". */
      readonly version: string;
      /** sha256 of `etcd-v<version>-linux-<arch>.tar.gz`. */
      readonly sha256: string;
      /** Base URL of the releases (a mirror for air-gapped sites). @default "https://github.com/etcd-io/etcd/releases/download" */
      readonly baseUrl?: string;
      /** CPU architecture of the members. @default "amd64" */
      readonly arch?: 'amd64' | 'arm64';
    };

export const ETCD_RELEASE_BASE_URL = 'https://github.com/etcd-io/etcd/releases/download';

/** Directory of the etcd binaries for an install source. */
export function etcdBinDir(source: EtcdInstallSource): string {
  return source.from === 'distro' ? '/usr/bin' : '/usr/local/bin';
}

/**
 * Install etcd (packages or a pinned release), create the `etcd` user and directories, stop a default instance the
 * package started (lib/scripts/etcd-install.sh).
 */
export function renderEtcdInstallScript(source: EtcdInstallSource, dataDir: string): string {
  const release = source.from === 'release' ? source : undefined;
  const arch = release?.arch ?? 'amd64';
  const name = release ? `etcd-v${release.version}-linux-${arch}` : '';
  return hostScript(
    {
      install_from: source.from,
      release_version: release?.version ?? '',
      release_url: release ? `${release.baseUrl ?? ETCD_RELEASE_BASE_URL}/v${release.version}/${name}.tar.gz` : '',
      release_sha256: release?.sha256 ?? '',
      release_name: name,
      release_machine: arch === 'amd64' ? 'x86_64' : 'aarch64',
      release_arch: arch,
      bin_dir: etcdBinDir(source),
      unit_file: ETCD_PATHS.unitFile,
      unit_marker: ETCD_UNIT_MARKER,
      pki_dir: ETCD_PATHS.pkiDir,
      data_dir: dataDir,
    },
    'packages.sh',
    'etcd-install.sh',
  );
}

/** The flags that make etcdctl talk TLS with the health-check client certificate. */
function etcdctlTlsFlags(): string[] {
  const pki = ETCD_PATHS.pkiDir;
  return [`--cacert=${pki}/ca.crt`, `--cert=${pki}/healthcheck-client.crt`, `--key=${pki}/healthcheck-client.key`];
}

/** {@link etcdctlTlsFlags} as one command-line string. */
export function etcdctlTlsArgs(): string {
  return etcdctlTlsFlags().join(' ');
}

/**
 * Start or restart the member after its files were placed; a member that is not bootstrapping must answer healthy
 * before the step ends (lib/scripts/etcd-configure.sh).
 */
export function renderEtcdConfigureScript(source: EtcdInstallSource, dataDir: string, clientPort: number): string {
  const pki = ETCD_PATHS.pkiDir;
  return hostScript(
    {
      data_dir: dataDir,
      applied_file: ETCD_PATHS.appliedFile,
      files: [ETCD_PATHS.envFile, ETCD_PATHS.unitFile, ...['ca.crt', 'server.crt', 'server.key', 'peer.crt', 'peer.key'].map((f) => `${pki}/${f}`)],
      etcdctl: `${etcdBinDir(source)}/etcdctl`,
      endpoint: httpsUrl('127.0.0.1', clientPort),
      tls_args: etcdctlTlsFlags(),
    },
    'services.sh',
    'etcd-configure.sh',
  );
}

/** Wait until every member answers healthy over TLS, then print the member list (lib/scripts/etcd-health.sh). */
export function renderEtcdHealthScript(source: EtcdInstallSource, endpoints: readonly string[], timeoutSeconds = 180): string {
  return hostScript(
    { etcdctl: `${etcdBinDir(source)}/etcdctl`, endpoints: endpoints.join(','), members: endpoints.length, tls_args: etcdctlTlsFlags(), wait_seconds: timeoutSeconds },
    'etcd-health.sh',
  );
}
