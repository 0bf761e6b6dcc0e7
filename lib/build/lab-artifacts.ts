import { say } from '../lab/progress.js';
import type { Artifact } from './cache.js';
import { buildCniPlugins, cachedCniPlugins } from './cni-plugins.js';
import { buildCoredns, cachedCoredns } from './coredns.js';
import { buildCrictl, cachedCrictl } from './cri-tools.js';
import { buildEtcd, cachedEtcd } from './etcd.js';
import { buildFlannel, cachedFlannel } from './flannel.js';
import { cachedArtifact } from './go-module.js';
import { buildKubernetes, kubernetesRecipe } from './kubernetes.js';
import { buildPause, cachedPause } from './pause.js';

/** The binaries a lab Kubernetes cluster needs: each entry is a `bin` dir holding its binaries by name. */
export interface LabArtifacts {
  /** kubeadm, kubelet, kubectl, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy. */
  readonly kubernetes: string;
  /** etcd, etcdctl, etcdutl. */
  readonly etcd: string;
  /** coredns. */
  readonly coredns: string;
  /** CNI plugins: bridge, host-local, loopback, portmap, ptp, firewall, bandwidth. */
  readonly cniPlugins: string;
  /** crictl. */
  readonly crictl: string;
  /** flanneld (no flannel CNI plugin: it is not on the Go module proxy). */
  readonly flannel: string;
  /** pause. */
  readonly pause: string;
}

/** Options of `buildLabArtifacts`. */
export interface BuildLabArtifactsOptions {
  /** Where progress lines go. @default stderr, as `build: …` lines */
  readonly say?: (message: string) => void;
}

interface Entry {
  readonly key: keyof LabArtifacts;
  readonly build: () => Promise<Artifact>;
  readonly cached: () => Artifact | undefined;
}

/** In build order: the quick ones first, so a failure in them shows before Kubernetes' long build. */
const ENTRIES: readonly Entry[] = [
  { key: 'pause', build: buildPause, cached: cachedPause },
  { key: 'cniPlugins', build: buildCniPlugins, cached: cachedCniPlugins },
  { key: 'crictl', build: buildCrictl, cached: cachedCrictl },
  { key: 'etcd', build: buildEtcd, cached: cachedEtcd },
  { key: 'coredns', build: buildCoredns, cached: cachedCoredns },
  { key: 'flannel', build: buildFlannel, cached: cachedFlannel },
  { key: 'kubernetes', build: buildKubernetes, cached: () => cachedArtifact(kubernetesRecipe()) },
];

/** The lab's artifacts from the machine-wide cache, without building; undefined when any is missing. */
export function cachedLabArtifacts(): LabArtifacts | undefined {
  const dirs: Partial<Record<keyof LabArtifacts, string>> = {};
  for (const entry of ENTRIES) {
    const artifact = entry.cached();
    if (!artifact) return undefined;
    dirs[entry.key] = `${artifact.dir}/bin`;
  }
  return dirs as LabArtifacts;
}

/**
 * Build every artifact of the lab that is not in the machine-wide cache yet (one at a time: builds take both cores),
 * or reuse it. Says first what is missing and that a cold build takes tens of minutes on 2 cores.
 */
export async function buildLabArtifacts(options: BuildLabArtifactsOptions = {}): Promise<LabArtifacts> {
  const tell = options.say ?? ((message: string) => say(message, 'build'));
  const started = Date.now();
  const missing = ENTRIES.filter((entry) => !entry.cached()).map((entry) => entry.key);
  if (missing.length > 0) {
    tell(`not in the cache yet: ${missing.join(', ')}; a cold build of all takes tens of minutes on 2 cores (Kubernetes alone about 17 min)`);
  }
  const dirs: Partial<Record<keyof LabArtifacts, string>> = {};
  for (const [index, entry] of ENTRIES.entries()) {
    const artifact = await entry.build();
    dirs[entry.key] = `${artifact.dir}/bin`;
    const elapsed = Math.round((Date.now() - started) / 1000);
    tell(`[${index + 1}/${ENTRIES.length}] ${entry.key}: ${artifact.built ? `built in ${artifact.seconds.toFixed(0)} s` : 'cached'} (${elapsed} s elapsed)`);
  }
  const built = missing.length > 0 ? `${missing.length} built` : 'all from the cache';
  tell(`lab artifacts ready: ${built} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return dirs as LabArtifacts;
}
