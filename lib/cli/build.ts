import { parseArgs } from 'node:util';
import { buildKubernetes } from '../build/kubernetes.js';
import { buildOpentofu } from '../build/opentofu.js';
import type { GoArtifact } from '../build/go-module.js';
import { UsageError } from '../lab/cli.js';

/** Usage text of `hakube build`. */
export const BUILD_USAGE = `usage: hakube build opentofu|kubernetes

  opentofu      OpenTofu from its pinned Go module (go/opentofu); prints the tofu binary's path
  kubernetes    kubeadm, kubelet, kubectl and the control-plane commands from go/kubernetes (tens of
                minutes cold on 2 cores); prints the directory of the binaries

Builds into the machine-wide cache (/var/cache/hakube/build), keyed by the recipe; cached builds return at once.
Needs Go (/usr/local/go). Use tofu's path as TERRAFORM_BINARY_NAME to deploy with OpenTofu.`;

const ARTIFACTS: Record<string, { build: () => Promise<GoArtifact>; print: (a: GoArtifact) => string }> = {
  opentofu: { build: buildOpentofu, print: (a) => a.bin.tofu },
  kubernetes: { build: buildKubernetes, print: (a) => `${a.dir}/bin` },
};

/** `hakube build …`: returns the exit code. */
export async function buildCommand(args: readonly string[]): Promise<number> {
  const { positionals } = parseArgs({ args: [...args], options: {}, allowPositionals: true, strict: true });
  const artifact = positionals.length === 1 && Object.hasOwn(ARTIFACTS, positionals[0]) ? ARTIFACTS[positionals[0]] : undefined;
  if (!artifact) throw new UsageError(`expected one artifact name (${Object.keys(ARTIFACTS).join(' or ')}), got ${JSON.stringify(positionals)}`);
  const built = await artifact.build();
  process.stderr.write(`build: ${positionals[0]} ${built.built ? `built in ${built.seconds.toFixed(0)} s` : 'taken from the cache'}: ${built.dir}\n`);
  process.stdout.write(`${artifact.print(built)}\n`);
  return 0;
}
