import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AirgapError } from './exec.js';

/**
 * The binaries a site is built from: each field a directory holding binaries by name. Structurally the same as
 * `LabArtifacts` of lib/build/lab-artifacts.ts (which builds them from pinned Go modules); any directories with the
 * same names will do.
 */
export interface SiteArtifacts {
  /** kubeadm, kubelet, kubectl, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy. */
  readonly kubernetes: string;
  /** etcd, etcdctl, etcdutl. */
  readonly etcd: string;
  /** coredns. */
  readonly coredns: string;
  /** CNI plugins (bridge, host-local, loopback, portmap, ...): every file in it goes into kubernetes-cni. */
  readonly cniPlugins: string;
  /** crictl. */
  readonly crictl: string;
  /** flanneld. */
  readonly flannel: string;
  /** pause (static). */
  readonly pause: string;
}

/** The path of binary `name` in `artifacts[set]`; an error naming both when it is not an executable file. */
export function artifactBinary(artifacts: SiteArtifacts, set: keyof SiteArtifacts, name: string): string {
  const dir = artifacts[set];
  if (typeof dir !== 'string' || dir === '') throw new AirgapError(`artifacts.${set} is not set: it must be the directory holding ${name}`);
  const path = join(dir, name);
  if (!existsSync(path) || !statSync(path).isFile()) throw new AirgapError(`artifacts.${set}: ${path} is missing (the directory must hold the binary ${name})`);
  if ((statSync(path).mode & 0o111) === 0) throw new AirgapError(`artifacts.${set}: ${path} is not executable`);
  return path;
}
