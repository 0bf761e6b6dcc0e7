import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aptRepoDir, buildAptRepo, parseReleaseSha256, verifyRelease } from '../lib/airgap/apt-repo.js';
import { buildKubernetesDebs } from '../lib/airgap/debs.js';
import { sha256 } from '../lib/airgap/exec.js';
import { type Server, startStaticServer, stopStaticServer } from '../lib/airgap/registry.js';
import { fakeArtifacts, freePort, sh } from './airgap-fixtures.js';
import { tempDir } from './fixtures.js';

const VERSIONS = { kubernetes: '1.34.12', criTools: '1.34.0', cni: '1.9.1' };

describe('parsing Release files', () => {
  it('reads the SHA256 section only', () => {
    const text = 'Origin: x\nMD5Sum:\n aaaa 1 Packages\nSHA256:\n ' + 'b'.repeat(64) + '  12 Packages\n ' + 'c'.repeat(64) + ' 7 Packages.gz\nSHA512:\n dddd 12 Packages\n';
    expect(parseReleaseSha256(text)).toEqual([
      { sha256: 'b'.repeat(64), size: 12, path: 'Packages' },
      { sha256: 'c'.repeat(64), size: 7, path: 'Packages.gz' },
    ]);
  });

  it('puts a minor release where node preparation looks: <root>/core:/stable:/v1.34/deb', () => {
    expect(aptRepoDir('/srv/site', '1.34.12')).toBe('/srv/site/core:/stable:/v1.34/deb');
    expect(() => aptRepoDir('/srv/site', 'v1.34.12')).toThrow(/"v1.34.12"/);
  });
});

describe('the signed apt repository', () => {
  let debs: readonly string[];
  let keyDir: string;
  let repo: Awaited<ReturnType<typeof buildAptRepo>>;

  beforeAll(async () => {
    debs = (await buildKubernetesDebs(fakeArtifacts(), VERSIONS, tempDir('hakube-airgap-debs-'))).debs;
    keyDir = join(tempDir('hakube-airgap-key-'), 'key');
    repo = await buildAptRepo({ debs, kubernetesVersion: '1.34.12', keyDir, cacheDir: tempDir('hakube-airgap-repo-') });
  }, 120_000);

  it('has the pkgs.k8s.io files, and every Release hash matches its file', () => {
    expect(repo.repoDir).toBe(join(repo.root, 'core:', 'stable:', 'v1.34', 'deb'));
    for (const name of ['Packages', 'Packages.gz', 'Release', 'InRelease', 'Release.key']) expect(existsSync(join(repo.repoDir, name)), name).toBe(true);
    const entries = parseReleaseSha256(readFileSync(join(repo.repoDir, 'Release'), 'utf8'));
    expect(entries.map((entry) => entry.path).sort()).toEqual(['Packages', 'Packages.gz']);
    for (const entry of entries) {
      const data = readFileSync(join(repo.repoDir, entry.path));
      expect(entry.sha256, entry.path).toBe(sha256(data));
      expect(entry.size, entry.path).toBe(data.length);
    }
    expect(verifyRelease(repo.repoDir)).toEqual([]);
  });

  it('notices a Packages file that no longer matches Release', () => {
    const copy = tempDir('hakube-airgap-tamper-');
    cpSync(repo.repoDir, copy, { recursive: true });
    writeFileSync(join(copy, 'Packages'), `${readFileSync(join(copy, 'Packages'), 'utf8')}\n`);
    expect(verifyRelease(copy).join('\n')).toMatch(/^Packages: size/m);
  });

  it('signs InRelease with the key Release.key holds; gpg verifies it and no secret key is in the output', () => {
    const home = tempDir('hakube-airgap-verify-');
    expect(sh('gpg', ['--homedir', home, '--batch', '--import', join(repo.repoDir, 'Release.key')]).status).toBe(0);
    const verify = sh('gpg', ['--homedir', home, '--batch', '--status-fd', '1', '--verify', join(repo.repoDir, 'InRelease')]);
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stdout).toContain(`VALIDSIG ${repo.fingerprint}`);
    sh('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
    const all = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? all(join(dir, e.name)) : [join(dir, e.name)]));
    for (const file of all(repo.root)) {
      if (file.endsWith('.deb')) continue;
      expect(readFileSync(file, 'utf8'), file).not.toContain('PRIVATE KEY');
    }
    expect(existsSync(join(repo.root, 'gnupg'))).toBe(false);
    expect(statSync(keyDir).mode & 0o777).toBe(0o700);
  });

  it('reuses the key and rebuilds a byte-identical Packages in another cache; a new key changes only the signature', async () => {
    const again = await buildAptRepo({ debs, kubernetesVersion: '1.34.12', keyDir, cacheDir: tempDir('hakube-airgap-repo-') });
    expect(again.built).toBe(true);
    expect(again.fingerprint).toBe(repo.fingerprint);
    expect(readFileSync(join(again.repoDir, 'Packages'))).toEqual(readFileSync(join(repo.repoDir, 'Packages')));
    const other = await buildAptRepo({ debs, kubernetesVersion: '1.34.12', keyDir: join(tempDir('hakube-airgap-key-'), 'k'), cacheDir: tempDir('hakube-airgap-repo-') });
    expect(other.fingerprint).not.toBe(repo.fingerprint);
    expect(readFileSync(join(other.repoDir, 'Packages'))).toEqual(readFileSync(join(repo.repoDir, 'Packages')));
  }, 60_000);

  describe('served on 127.0.0.1, used by apt from a throw-away apt root', () => {
    let server: Server;
    let url: string;

    beforeAll(async () => {
      const port = await freePort();
      server = await startStaticServer({ root: repo.root, listen: { address: '127.0.0.1', port }, runDir: tempDir('hakube-airgap-run-') });
      url = `http://127.0.0.1:${port}/core:/stable:/v1.34/deb/`;
    }, 30_000);

    afterAll(async () => {
      if (server) await stopStaticServer(server);
    });

    /**
     * apt-get/apt-cache with their own sources, lists and archives, and a copy of dpkg's status without the site's
     * packages (this machine may have a kubectl of its own): the Debian dependencies count as installed when they are.
     */
    function aptRoot(keyFile: string): { run: (cmd: string, ...args: string[]) => ReturnType<typeof sh>; archives: string } {
      const root = tempDir('hakube-airgap-aptroot-');
      for (const dir of ['etc/sources.list.d', 'etc/trusted.gpg.d', 'state/lists/partial', 'cache/archives/partial']) mkdirSync(join(root, dir), { recursive: true });
      copyFileSync(keyFile, join(root, 'etc', 'kubernetes.asc'));
      const site = new Set(['kubelet', 'kubeadm', 'kubectl', 'cri-tools', 'kubernetes-cni']);
      const status = readFileSync('/var/lib/dpkg/status', 'utf8').split(/\n\n+/).filter((stanza) => !site.has(/^Package: (\S+)/m.exec(stanza)?.[1] ?? ''));
      writeFileSync(join(root, 'status'), `${status.join('\n\n').trim()}\n`);
      writeFileSync(join(root, 'etc', 'sources.list'), `deb [signed-by=${join(root, 'etc', 'kubernetes.asc')}] ${url} /\n`);
      // kubelet's Debian dependencies come from the machine's Debian mirror when they are not installed
      if (existsSync('/etc/apt/sources.list.d/debian.sources')) copyFileSync('/etc/apt/sources.list.d/debian.sources', join(root, 'etc', 'sources.list.d', 'debian.sources'));
      const options = [
        '-o', `Dir::Etc::SourceList=${join(root, 'etc', 'sources.list')}`,
        '-o', `Dir::Etc::SourceParts=${join(root, 'etc', 'sources.list.d')}`,
        '-o', `Dir::Etc::TrustedParts=${join(root, 'etc', 'trusted.gpg.d')}`,
        '-o', `Dir::State=${join(root, 'state')}`,
        '-o', `Dir::State::status=${join(root, 'status')}`,
        '-o', `Dir::Cache=${join(root, 'cache')}`,
        '-o', 'APT::Sandbox::User=root',
        '-o', 'Debug::NoLocking=1',
      ];
      return { run: (cmd, ...args) => sh(cmd, [...options, ...args]), archives: join(root, 'cache', 'archives') };
    }

    it('apt-get update accepts the signature; policy offers 1.34.12-1.1 from the site; kubelet kubeadm kubectl download with kubernetes-cni', () => {
      const apt = aptRoot(join(repo.repoDir, 'Release.key'));
      const update = apt.run('apt-get', '-q', 'update');
      expect(update.status, update.stdout + update.stderr).toBe(0);
      expect(update.stderr).not.toMatch(/NO_PUBKEY|not signed|GPG error/);
      const policy = apt.run('apt-cache', 'policy', 'kubelet', 'kubeadm', 'kubectl');
      expect(policy.stdout).toMatch(/kubelet:\n\s+Installed: \(none\)\n\s+Candidate: 1\.34\.12-1\.1/);
      expect(policy.stdout).toMatch(/kubeadm:\n\s+Installed: \(none\)\n\s+Candidate: 1\.34\.12-1\.1/);
      expect(policy.stdout).toContain(`${url} Packages`.replace(/\/ Packages$/, '  Packages'));
      const install = apt.run('apt-get', '-q', '-y', 'install', '--download-only', 'kubelet=1.34.12-1.1', 'kubeadm=1.34.12-1.1', 'kubectl=1.34.12-1.1');
      expect(install.status, install.stdout + install.stderr).toBe(0);
      const fetched = readdirSync(apt.archives).filter((name) => name.endsWith('.deb'));
      expect(fetched).toEqual(expect.arrayContaining(['kubelet_1.34.12-1.1_amd64.deb', 'kubeadm_1.34.12-1.1_amd64.deb', 'kubectl_1.34.12-1.1_amd64.deb', 'kubernetes-cni_1.9.1-1.1_amd64.deb']));
      // what apt downloaded is what the repository holds (apt checked it against the signed index)
      const downloaded = readFileSync(join(apt.archives, 'kubelet_1.34.12-1.1_amd64.deb'));
      expect(sha256(downloaded)).toBe(sha256(readFileSync(join(repo.repoDir, 'amd64', 'kubelet_1.34.12-1.1_amd64.deb'))));
    }, 180_000);

    it('apt refuses the repository with another key', async () => {
      const otherKeyDir = join(tempDir('hakube-airgap-key-'), 'k');
      const other = await buildAptRepo({ debs, kubernetesVersion: '1.34.12', keyDir: otherKeyDir, cacheDir: tempDir('hakube-airgap-repo-') });
      const apt = aptRoot(join(other.repoDir, 'Release.key'));
      const update = apt.run('apt-get', '-q', 'update');
      expect(`${update.stdout}${update.stderr}`).toMatch(/NO_PUBKEY|not signed|GPG error|signatures couldn't be verified/);
      expect(apt.run('apt-cache', 'policy', 'kubelet').stdout).not.toContain('1.34.12-1.1');
    }, 180_000);
  });
});
