import { type GoArtifact, type GoRecipe, buildGoRecipe, cachedArtifact, wrapperModuleDir } from './go-module.js';

/** The cri-tools release matching Kubernetes 1.34, pinned in go/cri-tools/go.mod. */
export const CRICTL_VERSION = '1.34.0';

/** crictl from the wrapper module `go/cri-tools` that ships with hakube. */
export function crictlRecipe(): GoRecipe {
  return {
    name: `crictl-v${CRICTL_VERSION}`,
    moduleDir: wrapperModuleDir('cri-tools'),
    // cri-tools' Makefile: CGO_ENABLED=0, -trimpath, -X …/pkg/version.Version=<git describe without the v>
    commands: [{ name: 'crictl', pkg: 'sigs.k8s.io/cri-tools/cmd/crictl', ldflags: `-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=${CRICTL_VERSION}` }],
    coldNotice: 'building crictl from the Go module proxy; a cold build takes a few minutes on 2 cores',
  };
}

/** Build crictl (or take it from the machine-wide cache). */
export function buildCrictl(): Promise<GoArtifact> {
  return buildGoRecipe(crictlRecipe());
}

/** The cached crictl artifact of this hakube's recipe, if it was built. */
export function cachedCrictl(): GoArtifact | undefined {
  return cachedArtifact(crictlRecipe());
}
