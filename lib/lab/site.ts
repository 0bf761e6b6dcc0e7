import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type ServedSite, type Site, buildSite, serveSite, stopSite } from '../airgap/index.js';
import { artifactBinary } from '../airgap/artifacts.js';
import { type LabArtifacts, buildLabArtifacts } from '../build/lab-artifacts.js';
import { KUBERNETES_VERSION } from '../build/kubernetes.js';
import { ETCD_VERSION } from '../build/etcd.js';
import type { EtcdInstallSource } from '../render/etcd.js';
import type { ImageMirror } from '../render/image-mirror.js';
import type { KubeletConfigInput, KubeProxyConfigInput } from '../render/kubeadm-config.js';
import { LAB_CACHE_DIR, LAB_GATEWAY, LAB_RUN_DIR, type LabHostSpec, labPaths } from './config.js';
import { labFlannelManifest } from './flannel.js';
import { say, step } from './progress.js';

/**
 * The lab as an air-gapped site: Kubernetes built from source modules (lib/build), packaged as a pkgs.k8s.io-shaped
 * apt repository and OCI images (lib/airgap), served on the lab bridge — an apt repository on :8080 and a registry
 * on :5000. Hosts reach them directly (the apt proxy is only for Debian), and clusters use them through the same
 * product options a site with its own mirror uses: `nodePrep.kubernetesRepoBaseUrl` and `imageMirror`.
 */

/** Port of the site's apt repository on the bridge address. */
export const LAB_APT_REPO_PORT = 8080;
/** Port of the site's registry on the bridge address. */
export const LAB_REGISTRY_PORT = 5000;
/** Kubernetes version the lab site serves. */
export const LAB_KUBERNETES_VERSION = KUBERNETES_VERSION;
/** `kubernetesRepoBaseUrl` of the lab site. */
export const LAB_KUBERNETES_REPO_BASE_URL = `http://${LAB_GATEWAY}:${LAB_APT_REPO_PORT}/core:/stable:`;
/** Image repository of the lab site (every image of a lab cluster comes from here). */
export const LAB_IMAGE_REPOSITORY = `${LAB_GATEWAY}:${LAB_REGISTRY_PORT}/k8s`;
/** The public name of the flannel image the lab's manifest names (rewritten to the mirror by `imageMirror`). */
export const LAB_FLANNEL_IMAGE = 'docker.io/flannel/flannel:v0.28.4';
/** Port of the site's release downloads (etcd's tarball, laid out as upstream's: `<base>/v<version>/<name>.tar.gz`). */
export const LAB_RELEASES_PORT = 8081;
/** Base URL of etcd releases on the lab site (an `EtcdCluster` `install.baseUrl`). */
export const LAB_ETCD_RELEASE_BASE_URL = `http://${LAB_GATEWAY}:${LAB_RELEASES_PORT}/etcd`;
/** Port of the site's resolver on the bridge address (every lab host's nameserver). */
export const LAB_DNS_PORT = 53;
/** Pod network of lab clusters (kubeadm's `podSubnet`, flannel's network). */
export const LAB_POD_SUBNET = '10.244.0.0/16';

/** The repository signing key (kept across `down`, so hosts see one key). */
const SITE_KEY_DIR = join(LAB_CACHE_DIR, 'site-key');
/** The registry's blobs (kept across `down`: pushing again only uploads what changed). */
const REGISTRY_STORAGE_DIR = join(LAB_CACHE_DIR, 'registry');
const SITE_RUN_DIR = join(LAB_RUN_DIR, 'site');

/** A built lab site and the artifacts it was built from. */
export interface LabSite {
  readonly site: Site;
  readonly artifacts: LabArtifacts;
}

/** Build (or take from the caches) the artifacts and the site's packages and images. Long when cold. */
export async function buildLabSite(): Promise<LabSite> {
  const artifacts = await buildLabArtifacts();
  const site = await step(`air-gapped site for Kubernetes ${LAB_KUBERNETES_VERSION} (packages, repository, images)`, (progress) =>
    buildSite({ artifacts, kubernetesVersion: LAB_KUBERNETES_VERSION, keyDir: SITE_KEY_DIR, onProgress: (line) => progress.update(line) }),
  );
  return { site, artifacts };
}

/** Serve a built site on the bridge address (the bridge must exist), with its resolver and etcd's release tarball. */
export async function serveLabSite({ site, artifacts }: LabSite): Promise<ServedSite> {
  const releases = join(SITE_RUN_DIR, 'releases-root');
  writeEtcdRelease(artifacts, join(releases, 'etcd'));
  return step(`serving the site on ${LAB_GATEWAY} (apt :${LAB_APT_REPO_PORT}, registry :${LAB_REGISTRY_PORT}, dns :${LAB_DNS_PORT}, releases :${LAB_RELEASES_PORT})`, () =>
    serveSite({
      site,
      runDir: SITE_RUN_DIR,
      apt: { address: LAB_GATEWAY, port: LAB_APT_REPO_PORT },
      registry: { address: LAB_GATEWAY, port: LAB_REGISTRY_PORT },
      registryStorageDir: REGISTRY_STORAGE_DIR,
      dns: { listen: { address: LAB_GATEWAY, port: LAB_DNS_PORT }, corednsBinary: artifactBinary(artifacts, 'coredns', 'coredns') },
      releases: { listen: { address: LAB_GATEWAY, port: LAB_RELEASES_PORT }, dir: releases },
    }),
  );
}

/** etcd's release tarball name for a version (upstream's: `etcd-v<version>-linux-amd64`). */
function etcdReleaseName(version: string): string {
  return `etcd-v${version}-linux-amd64`;
}

/**
 * etcd's release tarball from the built binaries, laid out as upstream's (`v<version>/etcd-v<version>-linux-amd64.tar.gz`
 * holding `etcd-v<version>-linux-amd64/{etcd,etcdctl,etcdutl}`), written reproducibly (sorted, mtime 0, root-owned).
 */
function writeEtcdRelease(artifacts: LabArtifacts, dir: string): void {
  const name = etcdReleaseName(ETCD_VERSION);
  const staging = join(dir, 'staging', name);
  rmSync(join(dir, 'staging'), { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  for (const bin of ['etcd', 'etcdctl', 'etcdutl']) copyFileSync(artifactBinary(artifacts, 'etcd', bin), join(staging, bin));
  const target = join(dir, `v${ETCD_VERSION}`, `${name}.tar.gz`);
  mkdirSync(dirname(target), { recursive: true });
  execFileSync('sh', ['-c', 'tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$1" -cf - "$2" | gzip -n > "$3"', 'sh', join(dir, 'staging'), name, target]);
  rmSync(join(dir, 'staging'), { recursive: true, force: true });
}

/**
 * `EtcdCluster.install` for an external etcd on lab hosts: the etcd the lab built (kubeadm refuses Debian's 3.4),
 * as a release tarball from the running lab's site. Needs the lab up with `--kubernetes`.
 */
export function labEtcdInstall(): EtcdInstallSource {
  const file = join(SITE_RUN_DIR, 'releases-root', 'etcd', `v${ETCD_VERSION}`, `${etcdReleaseName(ETCD_VERSION)}.tar.gz`);
  if (!existsSync(file)) throw new Error(`the lab site serves no etcd release (${file} is missing): run \`hakube lab up --kubernetes\` first`);
  return { from: 'release', version: ETCD_VERSION, sha256: createHash('sha256').update(readFileSync(file)).digest('hex'), baseUrl: LAB_ETCD_RELEASE_BASE_URL };
}

/** Stop the site's servers. */
export async function stopLabSite(served: ServedSite): Promise<void> {
  await stopSite(served);
}

/**
 * apt configuration of every lab host: the site's repository is on the bridge and reached directly; everything else
 * keeps going through the apt proxy (which only fetches from the Debian mirrors).
 */
export function writeSiteAccess(spec: LabHostSpec): void {
  const target = join(spec.root, 'etc/apt/apt.conf.d/02hakube-lab-site');
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, `// hakube lab: the site's own repository on the bridge is reached directly\nAcquire::http::Proxy::${LAB_GATEWAY} "DIRECT";\n`, { mode: 0o644 });
}

/**
 * A lab host of a Kubernetes site names the site's resolver: kubelet hands this file to pods with the `Default` DNS
 * policy (CoreDNS among them), and CoreDNS refuses to start without an upstream nameserver.
 */
export function writeSiteResolver(spec: LabHostSpec): void {
  writeFileSync(join(spec.root, 'etc/resolv.conf'), `# hakube lab: the site's resolver on the bridge (it knows no outside name)\nnameserver ${LAB_GATEWAY}\n`, { mode: 0o644 });
}

/** What a cluster on lab hosts sets to use the lab site and run on containerised nodes. */
export interface LabClusterSettings {
  readonly kubernetesVersion: string;
  readonly imageMirror: ImageMirror;
  /** The site's package repository; and containers may not lower OOM scores (the hosts lack CAP_SYS_RESOURCE). */
  readonly nodePrep: { readonly kubernetesRepoBaseUrl: string; readonly restrictOomScoreAdj: boolean };
  /** kind's settings for a node inside a container: no swap check, no image or disk-pressure eviction of the machine's disk. */
  readonly kubelet: KubeletConfigInput;
  /** kube-proxy leaves the machine-wide conntrack limit alone. */
  readonly kubeProxy: KubeProxyConfigInput;
  readonly podSubnet: string;
  /** The lab's flannel manifest, written under `.hakube/lab/` (a file: an air-gapped cluster takes no URL). */
  readonly cni: { readonly plugin: 'flannel'; readonly manifest: string };
}

/**
 * Settings for `HaCluster`/`ControlPlane` on lab hosts; writes the flannel manifest to
 * `<projectDir>/.hakube/lab/flannel.yaml`, or `flannel-<host>-<port>.yaml` when flanneld is pointed at `apiServer`
 * (the cluster endpoint, `host:port`: see `LabFlannelOptions.apiServer`).
 */
export function labClusterSettings(projectDir?: string, apiServer?: string): LabClusterSettings {
  const name = apiServer === undefined ? 'flannel.yaml' : `flannel-${apiServer.replace(/[^a-z0-9.]+/gi, '-')}.yaml`;
  const manifest = join(labPaths(projectDir).labDir, name);
  mkdirSync(dirname(manifest), { recursive: true });
  writeFileSync(manifest, labFlannelManifest({ image: LAB_FLANNEL_IMAGE, podSubnet: LAB_POD_SUBNET, apiServer }));
  return {
    kubernetesVersion: LAB_KUBERNETES_VERSION,
    imageMirror: { repository: LAB_IMAGE_REPOSITORY, plainHttp: true },
    nodePrep: { kubernetesRepoBaseUrl: LAB_KUBERNETES_REPO_BASE_URL, restrictOomScoreAdj: true },
    kubelet: {
      failSwapOn: false,
      imageGCHighThresholdPercent: 100,
      evictionHard: { 'nodefs.available': '0%', 'nodefs.inodesFree': '0%', 'imagefs.available': '0%' },
    },
    kubeProxy: { conntrack: { maxPerCore: 0 } },
    podSubnet: LAB_POD_SUBNET,
    cni: { plugin: 'flannel', manifest },
  };
}

/** Say where the site is (after `up`). */
export function announceSite(served: ServedSite): void {
  say(`site: packages ${served.kubernetesRepoBaseUrl}, images ${served.imageRepository} (${served.images.length} images)`);
}
