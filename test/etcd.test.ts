import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { EtcdCluster, type EtcdClusterProps } from '../constructs/etcd-cluster.js';
import { Plan } from '../lib/plan/index.js';
import { renderEtcdEnv, renderEtcdUnit } from '../lib/render/etcd.js';
import { hosts, scriptInputs, tempDir } from './fixtures.js';

function cluster(props: Partial<EtcdClusterProps> & { count?: number } = {}) {
  const root = new Construct(undefined as never, 'app');
  const secretsDir = props.secretsDir ?? tempDir();
  const etcd = new EtcdCluster(root, 'etcd', { members: hosts(props.count ?? 3), secretsDir, ...props });
  return { root, etcd, secretsDir };
}

describe('EtcdCluster member count', () => {
  it.each([
    [1, 1, 0],
    [3, 2, 1],
    [5, 3, 2],
    [7, 4, 3],
  ])('%i members: quorum %i, tolerates %i', async (count, quorum, tolerance) => {
    const { etcd, root } = cluster({ count });
    expect([etcd.quorum, etcd.faultTolerance]).toEqual([quorum, tolerance]);
    const plan = await Plan.of(root);
    if (count === 1) expect(plan.warnings).toEqual([expect.stringMatching(/^app\/etcd: a single etcd member has no fault tolerance/)]);
    else expect(plan.warnings).toEqual([]);
  });

  it.each([
    [2, /members 2 is an even count: 2 members have a quorum of 2 and tolerate 0 failed members, no more than 1 members/],
    [4, /members 4 is an even count: 4 members have a quorum of 3 and tolerate 1 failed member, no more than 3/],
    [9, /members 9 is more than 7: 9 members have a quorum of 5 and tolerate 4 failed members/],
  ])('rejects %i members with the quorum arithmetic and the construct path', (count, message) => {
    expect(() => cluster({ count })).toThrow(message);
    expect(() => cluster({ count })).toThrow(/^EtcdCluster app\/etcd: /);
  });

  it('forces an unsafe count with a warning', async () => {
    const { etcd, root } = cluster({ count: 4, allowUnsafeMemberCount: true });
    expect([etcd.quorum, etcd.faultTolerance]).toEqual([3, 1]);
    expect((await Plan.of(root)).warnings[0]).toMatch(/4 members have a quorum of 3 and tolerate 1 failed member \(allowed by allowUnsafeMemberCount\)/);
  });

  it('rejects no members and a host listed twice', () => {
    expect(() => cluster({ members: [] })).toThrow(/members 0 is empty/);
    const [a] = hosts(1);
    expect(() => cluster({ members: [a, a, a] })).toThrow(/members "node-1" is listed twice/);
  });
});

describe('EtcdCluster props', () => {
  it.each<[Partial<EtcdClusterProps>, RegExp]>([
    [{ clientPort: 0 }, /clientPort 0 is not a port/],
    [{ peerPort: 2379 }, /peerPort 2379 must differ from clientPort/],
    [{ dataDir: 'var/lib/etcd' }, /dataDir "var\/lib\/etcd" must be an absolute path/],
    [{ dataDir: '/var/lib/etcd/default' }, /dataDir "\/var\/lib\/etcd\/default"/],
    [{ clusterName: 'My Cluster' }, /clusterName "My Cluster"/],
    [{ heartbeatIntervalMs: 250, electionTimeoutMs: 1000 }, /electionTimeoutMs 1000 must be at least 5 × heartbeatIntervalMs \(1250\)/],
    [{ electionTimeoutMs: 60000 }, /electionTimeoutMs 60000 must be at most 50000/],
    [{ snapshotCount: -1 }, /snapshotCount -1 must be a positive integer/],
    [{ autoCompactionRetention: '8 hours' }, /autoCompactionRetention "8 hours" is not a periodic retention/],
    [{ autoCompactionMode: 'revision', autoCompactionRetention: '1h' }, /autoCompactionRetention "1h" is not a revision retention/],
    [{ install: { from: 'release', version: 'v3.5', sha256: 'x' } }, /install.version "v3.5" must be a version like "3.5.17"/],
    [{ install: { from: 'release', version: '3.5.17', sha256: 'abc' } }, /install.sha256 "abc" must be 64 lowercase hex digits/],
    [{ install: { from: 'release', version: '3.5.17', sha256: 'a'.repeat(64), baseUrl: 'ftp://mirror' } }, /install.baseUrl "ftp:\/\/mirror" must be an http\(s\) URL/],
  ])('rejects %j', (props, message) => {
    expect(() => cluster(props)).toThrow(message);
  });

  it('adds extra SANs (a VIP in front of the members) to every server certificate, not to peer certificates', async () => {
    const { root, secretsDir } = cluster({ extraCertificateSans: ['10.77.0.100', 'etcd.example.com'] });
    await Plan.of(root);
    const text = (file: string) => execFileSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName', '-in', join(secretsDir, 'etcd', file)], { encoding: 'utf8' });
    expect(text('node-2-server.crt')).toMatch(/DNS:etcd.example.com/);
    expect(text('node-2-server.crt')).toMatch(/IP Address:10.77.0.100/);
    expect(text('node-2-peer.crt')).not.toMatch(/10.77.0.100/);
    expect(() => cluster({ extraCertificateSans: ['not a name'] })).toThrow(/extraCertificateSans "not a name" is neither an IP address nor a DNS name/);
  });

  it('writes nothing to disk when anything in the tree is invalid, even a valid cluster\'s secrets', async () => {
    const secretsDir = join(tempDir(), 'secrets');
    const { root } = cluster({ secretsDir });
    new Construct(root, 'broken').node.addValidation({ validate: () => ['broken on purpose'] });
    await expect(Plan.of(root)).rejects.toThrow(/app\/broken: broken on purpose/);
    expect(existsSync(secretsDir)).toBe(false);
    await Plan.of(cluster({ secretsDir }).root);
    expect(existsSync(join(secretsDir, 'etcd/ca.key'))).toBe(true);
  });

  it('exposes client endpoints (IPv6 in brackets)', () => {
    const { etcd } = cluster();
    expect(etcd.clientEndpoints).toEqual(['https://10.77.0.11:2379', 'https://10.77.0.12:2379', 'https://10.77.0.13:2379']);
    expect(renderEtcdEnv({
      name: 'v6', address: 'fd00::1', clientPort: 2379, peerPort: 2380, dataDir: '/d', clusterToken: 't',
      initialCluster: [{ name: 'v6', address: 'fd00::1' }], tuning: cluster().etcd.tuning,
    })).toContain('ETCD_INITIAL_CLUSTER=v6=https://[fd00::1]:2380');
  });
});

describe('EtcdCluster rendering', () => {
  it('renders the env file of seed 000 with TLS and client/peer cert auth', async () => {
    const { root } = cluster({ electionTimeoutMs: 5000, heartbeatIntervalMs: 250, autoCompactionRetention: '8', snapshotCount: 10000 });
    const plan = await Plan.of(root);
    const env = plan.step('etcd-etcd/node-2/configure').files.find((f) => f.path === '/etc/etcd/etcd.env')!.content!;
    const vars = Object.fromEntries(env.split('\n').filter((l) => l.includes('=')).map((l) => l.split(/=(.*)/s).slice(0, 2)));
    expect(vars).toMatchObject({
      ETCD_NAME: 'node-2',
      ETCD_DATA_DIR: '/var/lib/etcd/data',
      ETCD_LISTEN_PEER_URLS: 'https://10.77.0.12:2380',
      ETCD_LISTEN_CLIENT_URLS: 'https://10.77.0.12:2379,https://127.0.0.1:2379',
      ETCD_ADVERTISE_CLIENT_URLS: 'https://10.77.0.12:2379',
      ETCD_INITIAL_ADVERTISE_PEER_URLS: 'https://10.77.0.12:2380',
      ETCD_INITIAL_CLUSTER: 'node-1=https://10.77.0.11:2380,node-2=https://10.77.0.12:2380,node-3=https://10.77.0.13:2380',
      ETCD_INITIAL_CLUSTER_STATE: 'new',
      ETCD_CLIENT_CERT_AUTH: 'true',
      ETCD_PEER_CLIENT_CERT_AUTH: 'true',
      ETCD_AUTO_TLS: 'false',
      ETCD_PEER_AUTO_TLS: 'false',
      ETCD_ELECTION_TIMEOUT: '5000',
      ETCD_HEARTBEAT_INTERVAL: '250',
      ETCD_AUTO_COMPACTION_RETENTION: '8',
      ETCD_SNAPSHOT_COUNT: '10000',
      ETCD_QUOTA_BACKEND_BYTES: '2147483648',
    });
    expect(vars.ETCD_INITIAL_CLUSTER_TOKEN).toMatch(/^etcd-[a-z0-9]{16}$/);
  });

  it('renders a unit with Restart=always, RestartSec=5 and LimitNOFILE=65536', () => {
    const unit = renderEtcdUnit('/usr/bin/etcd');
    for (const line of ['Restart=always', 'RestartSec=5', 'LimitNOFILE=65536', 'User=etcd', 'Type=notify', 'ExecStart=/usr/bin/etcd', 'EnvironmentFile=/etc/etcd/etcd.env']) {
      expect(unit.split('\n')).toContain(line);
    }
  });

  it('renders a unit that systemd-analyze verify accepts', () => {
    const dir = tempDir();
    const binary = join(dir, 'etcd');
    writeFileSync(binary, '#!/bin/sh\n', { mode: 0o755 });
    writeFileSync(join(dir, 'etcd.service'), renderEtcdUnit(binary));
    const result = spawnSync('systemd-analyze', ['verify', join(dir, 'etcd.service')], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('plans install → configure (one member at a time) → one health check', async () => {
    const { root } = cluster();
    const plan = await Plan.of(root);
    const ids = plan.steps.map((s) => s.id);
    expect(ids).toEqual([
      'hosts/node-1/reachable', 'hosts/node-2/reachable', 'hosts/node-3/reachable', 'hosts/ready',
      'etcd-etcd/node-1/install', 'etcd-etcd/node-2/install', 'etcd-etcd/node-3/install',
      'etcd-etcd/node-1/configure', 'etcd-etcd/node-2/configure', 'etcd-etcd/node-3/configure',
      'etcd-etcd/health',
    ]);
    expect(plan.step('etcd-etcd/node-2/configure').after).toEqual(['etcd-etcd/node-1/configure', 'etcd-etcd/node-2/install']);
    expect(plan.step('etcd-etcd/health').after).toEqual(['etcd-etcd/node-1/configure', 'etcd-etcd/node-2/configure', 'etcd-etcd/node-3/configure']);
    expect(scriptInputs(plan.step('etcd-etcd/health').script)).toMatchObject({ endpoints: 'https://10.77.0.11:2379,https://10.77.0.12:2379,https://10.77.0.13:2379', members: '3' });
    expect(plan.step('etcd-etcd/node-1/install').after).toEqual(['hosts/ready']);
    expect(plan.waves().length).toBe(7);
  });

  it('places certificates and keys from the secrets dir with tight modes and owners', async () => {
    const { root, secretsDir } = cluster();
    const plan = await Plan.of(root);
    const files = plan.step('etcd-etcd/node-1/configure').files;
    const byPath = Object.fromEntries(files.map((f) => [f.path, f]));
    expect(byPath['/etc/etcd/pki/server.key']).toMatchObject({ mode: '0600', owner: 'etcd:etcd', secret: { dir: secretsDir, file: 'etcd/node-1-server.key' } });
    expect(byPath['/etc/etcd/pki/peer.key']).toMatchObject({ mode: '0600', owner: 'etcd:etcd' });
    expect(byPath['/etc/etcd/pki/ca.crt']).toMatchObject({ mode: '0644', secret: { file: 'etcd/ca.crt' } });
    expect(files.filter((f) => f.path.endsWith('.key')).every((f) => f.content === undefined)).toBe(true);
    expect(readdirSync(join(secretsDir, 'etcd')).filter((f) => f.endsWith('.key')).sort()).toEqual([
      'ca.key', 'healthcheck-client.key',
      'node-1-peer.key', 'node-1-server.key', 'node-2-peer.key', 'node-2-server.key', 'node-3-peer.key', 'node-3-server.key',
    ]);
  });

  it('is deterministic across synths, and a setting change touches exactly the configure steps', async () => {
    const secretsDir = tempDir();
    const first = await Plan.of(cluster({ secretsDir }).root);
    const again = await Plan.of(cluster({ secretsDir }).root);
    expect(again.toYaml()).toBe(first.toYaml());
    const changed = await Plan.of(cluster({ secretsDir, snapshotCount: 5000 }).root);
    const differs = first.steps.filter((s) => changed.step(s.id).hash !== s.hash).map((s) => s.id);
    // the configure steps, the health check after them, and the first wave's checks of the hosts they run on
    expect(differs).toEqual([
      'hosts/node-1/reachable', 'hosts/node-2/reachable', 'hosts/node-3/reachable', 'hosts/ready',
      'etcd-etcd/node-1/configure', 'etcd-etcd/node-2/configure', 'etcd-etcd/node-3/configure', 'etcd-etcd/health',
    ]);
  });

  it('checks health again whenever a step of the cluster changes, and only then', async () => {
    const secretsDir = tempDir();
    const base = await Plan.of(cluster({ secretsDir }).root);
    const health = base.step('etcd-etcd/health');
    expect([...health.rerunWith].sort()).toEqual(base.steps.filter((s) => s.id.startsWith('etcd-etcd/node-')).map((s) => s.id).sort());
    const release = await Plan.of(cluster({ secretsDir, install: { from: 'release', version: '3.5.17', sha256: 'c'.repeat(64) } }).root);
    expect(release.step('etcd-etcd/node-1/install').hash).not.toBe(base.step('etcd-etcd/node-1/install').hash);
    expect(release.step('etcd-etcd/health').hash).not.toBe(health.hash);
    expect((await Plan.of(cluster({ secretsDir }).root)).step('etcd-etcd/health').hash).toBe(health.hash);
  });

  it('installs a pinned release with its sha256 and a mirror base URL', async () => {
    const sha256 = 'b'.repeat(64);
    const { root } = cluster({ install: { from: 'release', version: '3.5.17', sha256, baseUrl: 'https://mirror.internal/etcd/' } });
    const plan = await Plan.of(root);
    // lib/scripts/etcd-install.sh fetches release_url, checks release_sha256, installs curl first on a host with
    // neither curl nor wget; it runs on the lab's hosts (test/lab: seed 001's etcd is a release)
    expect(scriptInputs(plan.step('etcd-etcd/node-1/install').script)).toMatchObject({
      install_from: 'release',
      release_url: 'https://mirror.internal/etcd/v3.5.17/etcd-v3.5.17-linux-amd64.tar.gz',
      release_sha256: sha256,
      release_name: 'etcd-v3.5.17-linux-amd64',
      release_machine: 'x86_64',
      bin_dir: '/usr/local/bin',
    });
    expect(plan.step('etcd-etcd/node-1/configure').files.find((f) => f.path.endsWith('.service'))!.content).toContain('ExecStart=/usr/local/bin/etcd');
  });

  it('snapshot of a 3-member plan', async () => {
    const secretsDir = tempDir();
    const plan = await Plan.of(cluster({ secretsDir, clusterName: 'snap' }).root);
    // certificate bytes differ per run; the snapshot pins the structure, scripts and inline files
    const yaml = plan.toYaml().replace(/sha256: [0-9a-f]{64}/g, 'sha256: <hash>').replace(/hash: [0-9a-f]{64}/g, 'hash: <hash>')
      .replace(/ETCD_INITIAL_CLUSTER_TOKEN=snap-[a-z0-9]+/g, 'ETCD_INITIAL_CLUSTER_TOKEN=snap-<random>');
    expect(yaml).toMatchSnapshot();
  });
});
