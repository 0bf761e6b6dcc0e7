import { type GoArtifact, type GoRecipe, buildGoRecipe, cachedArtifact, wrapperModuleDir } from './go-module.js';

/** The OpenTofu release hakube builds for machines without Terraform (pinned in go/opentofu/go.mod). */
export const OPENTOFU_VERSION = '1.12.6';

/** OpenTofu from the wrapper module `go/opentofu` that ships with hakube. */
export function opentofuRecipe(): GoRecipe {
  return {
    name: `opentofu-${OPENTOFU_VERSION}`,
    moduleDir: wrapperModuleDir('opentofu'),
    // `dev=no` makes `tofu version` report the release instead of "<version>-dev"
    commands: [{ name: 'tofu', pkg: 'github.com/opentofu/opentofu/cmd/tofu', ldflags: '-s -w -X github.com/opentofu/opentofu/version.dev=no' }],
    coldNotice: 'building OpenTofu from the Go module proxy; a cold build takes about 8 minutes on 2 cores',
  };
}

/** Build OpenTofu (or take it from the machine-wide cache); resolves to the artifact with `bin.tofu`. */
export function buildOpentofu(): Promise<GoArtifact> {
  return buildGoRecipe(opentofuRecipe());
}

/** The cached OpenTofu binary of this hakube's recipe, if it was built. */
export function cachedOpentofu(): string | undefined {
  return cachedArtifact(opentofuRecipe())?.bin.tofu;
}
