import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { ServedSite } from '../airgap/index.js';
import { LAB_RUN_DIR, LAB_STATE_FILE } from './config.js';

/** What the lab records about one host. */
export interface LabHostState {
  readonly name: string;
  readonly address: string;
  /** PID of the host's systemd-nspawn while it runs. */
  pid?: number;
  /** Console log of the host. */
  readonly log: string;
}

/** The lab's machine-wide state (`/run/hakube-lab/state.json`). */
export interface LabState {
  readonly version: 1;
  /** `starting` until `up` finished; a `starting` state found later means an interrupted `up`. */
  phase: 'starting' | 'up';
  /** Number of hosts. */
  readonly hosts: number;
  /** Project dir whose `.hakube/lab` holds the key, known_hosts and hosts.yaml. */
  readonly projectDir: string;
  /** PID of the apt-cacher-ng the lab started. */
  proxyPid?: number;
  /** The Kubernetes site the lab serves (`up --kubernetes`): its addresses and server processes. */
  site?: ServedSite;
  readonly nodes: LabHostState[];
  /** `…/hakube-lab` cgroup directories (one per hierarchy) the hosts' cgroups live under. */
  readonly cgroupBases?: readonly string[];
  readonly startedAt: string;
}

/** The recorded state, or undefined when no lab was started (or it was taken down). */
export function readState(): LabState | undefined {
  try {
    const state = JSON.parse(readFileSync(LAB_STATE_FILE, 'utf8')) as LabState;
    return state.version === 1 ? state : undefined;
  } catch {
    return undefined;
  }
}

/** Record the state atomically (every change is written at once, so an interrupted `up` can be cleaned). */
export function writeState(state: LabState): void {
  mkdirSync(LAB_RUN_DIR, { recursive: true, mode: 0o755 });
  const tmp = `${LAB_STATE_FILE}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
  renameSync(tmp, LAB_STATE_FILE);
}

/** Forget the state. */
export function removeState(): void {
  rmSync(LAB_STATE_FILE, { force: true });
  rmSync(`${LAB_STATE_FILE}.tmp`, { force: true });
}
