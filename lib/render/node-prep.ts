import type { Host } from '../inventory.js';
import type { StepFile, StepSpec } from '../plan/step.js';
import { fail, isHostname } from '../validate.js';
import { DEFAULT_REQUIRED_PORTS, NODE_PREP_PATHS, type NodePrepOptions, type NodeRole, type ResolvedNodePrepOptions, resolveNodePrepOptions } from './node-prep-options.js';
import { containerdRegistryFiles, renderAptProxyConf, renderContainerdConfig, renderCrictlConfig, renderKubernetesYumRepo, renderModulesLoadConf, renderSysctlConf } from './node-prep-files.js';
import { renderContainerdScript, renderKubePackagesScript, renderOsPrepScript, renderPreflightScript } from './node-prep-scripts.js';

/**
 * Node preparation for every Kubernetes host (seed 002's "on master and worker" list): a read-only preflight, the
 * OS settings kubelet needs (swap off, kernel modules, sysctls, SELinux permissive), containerd as the CRI runtime,
 * and kubelet/kubeadm/kubectl pinned to one version from the pkgs.k8s.io repository of its minor release.
 *
 * The steps are assembled here from the options (node-prep-options.ts), files (node-prep-files.ts) and scripts
 * (node-prep-scripts.ts).
 */

/**
 * The node preparation steps of one host, each after the previous one:
 * `<idPrefix>/<host>/preflight` → `/os` → `/containerd` → `/kube-packages`. No step needs anything from another
 * host. Throws a `ValidationError` for a bad option.
 */
export function nodePrepSteps(host: Host, role: NodeRole, options: NodePrepOptions, idPrefix: string): StepSpec[] {
  const where = `node preparation ${idPrefix}/${host.name}`;
  if (typeof idPrefix !== 'string' || !idPrefix.split('/').every(isHostname)) {
    fail(where, 'idPrefix', idPrefix, 'must be lowercase words joined by "/"');
  }
  if (role !== 'control-plane' && role !== 'worker') fail(where, 'role', role, 'must be "control-plane" or "worker"');
  const o = resolveNodePrepOptions(where, options);
  const id = (action: string) => `${idPrefix}/${host.name}/${action}`;
  const steps: Array<Omit<StepSpec, 'id' | 'host' | 'after'> & { action: string }> = [
    {
      action: 'preflight',
      title: `Check that ${host.name} meets the requirements of a Kubernetes ${role} node`,
      script: renderPreflightScript({
        hostName: host.name,
        role,
        osFamily: o.osFamily,
        minCpus: o.minCpus,
        minMemoryMb: o.minMemoryMb,
        ports: o.requiredPorts ?? DEFAULT_REQUIRED_PORTS[role],
        allowHostnameMismatch: o.allowHostnameMismatch,
      }),
    },
    {
      action: 'os',
      title: `Prepare the OS of ${host.name} for kubelet: swap off, kernel modules, sysctls${o.osFamily === 'rhel' ? ', SELinux permissive' : ''}`,
      files: nodeOsFiles(o),
      script: renderOsPrepScript(o.osFamily, o.packageProxy),
    },
    {
      action: 'containerd',
      title: `Install containerd on ${host.name} with the systemd cgroup driver`,
      files: [
        { path: NODE_PREP_PATHS.containerdConfig, mode: '0644', content: renderContainerdConfig({ sandboxImage: o.sandboxImage, registryHosts: o.registry !== undefined, restrictOomScoreAdj: o.restrictOomScoreAdj }) },
        { path: NODE_PREP_PATHS.crictlConfig, mode: '0644', content: renderCrictlConfig() },
        ...(o.registry ? containerdRegistryFiles(o.registry) : []),
      ],
      script: renderContainerdScript({
        osFamily: o.osFamily,
        packageName: o.containerdPackage,
        repoFileUrl: o.containerdRepoFileUrl,
        proxy: o.packageProxy,
      }),
    },
    {
      action: 'kube-packages',
      title: `Install kubelet, kubeadm and kubectl ${o.kubernetesVersion} on ${host.name} and hold them`,
      files: o.osFamily === 'rhel' && o.packages.repoUrl
        ? [{ path: NODE_PREP_PATHS.yumRepo, mode: '0644', content: renderKubernetesYumRepo(o.packages.repoUrl) }]
        : [],
      script: renderKubePackagesScript(o.packages),
    },
  ];
  return steps.map(({ action, ...step }, index) => ({
    id: id(action),
    host,
    ...step,
    after: index === 0 ? [] : [id(steps[index - 1]!.action)],
  }));
}

function nodeOsFiles(o: ResolvedNodePrepOptions): StepFile[] {
  const files: StepFile[] = [
    { path: NODE_PREP_PATHS.modulesLoad, mode: '0644', content: renderModulesLoadConf() },
    { path: NODE_PREP_PATHS.sysctl, mode: '0644', content: renderSysctlConf() },
  ];
  if (o.osFamily === 'debian' && o.packageProxy) {
    files.push({ path: NODE_PREP_PATHS.aptProxy, mode: '0644', content: renderAptProxyConf(o.packageProxy) });
  }
  return files;
}
