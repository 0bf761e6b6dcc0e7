import { type GoArtifact, type GoRecipe, buildGoRecipe, cachedArtifact, wrapperModuleDir } from './go-module.js';

/** The containernetworking/plugins release, pinned in go/cni-plugins/go.mod. */
export const CNI_PLUGINS_VERSION = '1.9.1';

/** The plugins built, with their package under github.com/containernetworking/plugins/plugins. */
export const CNI_PLUGINS = {
  bridge: 'main/bridge',
  'host-local': 'ipam/host-local',
  loopback: 'main/loopback',
  portmap: 'meta/portmap',
  ptp: 'main/ptp',
  firewall: 'meta/firewall',
  bandwidth: 'meta/bandwidth',
} as const;

/** The CNI plugins from the wrapper module `go/cni-plugins` that ships with hakube (binaries named as the plugin types). */
export function cniPluginsRecipe(): GoRecipe {
  // the project's release workflow: build_linux.sh -ldflags '… -X …/buildversion.BuildVersion=<tag>'; `<plugin>` with
  // CNI_COMMAND=VERSION prints it
  const ldflags = `-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=v${CNI_PLUGINS_VERSION}`;
  return {
    name: `cni-plugins-v${CNI_PLUGINS_VERSION}`,
    moduleDir: wrapperModuleDir('cni-plugins'),
    commands: Object.entries(CNI_PLUGINS).map(([name, path]) => ({ name, pkg: `github.com/containernetworking/plugins/plugins/${path}`, ldflags })),
    coldNotice: 'building the CNI plugins from the Go module proxy; a cold build takes a minute or two on 2 cores',
  };
}

/** Build the CNI plugins (or take them from the machine-wide cache). */
export function buildCniPlugins(): Promise<GoArtifact> {
  return buildGoRecipe(cniPluginsRecipe());
}

/** The cached CNI plugins artifact of this hakube's recipe, if it was built. */
export function cachedCniPlugins(): GoArtifact | undefined {
  return cachedArtifact(cniPluginsRecipe());
}
