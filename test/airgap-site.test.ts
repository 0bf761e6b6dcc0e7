import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SiteArtifacts } from '../lib/airgap/artifacts.js';
import { AIRGAP_CACHE_DIR, buildSite, serveSite, stopSite, upstreamVersion } from '../lib/airgap/index.js';
import { Resolver } from 'node:dns/promises';
import { artifactBinary } from '../lib/airgap/artifacts.js';
import { httpStatus, isOurDnsServer, listensOn, renderCorefile, startDnsServer, stopDnsServer } from '../lib/airgap/registry.js';
import { fakeArtifacts, freePort, sh } from './airgap-fixtures.js';
import { tempDir } from './fixtures.js';

/** Every image name the site must have (kubeadm 1.34.12's list, flannel, the test server). */
const IMAGE_NAMES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy', 'coredns', 'pause', 'etcd', 'flannel/flannel', 'hakube-test-httpd'];

describe('Debian versions', () => {
  it('keeps the upstream part only', () => {
    expect(upstreamVersion('1:1.35.0-4+deb12u1+b1')).toBe('1.35.0');
    expect(upstreamVersion('1.8.9-2')).toBe('1.8.9');
    expect(upstreamVersion('2.0')).toBe('2.0');
  });
});

describe('a whole site from stand-in binaries, served on 127.0.0.1', () => {
  it('builds, serves (apt repository + registry with every image) and stops', async () => {
    const cacheDir = tempDir('hakube-airgap-site-');
    const keyDir = join(tempDir('hakube-airgap-key-'), 'key');
    const lines: string[] = [];
    const site = await buildSite({ artifacts: fakeArtifacts(), kubernetesVersion: '1.34.12', cacheDir, keyDir, onProgress: (line) => lines.push(line) });
    expect(site.aptRoot.startsWith(join(cacheDir, 'apt'))).toBe(true);
    expect(existsSync(join(site.aptRoot, 'core:/stable:/v1.34/deb/InRelease'))).toBe(true);
    expect(site.images.map((image) => image.name)).toEqual(IMAGE_NAMES);
    expect(site.images.find((image) => image.name === 'etcd')!.reference).toBe('etcd:3.6.5-0');
    expect(lines.filter((line) => line.includes(' built'))).not.toHaveLength(0);
    // the private key stays in the key dir
    expect(sh('grep', ['-rl', 'PRIVATE KEY', site.aptRoot]).stdout).toBe('');

    // a second build takes everything from the cache
    const again = await buildSite({ artifacts: fakeArtifacts(), kubernetesVersion: '1.34.12', cacheDir, keyDir });
    expect(again.aptRoot).toBe(site.aptRoot);
    expect(again.images.map((image) => image.manifestDigest)).toEqual(site.images.map((image) => image.manifestDigest));

    const runDir = tempDir('hakube-airgap-site-run-');
    const served = await serveSite({
      site,
      runDir,
      apt: { address: '127.0.0.1', port: await freePort() },
      registry: { address: '127.0.0.1', port: await freePort() },
      registryStorageDir: tempDir('hakube-airgap-site-reg-'),
    });
    try {
      expect(served.kubernetesRepoBaseUrl).toBe(`http://127.0.0.1:${served.aptServer.listen.port}/core:/stable:`);
      expect(served.imageRepository).toBe(`127.0.0.1:${served.registryServer.listen.port}/k8s`);
      expect(await httpStatus(`${served.kubernetesRepoBaseUrl}/v1.34/deb/InRelease`)).toBe(200);
      const catalog = (await (await fetch(`http://${served.imageRepository.split('/')[0]}/v2/_catalog`)).json()) as { repositories: string[] };
      expect([...catalog.repositories].sort()).toEqual(IMAGE_NAMES.map((name) => `k8s/${name}`).sort());
      expect(served.images).toContain(`${served.imageRepository}/pause:3.10.1`);
    } finally {
      await stopSite(served);
    }
    await expect(httpStatus(`${served.kubernetesRepoBaseUrl}/v1.34/deb/InRelease`)).rejects.toThrow();
    await expect(httpStatus(`http://${served.imageRepository.split('/')[0]}/v2/`)).rejects.toThrow();
  }, 300_000);
});

/** The lab's built artifacts when every one is in the machine-wide cache (lib/build/lab-artifacts.ts), else a reason. */
async function labArtifacts(): Promise<SiteArtifacts | string> {
  const module = '../lib/build/lab-artifacts.js';
  try {
    const lab = (await import(/* @vite-ignore */ module)) as { cachedLabArtifacts?: () => SiteArtifacts | undefined };
    return lab.cachedLabArtifacts?.() ?? 'not every lab artifact is built yet (run `hakube build all` first): the full site test is skipped';
  } catch (e) {
    return `lib/build/lab-artifacts.ts cannot be loaded (${(e as Error).message}): the full site test is skipped`;
  }
}

const artifacts = await labArtifacts();
if (typeof artifacts === 'string') console.warn(`airgap-site: ${artifacts}`);

describe.skipIf(typeof artifacts === 'string')('the lab site from the real binaries (machine-wide cache)', () => {
  it('builds every image and package; the binaries inside report their versions', async () => {
    const site = await buildSite({ artifacts: artifacts as SiteArtifacts, kubernetesVersion: '1.34.12', cacheDir: AIRGAP_CACHE_DIR, keyDir: '/var/cache/hakube/airgap-test-key' });
    console.log(`airgap-site: built in ${site.seconds.toFixed(1)} s; ${site.images.map((i) => `${i.reference} ${(i.size / 1e6).toFixed(1)} MB`).join(', ')}`);
    expect(site.images.map((image) => image.name)).toEqual(IMAGE_NAMES);
    const runIn = (name: string, command: string[]) => {
      const image = site.images.find((i) => i.name === name)!;
      const root = tempDir('hakube-airgap-rootfs-');
      try {
        const manifest = JSON.parse(readFileSync(join(image.layoutDir, 'blobs/sha256', image.manifestDigest.slice(7)), 'utf8'));
        for (const layer of manifest.layers) sh('tar', ['-xzf', join(image.layoutDir, 'blobs/sha256', layer.digest.slice(7)), '-C', root]);
        const result = sh('chroot', [root, ...command]);
        return `${result.stdout}${result.stderr}`;
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    };
    expect(runIn('kube-apiserver', ['/usr/local/bin/kube-apiserver', '--version'])).toContain('v1.34.12');
    expect(runIn('kube-proxy', ['/usr/local/bin/kube-proxy', '--version'])).toContain('v1.34.12');
    expect(runIn('etcd', ['/usr/local/bin/etcd', '--version'])).toMatch(/etcd Version: 3\.6\.5/);
    expect(runIn('etcd', ['/usr/local/bin/etcdctl', 'version'])).toMatch(/etcdctl version: 3\.6\.5/);
    expect(runIn('coredns', ['/coredns', '-version'])).toContain('1.12.1');
    expect(runIn('flannel/flannel', ['/opt/bin/flanneld', '--version'])).toContain('0.28.4');
  }, 900_000);

  it('runs the site resolver with the real CoreDNS: every name is answered NXDOMAIN at once', async () => {
    const listen = { address: '127.0.0.1', port: await freePort() };
    const server = await startDnsServer({ binary: artifactBinary(artifacts as SiteArtifacts, 'coredns', 'coredns'), listen, runDir: tempDir('hakube-airgap-dns-') });
    try {
      const resolver = new Resolver({ timeout: 2000, tries: 1 });
      resolver.setServers([`${listen.address}:${listen.port}`]);
      const started = Date.now();
      await expect(resolver.resolve4('registry.k8s.io')).rejects.toMatchObject({ code: 'ENOTFOUND' });
      await expect(resolver.resolveAny('lab-1')).rejects.toMatchObject({ code: 'ENOTFOUND' });
      expect(Date.now() - started).toBeLessThan(1500);
      expect(listensOn(server.pid, listen.port)).toBe(true); // TCP too, for answers too large for UDP
    } finally {
      await stopDnsServer(server);
    }
    expect(isOurDnsServer(server.pid, server.runDir)).toBe(false);
  }, 60_000);
});

describe('site resolver', () => {
  it('binds only the given address and answers every name NXDOMAIN', () => {
    const corefile = renderCorefile({ address: '10.77.0.1', port: 53 });
    expect(corefile).toMatch(/^\.:53 \{$/m);
    expect(corefile).toMatch(/^\s+bind 10\.77\.0\.1$/m);
    expect(corefile).toMatch(/template ANY ANY \{\s+rcode NXDOMAIN\s+\}/);
    expect(corefile).not.toMatch(/forward/);
    expect(() => renderCorefile({ address: 'lab', port: 53 })).toThrow(/"lab"/);
  });
});
