import { type GoArtifact, type GoRecipe, buildGoRecipe, cachedArtifact, wrapperModuleDir } from './go-module.js';

/** The etcd release kubeadm 1.34 expects (`DefaultEtcdVersion 3.6.5-0`), pinned in go/etcd/go.mod. */
export const ETCD_VERSION = '3.6.5';
/** `git rev-parse --short v3.6.5` of etcd: what its own build stamps (the module proxy gives no commit). */
const ETCD_GIT_SHA = 'a0614505a';

/** etcd, etcdctl and etcdutl from the wrapper module `go/etcd` that ships with hakube. */
export function etcdRecipe(): GoRecipe {
  // etcd's scripts/build_lib.sh: CGO_ENABLED=0, -trimpath, GO_LDFLAGS="-s -w" plus the Git SHA
  const ldflags = `-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_GIT_SHA}`;
  return {
    name: `etcd-v${ETCD_VERSION}`,
    moduleDir: wrapperModuleDir('etcd'),
    commands: [
      { name: 'etcd', pkg: 'go.etcd.io/etcd/server/v3', ldflags },
      { name: 'etcdctl', pkg: 'go.etcd.io/etcd/etcdctl/v3', ldflags },
      { name: 'etcdutl', pkg: 'go.etcd.io/etcd/etcdutl/v3', ldflags },
    ],
    coldNotice: 'building etcd from the Go module proxy; a cold build takes a few minutes on 2 cores',
  };
}

/** Build etcd, etcdctl and etcdutl (or take them from the machine-wide cache). */
export function buildEtcd(): Promise<GoArtifact> {
  return buildGoRecipe(etcdRecipe());
}

/** The cached etcd artifact of this hakube's recipe, if it was built. */
export function cachedEtcd(): GoArtifact | undefined {
  return cachedArtifact(etcdRecipe());
}
