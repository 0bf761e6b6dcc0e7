import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, createWriteStream, existsSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { type SiteArtifacts, artifactBinary } from './artifacts.js';
import { type DebianPackage, candidates, dependencyClosure, fetchPackages } from './debian.js';
import { fillCache, isComplete } from '../build/cache.js';
import { LAB_PATH } from '../lab/exec.js';
import { AirgapError, fileDigest, run, sha256 } from './exec.js';
import { type ImageRuntime, type LayerInfo, renderImageConfig, renderLayoutIndex, renderLayoutMarker, renderManifest } from './oci.js';

/**
 * The site's container images, written as OCI image layouts without Docker: what `kubeadm config images list`
 * names for the release (control plane, kube-proxy, etcd, CoreDNS, pause), the CNI's image (flannel) and a tiny
 * HTTP test server. Layers are reproducible tars (sorted names, mtime 0, owner 0) cached one by one, so the layers
 * images share (a base, the netfilter tools, busybox) are built and stored once.
 */

/** One entry of a layer. */
export type LayerEntry =
  | { readonly type: 'dir'; readonly path: string; readonly mode: number }
  | { readonly type: 'file'; readonly path: string; readonly mode: number; readonly source?: string; readonly text?: string }
  | { readonly type: 'symlink'; readonly path: string; readonly target: string };

/** Debian packages unpacked into a layer. */
export interface DebianContent {
  /** Packages whose dependency closure is unpacked (Depends and Pre-Depends). */
  readonly roots: readonly string[];
  /** Paths (relative, no leading slash) removed after unpacking: docs, locales. @default none */
  readonly prune?: readonly string[];
  /** Add a `/bin/<applet>` link for every applet of the unpacked /bin/busybox. @default false */
  readonly busyboxLinks?: boolean;
}

/** What one layer holds: Debian packages first, then `entries` on top. */
export interface LayerSpec {
  /** What the layer is, recorded as its history entry. */
  readonly description: string;
  /** @default none */
  readonly debian?: DebianContent;
  /** @default none */
  readonly entries?: readonly LayerEntry[];
}

/** One image: layers bottom first, and its runtime settings. */
export interface ImageSpec {
  /** Repository name below the site's image repository, e.g. "kube-apiserver". */
  readonly name: string;
  readonly tag: string;
  readonly layers: readonly LayerSpec[];
  readonly runtime: ImageRuntime;
}

/** PATH of every image (the netfilter tools live in /usr/sbin). */
export const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The user the pause container runs as (upstream's image does the same). */
export const PAUSE_USER = '65535:65535';
/** The HTTP test server's port and user (nobody). */
export const TEST_HTTPD_PORT = 8080;
export const TEST_HTTPD_USER = '65534:65534';
/** The flannel image's name below the site's repository: the public image's path (docker.io/flannel/flannel). */
export const FLANNEL_IMAGE_NAME = 'flannel/flannel';
export const TEST_HTTPD_NAME = 'hakube-test-httpd';

/** Docs and translations nobody reads inside an image. */
const PRUNE = ['usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/lintian', 'usr/share/locale', 'usr/share/bug', 'usr/lib/x86_64-linux-gnu/gconv'];

/** Directories and account files every image but pause starts from. */
export function baseLayer(): LayerSpec {
  return {
    description: 'hakube base: /etc accounts, /tmp, /run',
    entries: [
      { type: 'dir', path: '/etc', mode: 0o755 },
      { type: 'file', path: '/etc/passwd', mode: 0o644, text: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' },
      { type: 'file', path: '/etc/group', mode: 0o644, text: 'root:x:0:\nnogroup:x:65534:\n' },
      { type: 'file', path: '/etc/nsswitch.conf', mode: 0o644, text: 'hosts: files dns\nnetworks: files\npasswd: files\ngroup: files\n' },
      { type: 'dir', path: '/root', mode: 0o700 },
      { type: 'dir', path: '/run', mode: 0o755 },
      { type: 'dir', path: '/tmp', mode: 0o1777 },
      { type: 'dir', path: '/var', mode: 0o755 },
      { type: 'symlink', path: '/var/run', target: '../run' },
    ],
  };
}

/**
 * The `update-alternatives` links Debian's iptables package makes when it is configured, nft variants selected (its
 * default, and what a Debian 12 host uses: kube-proxy must write rules with the host's backend).
 */
export const IPTABLES_ALTERNATIVES: ReadonlyArray<{ readonly link: string; readonly target: string }> = ['iptables', 'ip6tables', 'arptables', 'ebtables'].flatMap((tool) =>
  ['', '-restore', '-save'].map((suffix) => ({ link: `/usr/sbin/${tool}${suffix}`, target: `/usr/sbin/${tool}-nft${suffix}` })),
);

/** iptables (legacy and nft), ip6tables, nft and conntrack from Debian, with their libraries and libc. */
export function netfilterLayer(): LayerSpec {
  return {
    description: 'netfilter tools from Debian: iptables (nft and legacy), nftables, conntrack',
    debian: { roots: ['iptables', 'nftables', 'conntrack', 'netbase'], prune: PRUNE },
    entries: [
      { type: 'dir', path: '/etc/alternatives', mode: 0o755 },
      ...IPTABLES_ALTERNATIVES.flatMap(({ link, target }): LayerEntry[] => {
        const name = link.slice(link.lastIndexOf('/') + 1);
        return [
          { type: 'symlink', path: `/etc/alternatives/${name}`, target },
          { type: 'symlink', path: link, target: `/etc/alternatives/${name}` },
        ];
      }),
      // iptables-legacy takes this lock; kube-proxy's DaemonSet mounts the host's over it
      { type: 'dir', path: '/run', mode: 0o755 },
    ],
  };
}

/** busybox from Debian's busybox-static, a link in /bin for each applet: a shell and the usual tools. */
export function busyboxLayer(): LayerSpec {
  return { description: 'busybox from Debian busybox-static', debian: { roots: ['busybox-static'], prune: PRUNE, busyboxLinks: true } };
}

function binariesLayer(description: string, files: ReadonlyArray<{ path: string; source: string }>): LayerSpec {
  return { description, entries: files.map(({ path, source }) => ({ type: 'file', path, mode: 0o755, source })) };
}

/** An image named by `kubeadm config images list`: repository name and tag. */
export interface KubeadmImage {
  readonly name: string;
  readonly tag: string;
}

/** The images of `kubeadm config images list --image-repository <repository>` output. Pure. */
export function parseKubeadmImageList(output: string, repository: string): KubeadmImage[] {
  const images: KubeadmImage[] = [];
  for (const line of output.split('\n').map((l) => l.trim()).filter(Boolean)) {
    if (!line.startsWith(`${repository}/`)) throw new AirgapError(`kubeadm config images list: ${JSON.stringify(line)} is not below the repository ${repository}`);
    const rest = line.slice(repository.length + 1);
    const colon = rest.lastIndexOf(':');
    if (colon <= 0) throw new AirgapError(`kubeadm config images list: ${JSON.stringify(line)} has no tag`);
    images.push({ name: rest.slice(0, colon), tag: rest.slice(colon + 1) });
  }
  if (images.length === 0) throw new AirgapError('kubeadm config images list printed no images');
  return images;
}

/** The repository given to kubeadm to learn image names (any name works; it is stripped again). */
const PROBE_REPOSITORY = 'hakube.invalid/airgap';

/** Ask the release's kubeadm which images it wants (names below a custom repository, and tags). */
export function kubeadmImages(kubeadm: string, kubernetesVersion: string): KubeadmImage[] {
  const out = run(kubeadm, ['config', 'images', 'list', '--kubernetes-version', `v${kubernetesVersion}`, '--image-repository', PROBE_REPOSITORY]);
  return parseKubeadmImageList(out, PROBE_REPOSITORY);
}

/** Finds a binary of the site's artifacts (`artifactBinary` by default; tests pass their own). */
export type BinaryLookup = (set: keyof SiteArtifacts, name: string) => string;

/** What `siteImageSpecs` needs besides kubeadm's list. */
export interface SiteImageOptions {
  /** Tag of the flannel image, e.g. "v0.28.4". */
  readonly flannelTag: string;
  /** Tag of the HTTP test server image. */
  readonly testHttpdTag: string;
}

/**
 * Every image of the site: one per image kubeadm names (an image kubeadm wants that hakube cannot make is an
 * error), then flannel and the HTTP test server. Pure given `bin`.
 */
export function siteImageSpecs(kubeadmList: readonly KubeadmImage[], bin: BinaryLookup, options: SiteImageOptions): ImageSpec[] {
  const env = [`PATH=${IMAGE_PATH}`];
  const controlPlane = (name: string, tag: string, extra: LayerSpec[] = []): ImageSpec => ({
    name,
    tag,
    layers: [baseLayer(), ...extra, binariesLayer(`${name} ${tag}`, [{ path: `/usr/local/bin/${name}`, source: bin('kubernetes', name) }])],
    runtime: { entrypoint: [`/usr/local/bin/${name}`], env },
  });
  const specs = kubeadmList.map(({ name, tag }): ImageSpec => {
    switch (name) {
      case 'kube-apiserver':
      case 'kube-controller-manager':
      case 'kube-scheduler':
        return controlPlane(name, tag);
      case 'kube-proxy':
        return controlPlane(name, tag, [netfilterLayer()]);
      case 'etcd':
        return {
          name,
          tag,
          layers: [baseLayer(), binariesLayer(`etcd ${tag}`, ['etcd', 'etcdctl', 'etcdutl'].map((tool) => ({ path: `/usr/local/bin/${tool}`, source: bin('etcd', tool) })))],
          // kubeadm's static pod runs `etcd` by name
          runtime: { entrypoint: ['/usr/local/bin/etcd'], env },
        };
      case 'coredns':
        return {
          name,
          tag,
          layers: [baseLayer(), binariesLayer(`coredns ${tag}`, [{ path: '/coredns', source: bin('coredns', 'coredns') }])],
          // root: binding port 53 as another user needs file capabilities; kubeadm's Deployment allows root
          runtime: { entrypoint: ['/coredns'], env, exposedPorts: ['53/tcp', '53/udp', '9153/tcp'] },
        };
      case 'pause':
        return {
          name,
          tag,
          layers: [binariesLayer(`pause ${tag}`, [{ path: '/pause', source: bin('pause', 'pause') }])],
          runtime: { entrypoint: ['/pause'], env, user: PAUSE_USER },
        };
      default:
        throw new AirgapError(`kubeadm wants the image ${name}:${tag}, which the air-gapped site cannot build (it makes kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, etcd, coredns and pause)`);
    }
  });
  specs.push({
    // the public image's path (docker.io/flannel/flannel), so a manifest rewritten to the mirror names it
    name: FLANNEL_IMAGE_NAME,
    tag: options.flannelTag,
    layers: [baseLayer(), netfilterLayer(), busyboxLayer(), binariesLayer(`flanneld ${options.flannelTag}`, [{ path: '/opt/bin/flanneld', source: bin('flannel', 'flanneld') }])],
    runtime: { entrypoint: ['/opt/bin/flanneld'], env: [`PATH=/opt/bin:${IMAGE_PATH}`] },
  });
  specs.push({
    name: TEST_HTTPD_NAME,
    tag: options.testHttpdTag,
    layers: [
      baseLayer(),
      busyboxLayer(),
      {
        description: 'hakube HTTP test content',
        entries: [
          { type: 'dir', path: '/www', mode: 0o755 },
          { type: 'file', path: '/www/index.html', mode: 0o644, text: 'hakube air-gapped test server\n' },
          { type: 'dir', path: '/www/cgi-bin', mode: 0o755 },
          // which pod answered: a load-balancing test can count the names
          { type: 'file', path: '/www/cgi-bin/hostname', mode: 0o755, text: '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\nhostname\n' },
        ],
      },
    ],
    runtime: {
      entrypoint: ['/bin/busybox', 'httpd', '-f', '-v', '-p', String(TEST_HTTPD_PORT), '-h', '/www'],
      env,
      user: TEST_HTTPD_USER,
      exposedPorts: [`${TEST_HTTPD_PORT}/tcp`],
    },
  });
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.has(spec.name)) throw new AirgapError(`image ${spec.name} is named twice`);
    seen.add(spec.name);
  }
  return specs;
}

/** The default lookup: binaries of `artifacts`, checked to exist. */
export function artifactLookup(artifacts: SiteArtifacts): BinaryLookup {
  return (set, name) => artifactBinary(artifacts, set, name);
}

/** Bump when layers change in a way their specs do not show (tar flags, pruning, links). */
const LAYER_RECIPE = 'layer-1';

/** A layer in the cache. */
interface CachedLayer extends LayerInfo {
  readonly file: string;
}

/** Debian packages of a layer, pinned at the machine's candidates (memoised per process). */
const pinMemo = new Map<string, DebianPackage[]>();

function pinDebian(content: DebianContent): DebianPackage[] {
  const key = [...content.roots].sort().join(' ');
  let pins = pinMemo.get(key);
  if (!pins) {
    pins = candidates(dependencyClosure(content.roots));
    pinMemo.set(key, pins);
  }
  return pins;
}

/** The version of Debian package `name` a layer unpacking it (alone, with its dependencies) gets. */
export function debianVersion(name: string): string {
  const pin = pinDebian({ roots: [name] }).find((pkg) => pkg.name === name);
  if (!pin) throw new AirgapError(`Debian package ${name} is not among its own dependency closure`);
  return pin.version;
}

/** The cache key of a layer: its spec, the sha256 of every file it copies, the Debian packages it unpacks. */
async function layerKey(spec: LayerSpec): Promise<{ hash: string; pins: DebianPackage[] }> {
  const pins = spec.debian ? pinDebian(spec.debian) : [];
  const entries = await Promise.all(
    (spec.entries ?? []).map(async (entry) => (entry.type === 'file' && entry.source ? { ...entry, source: await fileDigest(entry.source) } : entry)),
  );
  const hash = sha256(JSON.stringify({ recipe: LAYER_RECIPE, description: spec.description, debian: spec.debian, pins, entries })).slice(0, 24);
  return { hash, pins };
}

/** Build a layer into `<cacheDir>/layers/<hash>/` (or take it from there). */
async function buildLayer(spec: LayerSpec, cacheDir: string): Promise<CachedLayer & { built: boolean }> {
  const { hash, pins } = await layerKey(spec);
  const dir = join(cacheDir, 'layers', hash);
  const built = await fillCache(dir, { recipe: LAYER_RECIPE, description: spec.description, debian: pins }, async (into) => {
    const stage = join(into, 'rootfs');
    mkdirSync(stage);
    if (spec.debian) {
      const fetched = await fetchPackages(pins, cacheDir);
      for (const pkg of fetched) run('dpkg-deb', ['-x', pkg.file, stage]);
      for (const path of spec.debian.prune ?? []) rmSync(join(stage, path), { recursive: true, force: true });
      if (spec.debian.busyboxLinks) addBusyboxLinks(stage);
    }
    for (const entry of spec.entries ?? []) addEntry(stage, entry);
    const missing = missingLibraries(stage);
    if (missing.length) throw new AirgapError(`layer "${spec.description}": libraries missing from the layer: ${missing.join('; ')}`);
    const info = await writeLayerTar(stage, join(into, 'layer.tar.gz'));
    writeFileSync(join(into, 'layer.json'), `${JSON.stringify({ ...info, createdBy: spec.description })}\n`);
    rmSync(stage, { recursive: true, force: true });
  });
  const info = JSON.parse(readFileSync(join(dir, 'layer.json'), 'utf8')) as LayerInfo;
  return { ...info, file: join(dir, 'layer.tar.gz'), built };
}

function addEntry(stage: string, entry: LayerEntry): void {
  if (!entry.path.startsWith('/') || entry.path.split('/').includes('..')) throw new AirgapError(`layer entry path ${JSON.stringify(entry.path)} must be absolute without ..`);
  const target = join(stage, entry.path);
  mkdirSync(dirname(target), { recursive: true });
  if (entry.type === 'dir') {
    mkdirSync(target, { recursive: true });
    chmodSync(target, entry.mode);
    return;
  }
  rmSync(target, { force: true, recursive: false });
  if (entry.type === 'symlink') {
    symlinkSync(entry.target, target);
    return;
  }
  if ((entry.source === undefined) === (entry.text === undefined)) throw new AirgapError(`layer file ${entry.path} needs exactly one of source and text`);
  if (entry.source !== undefined) copyFileSync(entry.source, target);
  else writeFileSync(target, entry.text!);
  chmodSync(target, entry.mode);
}

/** `/bin/<applet>` → busybox for every applet the unpacked busybox reports (existing files are kept). */
function addBusyboxLinks(stage: string): void {
  const busybox = join(stage, 'bin', 'busybox');
  if (!existsSync(busybox)) throw new AirgapError(`busybox layer: ${busybox} is missing after unpacking busybox-static`);
  const applets = run(busybox, ['--list']).split('\n').map((name) => name.trim()).filter((name) => name && name !== 'busybox' && !name.includes('/'));
  if (applets.length < 50 || !applets.includes('sh')) throw new AirgapError(`busybox --list reported ${applets.length} applets and ${applets.includes('sh') ? '' : 'no '}sh`);
  for (const applet of applets) {
    const link = join(stage, 'bin', applet);
    if (!existsSync(link)) symlinkSync('busybox', link);
  }
}

/** The library directories of an amd64 Debian system, where the dynamic loader looks. */
const LIBRARY_DIRS = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu', 'lib64', 'lib', 'usr/lib'];

/**
 * Every shared library an ELF file in `stage` needs (readelf's NEEDED entries) that is in none of the library
 * directories of `stage`: `<file>: <library>` lines, empty when the layer is self-contained.
 */
export function missingLibraries(stage: string): string[] {
  const elves = walkFiles(stage).filter(isDynamicCandidate);
  const missing: string[] = [];
  for (let i = 0; i < elves.length; i += 200) {
    const batch = elves.slice(i, i + 200);
    const out = run('readelf', ['-d', '-W', ...batch]);
    for (const { file, needed } of parseReadelfNeeded(out, batch)) {
      for (const lib of needed) {
        if (!LIBRARY_DIRS.some((dir) => existsSync(join(stage, dir, lib)))) missing.push(`${file.slice(stage.length)}: ${lib}`);
      }
    }
  }
  return missing;
}

/** The NEEDED entries per file of `readelf -d` output for `files` (in order). Pure. */
export function parseReadelfNeeded(output: string, files: readonly string[]): Array<{ file: string; needed: string[] }> {
  if (files.length === 1) return [{ file: files[0], needed: [...output.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]) }];
  const result: Array<{ file: string; needed: string[] }> = [];
  const sections = output.split(/^File: /m).slice(1);
  for (const section of sections) {
    const file = section.slice(0, section.indexOf('\n')).trim();
    result.push({ file, needed: [...section.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]) });
  }
  return result;
}

function walkFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...walkFiles(path));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

/** A regular ELF file (by its magic bytes). */
function isDynamicCandidate(path: string): boolean {
  if (statSync(path).size < 64) return false;
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4);
    readSync(fd, head, 0, 4, 0);
    return head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    closeSync(fd);
  }
}

/**
 * Tar `stage` reproducibly (GNU tar: names sorted, mtime 0, owner and group 0) and gzip it into `out`; returns the
 * blob's digest and size and the tar's digest (the diff id).
 */
async function writeLayerTar(stage: string, out: string): Promise<Omit<LayerInfo, 'createdBy'>> {
  const top = readdirSync(stage).sort();
  if (top.length === 0) throw new AirgapError(`layer ${stage} is empty`);
  const tar = spawn('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--format=gnu', '-C', stage, '-cf', '-', '--', ...top], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PATH: LAB_PATH, LC_ALL: 'C' },
  });
  let stderr = '';
  tar.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    tar.on('error', reject);
    tar.on('close', resolve);
  });
  const diff = createHash('sha256');
  const blob = createHash('sha256');
  let size = 0;
  await pipeline(
    tar.stdout,
    new Transform({ transform: (chunk: Buffer, _enc, done) => (diff.update(chunk), done(null, chunk)) }),
    createGzip({ level: 6 }),
    new Transform({ transform: (chunk: Buffer, _enc, done) => (blob.update(chunk), (size += chunk.length), done(null, chunk)) }),
    createWriteStream(out),
  );
  const code = await exited;
  if (code !== 0) throw new AirgapError(`tar of ${stage} failed (exit ${code}): ${stderr.trim()}`);
  return { digest: `sha256:${blob.digest('hex')}`, size, diffId: `sha256:${diff.digest('hex')}` };
}

/** A built image: its OCI layout (one manifest, named by the tag). */
export interface BuiltImage {
  readonly name: string;
  readonly tag: string;
  /** The OCI layout directory (`oci:<layoutDir>:<tag>` for skopeo). */
  readonly layoutDir: string;
  /** Digest of the image manifest, the same once pushed to a registry. */
  readonly manifestDigest: string;
  /** Bytes of the layers (compressed), config and manifest. */
  readonly size: number;
  /** Whether this call wrote the layout (false: it was in the cache). */
  readonly built: boolean;
}

/** Bump when layouts change in a way their layers and configs do not show. */
const IMAGE_RECIPE = 'image-1';

/**
 * Build `spec` as an OCI layout in `<cacheDir>/images/<name>-<tag>-<hash>/` (the hash covers every layer's key and
 * the runtime settings), or take it from there. Blobs are hard links to the layer cache where it can.
 */
export async function buildImage(spec: ImageSpec, cacheDir: string): Promise<BuiltImage> {
  const keys = await Promise.all(spec.layers.map(async (layer) => (await layerKey(layer)).hash));
  const hash = sha256(JSON.stringify({ recipe: IMAGE_RECIPE, keys, runtime: spec.runtime, tag: spec.tag })).slice(0, 16);
  const layoutDir = join(cacheDir, 'images', `${spec.name.replaceAll('/', '_')}-${spec.tag}-${hash}`);
  let built = false;
  if (!isComplete(layoutDir)) {
    const layers: CachedLayer[] = [];
    for (const layer of spec.layers) layers.push(await buildLayer(layer, cacheDir));
    built = await fillCache(layoutDir, { recipe: IMAGE_RECIPE, name: spec.name, tag: spec.tag, layers: keys }, (into) => writeLayout(into, spec, layers));
  }
  const index = JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const manifestDigest = index.manifests[0].digest;
  return { name: spec.name, tag: spec.tag, layoutDir, manifestDigest, size: layoutSize(layoutDir, manifestDigest), built };
}

function writeLayout(dir: string, spec: ImageSpec, layers: readonly CachedLayer[]): void {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  for (const layer of layers) {
    const target = join(blobs, layer.digest.slice('sha256:'.length));
    if (existsSync(target)) continue;
    try {
      linkSync(layer.file, target);
    } catch {
      copyFileSync(layer.file, target);
    }
  }
  const config = renderImageConfig(spec.runtime, layers);
  const manifest = renderManifest(config.descriptor, layers);
  for (const blob of [config, manifest]) writeFileSync(join(blobs, blob.descriptor.digest.slice('sha256:'.length)), blob.bytes);
  writeFileSync(join(dir, 'index.json'), renderLayoutIndex(manifest.descriptor, spec.tag).bytes);
  writeFileSync(join(dir, 'oci-layout'), renderLayoutMarker());
}

/** Bytes of an image's manifest, config and layers in a layout. */
export function layoutSize(layoutDir: string, manifestDigest: string): number {
  const blob = (digest: string) => join(layoutDir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  const manifest = JSON.parse(readFileSync(blob(manifestDigest), 'utf8')) as { config: { size: number }; layers: Array<{ size: number }> };
  return lstatSync(blob(manifestDigest)).size + manifest.config.size + manifest.layers.reduce((sum, layer) => sum + layer.size, 0);
}
