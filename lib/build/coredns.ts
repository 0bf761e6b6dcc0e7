import { type GoArtifact, type GoRecipe, buildGoRecipe, cachedArtifact, wrapperModuleDir } from './go-module.js';

/** The CoreDNS release kubeadm 1.34 deploys (`CoreDNSVersion`), pinned in go/coredns/go.mod. */
export const COREDNS_VERSION = '1.12.1';
/** The short commit of CoreDNS' v1.12.1 tag, which its release build stamps (the module proxy gives no commit). */
const COREDNS_GIT_COMMIT = '707c7c1';

/** CoreDNS (with its default plugin set) from the wrapper module `go/coredns` that ships with hakube. */
export function corednsRecipe(): GoRecipe {
  return {
    name: `coredns-v${COREDNS_VERSION}`,
    moduleDir: wrapperModuleDir('coredns'),
    // CoreDNS' Makefile: CGO_ENABLED=0, -ldflags="-s -w -X …coremain.GitCommit=…"; `coredns -version` prints it
    commands: [{ name: 'coredns', pkg: 'github.com/coredns/coredns', ldflags: `-s -w -X github.com/coredns/coredns/coremain.GitCommit=${COREDNS_GIT_COMMIT}` }],
    coldNotice: 'building CoreDNS from the Go module proxy; a cold build takes a few minutes on 2 cores',
  };
}

/** Build CoreDNS (or take it from the machine-wide cache). */
export function buildCoredns(): Promise<GoArtifact> {
  return buildGoRecipe(corednsRecipe());
}

/** The cached CoreDNS artifact of this hakube's recipe, if it was built. */
export function cachedCoredns(): GoArtifact | undefined {
  return cachedArtifact(corednsRecipe());
}
