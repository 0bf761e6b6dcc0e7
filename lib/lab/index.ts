/**
 * The local host lab: N Debian hosts booted with systemd-nspawn on this machine, reachable over SSH on the bridge
 * `hakube0` (10.77.0.0/24), with packages through an apt proxy. See docs/LAB.md.
 */
export {
  formatStatus,
  labDown,
  labInventory,
  labInventoryPath,
  labPower,
  labStatus,
  labUp,
  liveLabInventory,
  type LabDownResult,
  type LabHostStatus,
  type LabOptions,
  type LabPowerAction,
  type LabStatus,
  type LabUpOptions,
  type LabUpResult,
} from './lab.js';
export {
  LAB_BRIDGE,
  LAB_DEFAULT_HOSTS,
  LAB_GATEWAY,
  LAB_MAX_HOSTS,
  LAB_PROXY_URL,
  LAB_RUN_DIR,
  labHostSpec,
  labHostSpecs,
  labPaths,
  type LabHostSpec,
  type LabPaths,
} from './config.js';
export { LabError } from './exec.js';
export {
  LAB_APT_REPO_PORT,
  LAB_FLANNEL_IMAGE,
  LAB_IMAGE_REPOSITORY,
  LAB_KUBERNETES_REPO_BASE_URL,
  LAB_KUBERNETES_VERSION,
  LAB_POD_SUBNET,
  LAB_REGISTRY_PORT,
  labClusterSettings,
  labEtcdInstall,
  LAB_ETCD_RELEASE_BASE_URL,
  type LabClusterSettings,
} from './site.js';
export { labSsh, labSshArgs } from './ssh.js';
export { readState, type LabHostState, type LabState } from './state.js';
