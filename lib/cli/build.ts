import { parseArgs } from 'node:util';
import type { Artifact } from '../build/cache.js';
import { buildCniPlugins } from '../build/cni-plugins.js';
import { buildCoredns } from '../build/coredns.js';
import { buildCrictl } from '../build/cri-tools.js';
import { buildEtcd } from '../build/etcd.js';
import { buildFlannel } from '../build/flannel.js';
import { buildKubernetes } from '../build/kubernetes.js';
import { buildLabArtifacts } from '../build/lab-artifacts.js';
import { buildOpentofu } from '../build/opentofu.js';
import { buildPause } from '../build/pause.js';
import { UsageError } from '../lab/cli.js';

/** Usage text of `hakube build`. */
export const BUILD_USAGE = `usage: hakube build opentofu|kubernetes|etcd|coredns|cni-plugins|crictl|flannel|pause|all

  opentofu      OpenTofu from its pinned Go module (go/opentofu); prints the tofu binary's path
  kubernetes    kubeadm, kubelet, kubectl and the control-plane commands from go/kubernetes (tens of
                minutes cold on 2 cores); prints the directory of the binaries
  etcd          etcd, etcdctl, etcdutl (go/etcd)
  coredns       coredns (go/coredns)
  cni-plugins   bridge, host-local, loopback, portmap, ptp, firewall, bandwidth (go/cni-plugins)
  crictl        crictl (go/cri-tools)
  flannel       flanneld (go/flannel)
  pause         pause, from k8s.io/kubernetes' build/pause with Debian's gcc
  all           everything a lab cluster needs (all of the above but opentofu); prints "<name> <bin dir>" lines

Builds into the machine-wide cache (/var/cache/hakube/build), keyed by the recipe; cached builds return at once.
Needs Go (/usr/local/go), and gcc with libc6-dev for pause. Use tofu's path as TERRAFORM_BINARY_NAME to deploy with
OpenTofu.`;

const dirOf = (a: Artifact) => `${a.dir}/bin`;

const ARTIFACTS: Record<string, { build: () => Promise<Artifact>; print: (a: Artifact) => string }> = {
  opentofu: { build: buildOpentofu, print: (a) => a.bin.tofu },
  kubernetes: { build: buildKubernetes, print: dirOf },
  etcd: { build: buildEtcd, print: dirOf },
  coredns: { build: buildCoredns, print: dirOf },
  'cni-plugins': { build: buildCniPlugins, print: dirOf },
  crictl: { build: buildCrictl, print: dirOf },
  flannel: { build: buildFlannel, print: dirOf },
  pause: { build: buildPause, print: dirOf },
};

/** `hakube build …`: returns the exit code. */
export async function buildCommand(args: readonly string[]): Promise<number> {
  const { positionals } = parseArgs({ args: [...args], options: {}, allowPositionals: true, strict: true });
  const name = positionals.length === 1 ? positionals[0] : undefined;
  if (name === 'all') {
    const artifacts = await buildLabArtifacts();
    for (const [key, dir] of Object.entries(artifacts)) process.stdout.write(`${key} ${dir}\n`);
    return 0;
  }
  const artifact = name !== undefined && Object.hasOwn(ARTIFACTS, name) ? ARTIFACTS[name] : undefined;
  if (!artifact) throw new UsageError(`expected one artifact name (${[...Object.keys(ARTIFACTS), 'all'].join(', ')}), got ${JSON.stringify(positionals)}`);
  const built = await artifact.build();
  process.stderr.write(`build: ${name} ${built.built ? `built in ${built.seconds.toFixed(0)} s` : 'taken from the cache'}: ${built.dir}\n`);
  process.stdout.write(`${artifact.print(built)}\n`);
  return 0;
}
