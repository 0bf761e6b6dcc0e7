import { join } from 'node:path';
import { type GoArtifact, type GoRecipe, buildGoRecipe, cachedArtifact } from './go-module.js';

/** The OpenTofu release hakube builds for machines without Terraform (pinned in go/opentofu/go.mod). */
export const OPENTOFU_VERSION = '1.12.6';

/** The wrapper module `go/opentofu` of a checkout (or of the installed package). */
export function opentofuRecipe(projectDir: string): GoRecipe {
  return {
    name: `opentofu-${OPENTOFU_VERSION}`,
    moduleDir: join(projectDir, 'go', 'opentofu'),
    // `dev=no` makes `tofu version` report the release instead of "<version>-dev"
    commands: [{ name: 'tofu', pkg: 'github.com/opentofu/opentofu/cmd/tofu', ldflags: '-s -w -X github.com/opentofu/opentofu/version.dev=no' }],
    coldNotice: 'building OpenTofu from the Go module proxy; a cold build takes about 5–10 minutes on 2 cores',
  };
}

/** Build OpenTofu (or take it from the machine-wide cache); resolves to the artifact with `bin.tofu`. */
export function buildOpentofu(projectDir: string): Promise<GoArtifact> {
  return buildGoRecipe(opentofuRecipe(projectDir));
}

/** The cached OpenTofu binary of this checkout's recipe, if it was built. */
export function cachedOpentofu(projectDir: string): string | undefined {
  return cachedArtifact(opentofuRecipe(projectDir))?.bin.tofu;
}
