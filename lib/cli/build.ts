import { parseArgs } from 'node:util';
import { buildOpentofu } from '../build/opentofu.js';
import { UsageError } from '../lab/cli.js';

/** Usage text of `hakube build`. */
export const BUILD_USAGE = `usage: hakube build opentofu

  opentofu    build OpenTofu from its pinned Go module (go/opentofu) into the machine-wide cache
              (/var/cache/hakube/build) and print the binary's path; cached builds return at once

Needs Go (/usr/local/go). Use the path as TERRAFORM_BINARY_NAME to deploy with OpenTofu.`;

/** `hakube build …`: returns the exit code. */
export async function buildCommand(args: readonly string[]): Promise<number> {
  const { positionals } = parseArgs({ args: [...args], options: {}, allowPositionals: true, strict: true });
  if (positionals.length !== 1 || positionals[0] !== 'opentofu') throw new UsageError(`expected one artifact name (opentofu), got ${JSON.stringify(positionals)}`);
  const artifact = await buildOpentofu();
  process.stderr.write(`build: opentofu ${artifact.built ? `built in ${artifact.seconds.toFixed(0)} s` : 'taken from the cache'}: ${artifact.dir}\n`);
  process.stdout.write(`${artifact.bin.tofu}\n`);
  return 0;
}
