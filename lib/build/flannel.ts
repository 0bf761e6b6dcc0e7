import { type GoArtifact, type GoRecipe, buildGoRecipe, cachedArtifact, wrapperModuleDir } from './go-module.js';

/**
 * The flannel release, pinned in go/flannel/go.mod: the newest whose dependencies the Go module proxy serves (v0.28.10
 * needs a tencentcloud SDK module the proxy refuses; v0.28.4 works with its `common` module raised to v1.3.103).
 */
export const FLANNEL_VERSION = '0.28.4';

/**
 * flanneld from the wrapper module `go/flannel` that ships with hakube. flannel's CNI plugin is not on the module
 * proxy: the lab uses the bridge plugin instead.
 */
export function flannelRecipe(): GoRecipe {
  return {
    name: `flannel-v${FLANNEL_VERSION}`,
    moduleDir: wrapperModuleDir('flannel'),
    commands: [
      {
        name: 'flanneld',
        pkg: 'github.com/flannel-io/flannel',
        // on amd64 its UDP backend is C (pkg/backend/udp does not compile without cgo), so flannel's Makefile builds
        // with CGO_ENABLED=1 and -ldflags '-s -w -X …/pkg/version.Version=$(TAG) -extldflags "-static"'; netgo and
        // osusergo keep the static binary off glibc's NSS
        cgo: true,
        tags: 'netgo,osusergo',
        ldflags: `-s -w -X github.com/flannel-io/flannel/pkg/version.Version=v${FLANNEL_VERSION} -linkmode external -extldflags "-static"`,
      },
    ],
    coldNotice: 'building flanneld from the Go module proxy; a cold build takes a few minutes on 2 cores',
  };
}

/** Build flanneld (or take it from the machine-wide cache). */
export function buildFlannel(): Promise<GoArtifact> {
  return buildGoRecipe(flannelRecipe());
}

/** The cached flannel artifact of this hakube's recipe, if it was built. */
export function cachedFlannel(): GoArtifact | undefined {
  return cachedArtifact(flannelRecipe());
}
