import { sh } from '../shell.js';
import { joinHostPort } from '../validate.js';
import { renderPackageInstall } from './packages.js';
import { renderServiceApply } from './services.js';

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
 * Install etcd, create the `etcd` user and directories. Debian's package starts a default single-member etcd on
 * install: while hakube's unit is not in place yet, that instance is stopped and its data removed, so it can
 * neither hold the ports nor be mistaken for the cluster.
 */
export function renderEtcdInstallScript(source: EtcdInstallSource, dataDir: string): string {
  const install =
    source.from === 'distro'
      ? renderPackageInstall({ apt: ['etcd-server', 'etcd-client'], dnf: ['etcd'] }, '! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1')
      : renderReleaseInstall(source);
  return `${install}
if ! id -u etcd >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/etcd --shell /usr/sbin/nologin etcd
fi
if ! grep -qs ${sh(ETCD_UNIT_MARKER)} ${sh(ETCD_PATHS.unitFile)}; then
  # Not managed by hakube yet: stop whatever etcd the package started and drop its default data.
  systemctl stop etcd.service 2>/dev/null || true
  rm -rf /var/lib/etcd/default
fi
install -d -m 0755 -o root -g root /etc/etcd
install -d -m 0750 -o root -g etcd ${sh(ETCD_PATHS.pkiDir)}
install -d -m 0700 -o etcd -g etcd ${sh(dataDir)}
echo "hakube: $(${sh(etcdBinDir(source) + '/etcd')} --version | sed -n 1p)"
`;
}

function renderReleaseInstall(source: Extract<EtcdInstallSource, { from: 'release' }>): string {
  const arch = source.arch ?? 'amd64';
  const name = `etcd-v${source.version}-linux-${arch}`;
  const url = `${source.baseUrl ?? ETCD_RELEASE_BASE_URL}/v${source.version}/${name}.tar.gz`;
  const machine = arch === 'amd64' ? 'x86_64' : 'aarch64';
  return `if ! /usr/local/bin/etcd --version 2>/dev/null | grep -qx ${sh(`etcd Version: ${source.version}`)}; then
  if [ "$(uname -m)" != ${sh(machine)} ]; then
    echo "hakube: this host is $(uname -m), the etcd release is for ${arch}" >&2
    exit 1
  fi
  ${renderPackageInstall({ apt: ['curl', 'ca-certificates'], dnf: ['curl'] }, '! command -v curl >/dev/null 2>&1 && ! command -v wget >/dev/null 2>&1').replace(/\n/g, '\n  ')}
  tmp=$(mktemp -d)
  HAKUBE_CLEANUP+=("$tmp")
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 -o "$tmp/etcd.tar.gz" ${sh(url)}
  else
    wget -q -O "$tmp/etcd.tar.gz" ${sh(url)}
  fi
  echo ${sh(`${source.sha256}  `)}"$tmp/etcd.tar.gz" | sha256sum -c --quiet -
  tar -xzf "$tmp/etcd.tar.gz" -C "$tmp"
  for bin in etcd etcdctl etcdutl; do
    if [ -f "$tmp/${name}/$bin" ]; then
      install -m 0755 "$tmp/${name}/$bin" "/usr/local/bin/$bin.hakube-new"
      mv -f "/usr/local/bin/$bin.hakube-new" "/usr/local/bin/$bin"
    fi
  done
fi`;
}

/** Arguments that make etcdctl talk TLS with the health-check client certificate. */
export function etcdctlTlsArgs(): string {
  const pki = ETCD_PATHS.pkiDir;
  return `--cacert=${pki}/ca.crt --cert=${pki}/healthcheck-client.crt --key=${pki}/healthcheck-client.key`;
}

/**
 * Start or restart the member after its files were placed (restart only when they differ from what it runs
 * with). A member with an empty data dir is bootstrapping and cannot become ready before a quorum of its peers
 * starts, so nothing waits for it; any other member must answer healthy before the step ends — and so before the
 * next member is touched.
 */
export function renderEtcdConfigureScript(source: EtcdInstallSource, dataDir: string, clientPort: number): string {
  const etcdctl = `${etcdBinDir(source)}/etcdctl`;
  const pki = ETCD_PATHS.pkiDir;
  const files = [ETCD_PATHS.envFile, ETCD_PATHS.unitFile, ...['ca.crt', 'server.crt', 'server.key', 'peer.crt', 'peer.key'].map((f) => `${pki}/${f}`)];
  return `bootstrapping=0
if [ -z "$(ls -A ${sh(dataDir)})" ]; then
  bootstrapping=1
  echo "hakube: empty data dir, bootstrapping member (the cluster forms once a quorum has started)"
fi
${renderServiceApply({ unit: 'etcd.service', files, stateFile: ETCD_PATHS.appliedFile, action: 'restart', noBlock: true })}
if [ "$bootstrapping" = 1 ]; then
  exit 0
fi
for attempt in $(seq 1 60); do
  if ETCDCTL_API=3 ${sh(etcdctl)} --endpoints=${sh(httpsUrl('127.0.0.1', clientPort))} ${etcdctlTlsArgs()} endpoint health >/dev/null 2>&1; then
    echo "hakube: member healthy after $attempt s"
    exit 0
  fi
  sleep 1
done
echo "hakube: member did not become healthy within 60 s" >&2
journalctl -u etcd.service -n 30 --no-pager >&2 || true
exit 1
`;
}

/** Wait until every member answers healthy over TLS, then print the member list. */
export function renderEtcdHealthScript(source: EtcdInstallSource, endpoints: readonly string[], timeoutSeconds = 180): string {
  const etcdctl = `ETCDCTL_API=3 ${sh(`${etcdBinDir(source)}/etcdctl`)} --endpoints=${sh(endpoints.join(','))} ${etcdctlTlsArgs()}`;
  return `# waits for the cluster to converge; HAKUBE_CHECK_WAIT (seconds) shortens the wait (hakube status)
wait_s=\${HAKUBE_CHECK_WAIT:-${timeoutSeconds}}
deadline=$((SECONDS + wait_s))
until ${etcdctl} endpoint health; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "hakube: etcd cluster not healthy after $wait_s s" >&2
    exit 1
  fi
  echo "hakube: waiting for all ${endpoints.length} members ($SECONDS s)"
  sleep 3
done
${etcdctl} member list -w table
echo "hakube: all ${endpoints.length} etcd members are healthy"
`;
}
