import type { Host } from '../inventory.js';
import { hostScript } from '../shell.js';
import type { StepSpec } from './step.js';

/** Id of the step every other step waits for: all hosts with work to do answered. */
export const HOSTS_READY_STEP = 'hosts/ready';

/** Id of a host's reachability check. */
export function reachableStepId(host: string): string {
  return `hosts/${host}/reachable`;
}

/**
 * The first wave of every plan: one quick check per host (SSH answers within seconds, the pinned host key matches,
 * steps run as root), and `hosts/ready` after all of them, which every step without other dependencies waits for.
 * So a deploy changes nothing while a host it has work for is unreachable — instead of reconfiguring the reachable
 * members of a cluster and leaving it mixed. A host's check re-runs whenever one of its steps changes, and
 * `hosts/ready` whenever a check does, so the gate holds on every deploy that does something.
 */
export function withReachabilityChecks(specs: readonly StepSpec[]): StepSpec[] {
  if (specs.length === 0) return [];
  const byHost = new Map<string, { host: Host; ids: string[] }>();
  for (const spec of specs) {
    const entry = byHost.get(spec.host.name) ?? { host: spec.host, ids: [] };
    entry.ids.push(spec.id);
    byHost.set(spec.host.name, entry);
  }
  const checks: StepSpec[] = [...byHost.values()]
    .sort((a, b) => a.host.name.localeCompare(b.host.name))
    .map(({ host, ids }) => ({
      id: reachableStepId(host.name),
      host,
      title: `Check that ${host.name} answers over SSH and runs steps as root`,
      script: hostScript({}, 'reachable.sh'),
      quickConnect: true,
      check: true,
      rerunWith: ids,
    }));
  const ready = readyGate(checks);
  const gated = specs.map((spec) => (spec.after?.length ? spec : { ...spec, after: [HOSTS_READY_STEP] }));
  return [...checks, ready, ...gated];
}

/** The `hosts/ready` step over `checks` (reachability checks, by id and host): runs on the first check's host. */
export function readyGate(checks: ReadonlyArray<{ readonly id: string; readonly host: Host }>): StepSpec {
  return {
    id: HOSTS_READY_STEP,
    host: checks[0].host,
    title: `Every host with work to do (${checks.length}) answered`,
    script: hostScript({ hosts: checks.length }, 'hosts-ready.sh'),
    after: checks.map((c) => c.id),
    rerunWith: checks.map((c) => c.id),
    quickConnect: true,
  };
}

/**
 * A warning naming the hosts without a pinned `hostKey`: their first SSH connection trusts whatever key answers, and
 * secrets are uploaded over it. `hakube hosts scan hosts.yaml` records the keys for review.
 */
export function unpinnedHostKeyWarnings(specs: readonly StepSpec[]): string[] {
  const unpinned = [...new Set(specs.filter((s) => !s.host.hostKey).map((s) => s.host.name))].sort();
  if (unpinned.length === 0) return [];
  const names = unpinned.length > 5 ? `${unpinned.slice(0, 5).join(', ')} and ${unpinned.length - 5} more` : unpinned.join(', ');
  return [`hosts without a pinned hostKey (${names}): SSH trusts whatever key answers and secrets are uploaded over that connection; record the keys with \`hakube hosts scan hosts.yaml\` and review them`];
}
