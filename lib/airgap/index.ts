import { join } from 'node:path';
import { aptRepoDir, buildAptRepo } from './apt-repo.js';
import type { SiteArtifacts } from './artifacts.js';
import { buildKubernetesDebs, type DebVersions } from './debs.js';
import { AirgapError } from './exec.js';
import { artifactLookup, buildImage, debianVersion, kubeadmImages, siteImageSpecs } from './images.js';
import {
  type Listen,
  type Server,
  hostPort,
  isOurDnsServer,
  isOurRegistry,
  isOurStaticServer,
  pushImage,
  startDnsServer,
  startRegistry,
  startStaticServer,
  stopDnsServer,
  stopRegistry,
  stopStaticServer,
} from './registry.js';

/**
 * An air-gapped site's Kubernetes content, built from binaries on one machine: a signed apt repository laid out like
 * pkgs.k8s.io and OCI images for everything kubeadm pulls, plus flannel and an HTTP test server; then served from
 * that machine (a static HTTP server for the repository, docker-registry for the images).
 */

export type { SiteArtifacts } from './artifacts.js';
export { AirgapError } from './exec.js';
export type { Listen, Server } from './registry.js';

/** Where built packages, repositories, layers and image layouts are cached, machine-wide. */
export const AIRGAP_CACHE_DIR = '/var/cache/hakube/airgap';

/** Versions of the site's parts that kubeadm does not name. */
export interface SiteVersions {
  /** cri-tools package (crictl). @default "1.34.0" */
  readonly criTools?: string;
  /** kubernetes-cni package (the CNI plugins). @default "1.9.1" */
  readonly cni?: string;
  /** flannel image tag. @default "v0.28.4" */
  readonly flannel?: string;
}

export const DEFAULT_SITE_VERSIONS: Required<SiteVersions> = { criTools: '1.34.0', cni: '1.9.1', flannel: 'v0.28.4' };

export interface BuildSiteOptions {
  /** Directories of the binaries (lib/build's LabArtifacts fits). */
  readonly artifacts: SiteArtifacts;
  /** Kubernetes version of the packages and images, e.g. "1.34.12" (no leading v); kubeadm in artifacts must be it. */
  readonly kubernetesVersion: string;
  /** Machine-wide cache. @default AIRGAP_CACHE_DIR */
  readonly cacheDir?: string;
  /** Directory of the repository signing key (created 0700 with a new key when empty; never part of any output). */
  readonly keyDir: string;
  /** @default DEFAULT_SITE_VERSIONS */
  readonly versions?: SiteVersions;
  /** Progress lines. @default none */
  readonly onProgress?: (line: string) => void;
}

/** One image of the site. */
export interface SiteImage {
  /** Repository name below the site's image repository, e.g. "kube-apiserver". */
  readonly name: string;
  readonly tag: string;
  /** `<name>:<tag>`: append it to `<registry>/<repository>/`. */
  readonly reference: string;
  /** OCI layout (`oci:<layoutDir>:<tag>`). */
  readonly layoutDir: string;
  readonly manifestDigest: string;
  /** Bytes of its blobs (compressed layers, config, manifest). */
  readonly size: number;
}

/** A built site. */
export interface Site {
  readonly kubernetesVersion: string;
  /** Serve this directory: `<aptRoot>/core:/stable:/v1.34/deb/` is the repository. */
  readonly aptRoot: string;
  /** The repository of the release's minor version below aptRoot. */
  readonly aptRepoDir: string;
  /** Fingerprint of the repository signing key. */
  readonly keyFingerprint: string;
  /** The .deb files (in the cache). */
  readonly debs: readonly string[];
  readonly images: readonly SiteImage[];
  /** Wall seconds of the build. */
  readonly seconds: number;
}

/** The upstream part of a Debian version: no epoch, no revision ("1:1.35.0-4+deb12u1" → "1.35.0"). Pure. */
export function upstreamVersion(debianVersion: string): string {
  const noEpoch = debianVersion.replace(/^\d+:/, '');
  const dash = noEpoch.lastIndexOf('-');
  return dash > 0 ? noEpoch.slice(0, dash) : noEpoch;
}

/** Build (or take from the cache) the site's packages, repository and images. */
export async function buildSite(options: BuildSiteOptions): Promise<Site> {
  const started = Date.now();
  const { artifacts, kubernetesVersion, keyDir } = options;
  const cacheDir = options.cacheDir ?? AIRGAP_CACHE_DIR;
  const say = options.onProgress ?? (() => undefined);
  if (!/^\d+\.\d+\.\d+$/.test(kubernetesVersion)) throw new AirgapError(`buildSite: kubernetesVersion ${JSON.stringify(kubernetesVersion)} must be a version like "1.34.12" (no leading v)`);
  const versions = { ...DEFAULT_SITE_VERSIONS, ...options.versions };
  const debVersions: DebVersions = { kubernetes: kubernetesVersion, criTools: versions.criTools, cni: versions.cni };

  const debs = await buildKubernetesDebs(artifacts, debVersions, cacheDir);
  say(`airgap: packages ${debs.built ? 'built' : 'cached'} in ${debs.dir}`);
  const repo = await buildAptRepo({ debs: debs.debs, kubernetesVersion, keyDir, cacheDir });
  say(`airgap: apt repository ${repo.built ? 'built' : 'cached'} in ${repo.repoDir}`);

  const lookup = artifactLookup(artifacts);
  const list = kubeadmImages(lookup('kubernetes', 'kubeadm'), kubernetesVersion);
  const busybox = upstreamVersion(debianVersion('busybox-static'));
  const specs = siteImageSpecs(list, lookup, { flannelTag: versions.flannel, testHttpdTag: `busybox-${busybox}` });
  const images: SiteImage[] = [];
  for (const spec of specs) {
    const image = await buildImage(spec, cacheDir);
    say(`airgap: image ${spec.name}:${spec.tag} ${image.built ? 'built' : 'cached'} (${(image.size / 1e6).toFixed(1)} MB)`);
    images.push({ name: image.name, tag: image.tag, reference: `${image.name}:${image.tag}`, layoutDir: image.layoutDir, manifestDigest: image.manifestDigest, size: image.size });
  }
  return {
    kubernetesVersion,
    aptRoot: repo.root,
    aptRepoDir: aptRepoDir(repo.root, kubernetesVersion),
    keyFingerprint: repo.fingerprint,
    debs: debs.debs,
    images,
    seconds: (Date.now() - started) / 1000,
  };
}

export interface ServeSiteOptions {
  readonly site: Site;
  /** Where the servers keep their config, logs and scripts. */
  readonly runDir: string;
  /** Address and port of the apt repository's HTTP server. */
  readonly apt: Listen;
  /** Address and port of the registry. */
  readonly registry: Listen;
  /** The registry's blob storage (kept across restarts: a second push only uploads what changed). */
  readonly registryStorageDir: string;
  /** Image repository path in the registry: images become `<registry>/<repository>/<name>:<tag>`. @default "k8s" */
  readonly repository?: string;
  /** Also run the site's resolver (`renderCorefile`) with this CoreDNS binary on this address. @default no resolver */
  readonly dns?: { readonly listen: Listen; readonly corednsBinary: string };
  /** Also serve this directory of release downloads (e.g. etcd's tarballs, laid out as upstream's) on this address. @default none */
  readonly releases?: { readonly listen: Listen; readonly dir: string };
}

/** A served site: what hosts are configured with, and the processes to stop. */
export interface ServedSite {
  /** `kubernetesRepoBaseUrl` for node preparation: `http://<apt>/core:/stable:`. */
  readonly kubernetesRepoBaseUrl: string;
  /** kubeadm's `imageRepository`: `<registry>/<repository>`. */
  readonly imageRepository: string;
  /** Every pushed image, `<imageRepository>/<name>:<tag>`. */
  readonly images: readonly string[];
  readonly aptServer: Server;
  readonly registryServer: Server;
  /** The site's resolver, when `dns` was given: hosts name its address in /etc/resolv.conf. */
  readonly dnsServer?: Server;
  /** The release downloads' server, when `releases` was given. */
  readonly releaseServer?: Server;
}

/** Start the repository's HTTP server and the registry, push every image; on failure nothing is left running. */
export async function serveSite(options: ServeSiteOptions): Promise<ServedSite> {
  const repository = options.repository ?? 'k8s';
  const aptServer = await startStaticServer({ root: options.site.aptRoot, listen: options.apt, runDir: join(options.runDir, 'apt') });
  let registryServer: Server | undefined;
  let dnsServer: Server | undefined;
  let releaseServer: Server | undefined;
  try {
    registryServer = await startRegistry({ listen: options.registry, storageDir: options.registryStorageDir, runDir: join(options.runDir, 'registry') });
    const images = options.site.images.map((image) => pushImage({ layoutDir: image.layoutDir, tag: image.tag, registry: options.registry, repository, name: image.name }));
    if (options.dns) dnsServer = await startDnsServer({ binary: options.dns.corednsBinary, listen: options.dns.listen, runDir: join(options.runDir, 'dns') });
    if (options.releases) releaseServer = await startStaticServer({ root: options.releases.dir, listen: options.releases.listen, runDir: join(options.runDir, 'releases') });
    return {
      kubernetesRepoBaseUrl: `http://${hostPort(options.apt)}/core:/stable:`,
      imageRepository: `${hostPort(options.registry)}/${repository}`,
      images,
      aptServer,
      registryServer,
      ...(dnsServer ? { dnsServer } : {}),
      ...(releaseServer ? { releaseServer } : {}),
    };
  } catch (e) {
    await stopSite({ aptServer, registryServer, dnsServer, releaseServer });
    throw e;
  }
}

/** The site's server processes that still run (described for a message); empty after `stopSite`. */
export function runningSiteServers(served: Pick<ServedSite, 'aptServer' | 'registryServer' | 'dnsServer' | 'releaseServer'>): string[] {
  return [
    ...(served.releaseServer && isOurStaticServer(served.releaseServer.pid, served.releaseServer.runDir) ? [`process ${served.releaseServer.pid} (release downloads server)`] : []),
    ...(served.dnsServer && isOurDnsServer(served.dnsServer.pid, served.dnsServer.runDir) ? [`process ${served.dnsServer.pid} (site resolver, coredns)`] : []),
    ...(isOurRegistry(served.registryServer.pid, served.registryServer.runDir) ? [`process ${served.registryServer.pid} (docker-registry)`] : []),
    ...(isOurStaticServer(served.aptServer.pid, served.aptServer.runDir) ? [`process ${served.aptServer.pid} (apt repository server)`] : []),
  ];
}

/** Stop a served site's processes (each only when its PID still is the process started for it). */
export async function stopSite(served: { aptServer: Server; registryServer?: Server; dnsServer?: Server; releaseServer?: Server }): Promise<void> {
  if (served.releaseServer) await stopStaticServer(served.releaseServer);
  if (served.dnsServer) await stopDnsServer(served.dnsServer);
  if (served.registryServer) await stopRegistry(served.registryServer);
  await stopStaticServer(served.aptServer);
}
