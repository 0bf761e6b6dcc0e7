/**
 * Vitest global setup of both suites: find the Terraform-compatible engine the tests run (Terraform or OpenTofu,
 * see lib/engine.ts) and hand it to the test workers as TERRAFORM_BINARY_NAME. On a machine with neither, OpenTofu
 * is built from its Go module first (minutes when cold, cached machine-wide).
 */
import { buildOpentofu } from '../lib/build/opentofu.js';
import { findEngine } from '../lib/engine.js';

export default async function setup(): Promise<void> {
  let engine = findEngine();
  if (!engine) {
    process.stderr.write('test setup: neither terraform nor tofu is on the PATH; building OpenTofu from go/opentofu\n');
    await buildOpentofu();
    engine = findEngine()!;
  }
  process.stderr.write(`test setup: engine ${engine.version} (${engine.binary}, from ${engine.source})\n`);
  process.env.TERRAFORM_BINARY_NAME = engine.binary;
}
