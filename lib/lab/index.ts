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
export { labSsh, labSshArgs } from './ssh.js';
export { readState, type LabHostState, type LabState } from './state.js';
