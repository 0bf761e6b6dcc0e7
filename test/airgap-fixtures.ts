import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { SiteArtifacts } from '../lib/airgap/artifacts.js';
import { fakeBinary, tempDir } from './fixtures.js';

/** The real Kubernetes v1.34.12 binaries, when this machine has built them (lib/build/kubernetes.ts). */
export const REAL_KUBERNETES_BIN = '/var/cache/hakube/build/kubernetes-v1.34.12-671ff94420ade6b5/bin';
export const HAVE_REAL_KUBERNETES = existsSync(join(REAL_KUBERNETES_BIN, 'kubeadm'));

/**
 * Stand-in artifacts: shell scripts for every binary, in fresh temp dirs. `kubernetes` may be given (the real
 * binaries); otherwise its kubeadm prints the image list kubeadm 1.34.12 prints.
 */
export function fakeArtifacts(kubernetes?: string): SiteArtifacts {
  const root = tempDir('hakube-airgap-art-');
  const dir = (name: string) => join(root, name);
  if (!kubernetes) {
    for (const name of ['kubelet', 'kubectl', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy']) fakeBinary(dir('kubernetes'), name);
    fakeBinary(
      dir('kubernetes'),
      'kubeadm',
      `[ "$1 $2 $3" = "config images list" ] || exit 2
repo=registry.k8s.io
while [ $# -gt 0 ]; do [ "$1" = --image-repository ] && repo=$2; shift; done
for image in kube-apiserver:v1.34.12 kube-controller-manager:v1.34.12 kube-scheduler:v1.34.12 kube-proxy:v1.34.12 coredns:v1.12.1 pause:3.10.1 etcd:3.6.5-0; do echo "$repo/$image"; done`,
    );
  }
  for (const name of ['etcd', 'etcdctl', 'etcdutl']) fakeBinary(dir('etcd'), name);
  fakeBinary(dir('coredns'), 'coredns');
  for (const name of ['bridge', 'host-local', 'loopback', 'portmap']) fakeBinary(dir('cni'), name);
  fakeBinary(dir('crictl'), 'crictl');
  fakeBinary(dir('flannel'), 'flanneld');
  fakeBinary(dir('pause'), 'pause');
  return { kubernetes: kubernetes ?? dir('kubernetes'), etcd: dir('etcd'), coredns: dir('coredns'), cniPlugins: dir('cni'), crictl: dir('crictl'), flannel: dir('flannel'), pause: dir('pause') };
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Run a command; returns status and output (never throws). */
export function sh(cmd: string, args: string[], options: { cwd?: string; input?: string } = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(cmd, args, { encoding: 'utf8', cwd: options.cwd, input: options.input, maxBuffer: 256 * 1024 * 1024 });
  return { status: result.status, stdout: result.stdout ?? '', stderr: `${result.stderr ?? ''}${result.error?.message ?? ''}` };
}

/** Fields of a deb822 stanza (continuation lines joined with newlines). */
export function parseStanza(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  let last = '';
  for (const line of text.split('\n')) {
    if (/^\s/.test(line) && last) fields[last] += `\n${line.trim()}`;
    else {
      const match = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (match) {
        last = match[1];
        fields[last] = match[2];
      }
    }
  }
  return fields;
}

/** `[section]` → key → values of a systemd unit file. */
export function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const sections: Record<string, Record<string, string[]>> = {};
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = header[1];
      sections[current] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    (sections[current][key] ??= []).push(line.slice(eq + 1));
  }
  return sections;
}
