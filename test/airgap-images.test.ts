import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  IPTABLES_ALTERNATIVES,
  type ImageSpec,
  artifactLookup,
  buildImage,
  kubeadmImages,
  parseKubeadmImageList,
  parseReadelfNeeded,
  siteImageSpecs,
} from '../lib/airgap/images.js';
import { MEDIA_TYPES, REF_NAME_ANNOTATION, renderImageConfig, renderLayoutIndex, renderManifest } from '../lib/airgap/oci.js';
import { HAVE_REAL_KUBERNETES, REAL_KUBERNETES_BIN, fakeArtifacts, sh } from './airgap-fixtures.js';
import { tempDir } from './fixtures.js';

const hex = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const LAYER = { digest: `sha256:${'a'.repeat(64)}`, size: 10, diffId: `sha256:${'b'.repeat(64)}`, createdBy: 'test layer' };
const LAYER2 = { digest: `sha256:${'c'.repeat(64)}`, size: 20, diffId: `sha256:${'d'.repeat(64)}`, createdBy: 'second' };

/** kubeadm 1.34.12's list with a custom repository (as printed by the real kubeadm). */
const KUBEADM_LIST = ['kube-apiserver:v1.34.12', 'kube-controller-manager:v1.34.12', 'kube-scheduler:v1.34.12', 'kube-proxy:v1.34.12', 'coredns:v1.12.1', 'pause:3.10.1', 'etcd:3.6.5-0'];

describe('OCI documents', () => {
  it('image config: entrypoint, PATH, user, linux/amd64, diff ids bottom first', () => {
    const blob = renderImageConfig({ entrypoint: ['/pause'], env: ['PATH=/bin'], user: '65535:65535', exposedPorts: ['53/udp'] }, [LAYER, LAYER2]);
    const config = JSON.parse(blob.bytes.toString());
    expect(config.architecture).toBe('amd64');
    expect(config.os).toBe('linux');
    expect(config.config.Entrypoint).toEqual(['/pause']);
    expect(config.config.Env).toEqual(['PATH=/bin']);
    expect(config.config.User).toBe('65535:65535');
    expect(config.config.ExposedPorts).toEqual({ '53/udp': {} });
    expect(config.rootfs).toEqual({ type: 'layers', diff_ids: [LAYER.diffId, LAYER2.diffId] });
    expect(config.history.map((h: { created_by: string }) => h.created_by)).toEqual(['test layer', 'second']);
    expect(blob.descriptor.digest).toBe(`sha256:${hex(blob.bytes)}`);
    expect(blob.descriptor.size).toBe(blob.bytes.length);
    expect(blob.descriptor.mediaType).toBe('application/vnd.oci.image.config.v1+json');
  });

  it('refuses a relative entrypoint, an image without PATH and a bad user, naming the value', () => {
    expect(() => renderImageConfig({ entrypoint: ['pause'], env: ['PATH=/bin'] }, [LAYER])).toThrow(/\["pause"\]/);
    expect(() => renderImageConfig({ entrypoint: ['/pause'], env: ['HOME=/'] }, [LAYER])).toThrow(/no PATH/);
    expect(() => renderImageConfig({ entrypoint: ['/pause'], env: ['PATH=/bin'], user: 'a b' }, [LAYER])).toThrow(/"a b"/);
  });

  it('manifest points at the config and the layers by digest; its digest is its bytes', () => {
    const config = renderImageConfig({ entrypoint: ['/x'], env: ['PATH=/'] }, [LAYER]);
    const manifest = renderManifest(config.descriptor, [LAYER]);
    const doc = JSON.parse(manifest.bytes.toString());
    expect(doc.schemaVersion).toBe(2);
    expect(doc.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(doc.config).toEqual({ mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${hex(config.bytes)}`, size: config.bytes.length });
    expect(doc.layers).toEqual([{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: LAYER.digest, size: LAYER.size }]);
    expect(manifest.descriptor.digest).toBe(`sha256:${hex(manifest.bytes)}`);
    // the same input, the same bytes
    expect(renderManifest(config.descriptor, [LAYER]).bytes).toEqual(manifest.bytes);
  });

  it('layout index names the manifest by its tag', () => {
    const index = JSON.parse(renderLayoutIndex({ mediaType: MEDIA_TYPES.manifest, digest: LAYER.digest, size: 5 }, 'v1.34.12').bytes.toString());
    expect(index.manifests).toEqual([{ mediaType: MEDIA_TYPES.manifest, digest: LAYER.digest, size: 5, annotations: { 'org.opencontainers.image.ref.name': 'v1.34.12' } }]);
    expect(REF_NAME_ANNOTATION).toBe('org.opencontainers.image.ref.name');
    expect(() => renderLayoutIndex({ mediaType: MEDIA_TYPES.manifest, digest: LAYER.digest, size: 5 }, 'bad:tag')).toThrow(/"bad:tag"/);
  });
});

describe("the site's image specs", () => {
  const list = parseKubeadmImageList(KUBEADM_LIST.map((image) => `10.0.0.1:5000/k8s/${image}`).join('\n'), '10.0.0.1:5000/k8s');
  const specs = siteImageSpecs(list, (set, name) => `/artifacts/${set}/${name}`, { flannelTag: 'v0.28.4', testHttpdTag: 'busybox-1.35.0' });
  const spec = (name: string) => specs.find((s) => s.name === name)!;
  /** Every file path an image's layers place (Debian content aside), with its source. */
  const files = (s: ImageSpec) => s.layers.flatMap((layer) => (layer.entries ?? []).filter((e) => e.type === 'file').map((e) => ({ path: e.path, source: 'source' in e ? e.source : undefined })));
  const pathDirs = (s: ImageSpec) => s.runtime.env.find((e) => e.startsWith('PATH='))!.slice(5).split(':');

  it("parses kubeadm's list below a custom repository (coredns directly below it)", () => {
    expect(list.map((image) => `${image.name}:${image.tag}`)).toEqual(KUBEADM_LIST);
    expect(() => parseKubeadmImageList('registry.k8s.io/pause:3.10.1', '10.0.0.1:5000/k8s')).toThrow(/not below the repository 10.0.0.1:5000\/k8s/);
    expect(() => parseKubeadmImageList('', 'r')).toThrow(/no images/);
  });

  it("makes every image kubeadm names, with kubeadm's tags, plus flannel and the HTTP test server", () => {
    expect(specs.map((s) => `${s.name}:${s.tag}`)).toEqual([...KUBEADM_LIST, 'flannel/flannel:v0.28.4', 'hakube-test-httpd:busybox-1.35.0']);
    expect(() => siteImageSpecs([{ name: 'kube-dns', tag: '1' }], () => '/x', { flannelTag: 'v1', testHttpdTag: 't' })).toThrow(/kube-dns:1/);
  });

  it('control-plane images: the binary is the entrypoint and on PATH (kubeadm runs it by name)', () => {
    for (const name of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy']) {
      const s = spec(name);
      const entry = s.runtime.entrypoint[0];
      expect(entry.endsWith(`/${name}`)).toBe(true);
      expect(files(s)).toContainEqual({ path: entry, source: `/artifacts/kubernetes/${name}` });
      expect(pathDirs(s)).toContain(entry.slice(0, entry.lastIndexOf('/')));
    }
  });

  it('etcd: etcd, etcdctl and etcdutl in one PATH directory, etcd the entrypoint', () => {
    const s = spec('etcd');
    for (const tool of ['etcd', 'etcdctl', 'etcdutl']) {
      const file = files(s).find((f) => f.path.endsWith(`/${tool}`))!;
      expect(file.source).toBe(`/artifacts/etcd/${tool}`);
      expect(pathDirs(s)).toContain(file.path.slice(0, file.path.lastIndexOf('/')));
    }
    expect(s.runtime.entrypoint[0].endsWith('/etcd')).toBe(true);
  });

  it('coredns runs /coredns; pause runs /pause as 65535 from a single layer', () => {
    expect(spec('coredns').runtime.entrypoint).toEqual(['/coredns']);
    expect(files(spec('coredns'))).toContainEqual({ path: '/coredns', source: '/artifacts/coredns/coredns' });
    expect(spec('pause').runtime.entrypoint).toEqual(['/pause']);
    expect(spec('pause').runtime.user).toBe('65535:65535');
    expect(spec('pause').layers).toHaveLength(1);
    expect(files(spec('pause'))).toEqual([{ path: '/pause', source: '/artifacts/pause/pause' }]);
  });

  it('kube-proxy and flannel carry the Debian netfilter tools; flannel also busybox; the test server runs busybox httpd as nobody', () => {
    const roots = (s: ImageSpec) => s.layers.flatMap((layer) => layer.debian?.roots ?? []);
    expect(roots(spec('kube-proxy'))).toEqual(expect.arrayContaining(['iptables', 'nftables', 'conntrack']));
    expect(roots(spec('flannel/flannel'))).toEqual(expect.arrayContaining(['iptables', 'nftables', 'conntrack', 'busybox-static']));
    expect(roots(spec('kube-apiserver'))).toEqual([]);
    expect(spec('flannel/flannel').runtime.entrypoint).toEqual(['/opt/bin/flanneld']);
    expect(pathDirs(spec('flannel/flannel'))).toContain('/opt/bin');
    expect(pathDirs(spec('flannel/flannel'))).toContain('/usr/sbin');
    const httpd = spec('hakube-test-httpd');
    expect(roots(httpd)).toEqual(['busybox-static']);
    expect(httpd.runtime.entrypoint.slice(0, 2)).toEqual(['/bin/busybox', 'httpd']);
    expect(httpd.runtime.user).toBe('65534:65534');
  });

  it('links iptables, ip6tables and their save/restore to the nft variants through /etc/alternatives', () => {
    const links = Object.fromEntries(IPTABLES_ALTERNATIVES.map((a) => [a.link, a.target]));
    for (const tool of ['iptables', 'ip6tables']) {
      for (const suffix of ['', '-save', '-restore']) expect(links[`/usr/sbin/${tool}${suffix}`]).toBe(`/usr/sbin/${tool}-nft${suffix}`);
    }
  });

  it("reads readelf's NEEDED entries per file", () => {
    const out = `\nFile: /a\n\nDynamic section at offset 0x1 contains 3 entries:\n  Tag        Type                         Name/Value\n 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]\n 0x0000000000000001 (NEEDED)             Shared library: [libmnl.so.0]\n\nFile: /b\nThere is no dynamic section in this file.\n`;
    expect(parseReadelfNeeded(out, ['/a', '/b'])).toEqual([
      { file: '/a', needed: ['libc.so.6', 'libmnl.so.0'] },
      { file: '/b', needed: [] },
    ]);
  });
});

/** The manifest, config and layer blobs of a layout, checked against their digests. */
function readLayout(layoutDir: string, tag: string) {
  const blob = (digest: string) => readFileSync(join(layoutDir, 'blobs', 'sha256', digest.replace(/^sha256:/, '')));
  expect(JSON.parse(readFileSync(join(layoutDir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
  const index = JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8'));
  const entry = index.manifests.find((m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  const manifestBytes = blob(entry.digest);
  expect(`sha256:${hex(manifestBytes)}`).toBe(entry.digest);
  expect(manifestBytes.length).toBe(entry.size);
  const manifest = JSON.parse(manifestBytes.toString());
  const configBytes = blob(manifest.config.digest);
  expect(`sha256:${hex(configBytes)}`).toBe(manifest.config.digest);
  const config = JSON.parse(configBytes.toString());
  const layers = manifest.layers.map((layer: { digest: string; size: number }, i: number) => {
    const gz = blob(layer.digest);
    expect(`sha256:${hex(gz)}`).toBe(layer.digest);
    expect(gz.length).toBe(layer.size);
    const tar = gunzipSync(gz);
    expect(`sha256:${hex(tar)}`).toBe(config.rootfs.diff_ids[i]);
    return { gz, tar };
  });
  return { manifestDigest: entry.digest as string, manifest, config, layers };
}

/** Unpack an image's layers in order into a fresh directory. */
function unpack(layoutDir: string, tag: string): string {
  const { manifest } = readLayout(layoutDir, tag);
  const root = tempDir('hakube-airgap-rootfs-');
  for (const layer of manifest.layers) {
    const result = sh('tar', ['-xzf', join(layoutDir, 'blobs', 'sha256', layer.digest.replace(/^sha256:/, '')), '-C', root]);
    expect(result.status, result.stderr).toBe(0);
  }
  return root;
}

const isRoot = process.getuid?.() === 0;

describe('image layouts written without Docker', () => {
  it('pause: digests match content, the tar has mtime 0 and owner 0, skopeo reads it; the same inputs give the same digest', async () => {
    const artifacts = fakeArtifacts();
    const spec = siteImageSpecs([{ name: 'pause', tag: '3.10.1' }], artifactLookup(artifacts), { flannelTag: 'v0', testHttpdTag: 't' })[0];
    const cache = tempDir('hakube-airgap-img-');
    const image = await buildImage(spec, cache);
    expect(image.built).toBe(true);
    expect(image.layoutDir.startsWith(join(cache, 'images', 'pause-3.10.1-'))).toBe(true);
    const { manifestDigest, config, layers } = readLayout(image.layoutDir, '3.10.1');
    expect(manifestDigest).toBe(image.manifestDigest);
    expect(config.config.Entrypoint).toEqual(['/pause']);
    expect(config.config.User).toBe('65535:65535');
    const tarFile = join(tempDir('hakube-airgap-tar-'), 'layer.tar');
    writeFileSync(tarFile, layers[0].tar);
    const verbose = sh('tar', ['--numeric-owner', '--full-time', '-tvf', tarFile]).stdout.trim().split('\n');
    expect(verbose).toEqual([expect.stringMatching(/^-rwxr-xr-x 0\/0 +\d+ 1970-01-01 00:00:00 pause$/)]);
    const inspect = sh('skopeo', ['--insecure-policy', 'inspect', `oci:${image.layoutDir}:3.10.1`]);
    expect(inspect.status, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ Architecture: 'amd64', Os: 'linux' });

    const again = await buildImage(spec, tempDir('hakube-airgap-img-'));
    expect(again.manifestDigest).toBe(image.manifestDigest);
    expect((await buildImage(spec, cache)).built).toBe(false);
    // another pause binary is another image
    writeFileSync(join(artifacts.pause, 'pause'), '#!/bin/sh\necho other\n');
    expect((await buildImage(spec, cache)).manifestDigest).not.toBe(image.manifestDigest);
  }, 60_000);

  it.skipIf(!isRoot)('kube-proxy and flannel: iptables (nft and legacy), ip6tables, save/restore, nft, conntrack and a busybox shell run inside', async () => {
    const artifacts = fakeArtifacts();
    const specs = siteImageSpecs(
      [{ name: 'kube-proxy', tag: 'v1.34.12' }],
      artifactLookup(artifacts),
      { flannelTag: 'v0.28.4', testHttpdTag: 'busybox-test' },
    );
    const cache = tempDir('hakube-airgap-img-');
    const proxy = await buildImage(specs[0], cache);
    const flannel = await buildImage(specs[1], cache);
    const httpd = await buildImage(specs[2], cache);
    // flannel shares kube-proxy's base and netfilter layers
    const proxyLayers = readLayout(proxy.layoutDir, proxy.tag).manifest.layers.map((l: { digest: string }) => l.digest);
    const flannelLayers = readLayout(flannel.layoutDir, flannel.tag).manifest.layers.map((l: { digest: string }) => l.digest);
    expect(flannelLayers.slice(0, 2)).toEqual(proxyLayers.slice(0, 2));

    const root = unpack(flannel.layoutDir, flannel.tag);
    try {
      expect(readlinkSync(join(root, 'usr/sbin/iptables'))).toBe('/etc/alternatives/iptables');
      expect(readlinkSync(join(root, 'etc/alternatives/iptables'))).toBe('/usr/sbin/iptables-nft');
      const inside = (command: string) => sh('chroot', [root, '/bin/sh', '-c', `PATH=/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; ${command}`]);
      const expectations: Array<[string, RegExp]> = [
        ['iptables --version', /^iptables v1\.8\.\d+ \(nf_tables\)/],
        ['iptables-legacy --version', /^iptables v1\.8\.\d+ \(legacy\)/],
        ['ip6tables --version', /^ip6tables v1\.8\.\d+ \(nf_tables\)/],
        ['iptables-save --version', /^iptables-save v1\.8\.\d+ \(nf_tables\)/],
        ['iptables-restore --version', /^iptables-restore v1\.8\.\d+ \(nf_tables\)/],
        ['ip6tables-legacy-save --version', /^ip6tables-save v1\.8\.\d+ \(legacy\)/],
        ['nft --version', /^nftables v1\./],
        ['conntrack --version', /^conntrack v1\./],
        ['command -v iptables', /^\/usr\/sbin\/iptables$/],
        ['echo shell ok; cat /etc/passwd | cut -d: -f1 | head -1', /^shell ok\nroot$/],
      ];
      for (const [command, want] of expectations) {
        const result = inside(command);
        expect(result.status, `${command}: ${result.stderr}`).toBe(0);
        expect(result.stdout.trim(), command).toMatch(want);
      }
      expect(existsSync(join(root, 'usr/share/doc'))).toBe(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }

    const www = unpack(httpd.layoutDir, httpd.tag);
    try {
      expect(statSync(join(www, 'www/index.html')).isFile()).toBe(true);
      const applet = sh('chroot', [www, '/bin/busybox', 'httpd', '--help']);
      expect(`${applet.stdout}${applet.stderr}`).toMatch(/Listen for incoming HTTP requests/);
    } finally {
      rmSync(www, { recursive: true, force: true });
    }
  }, 300_000);

  it.skipIf(!HAVE_REAL_KUBERNETES)('the real kubeadm names the images the site makes', () => {
    const images = kubeadmImages(join(REAL_KUBERNETES_BIN, 'kubeadm'), '1.34.12');
    expect(images.map((image) => `${image.name}:${image.tag}`)).toEqual(KUBEADM_LIST);
  });
});
