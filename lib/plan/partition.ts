import type { Plan } from './plan.js';
import { HOSTS_READY_STEP, readyGate, reachableStepId } from './reachability.js';
import { type PlanStep, resolveStep } from './step.js';

/** Name of the part that holds the hosts other hosts wait for (see {@link partitionPlan}). */
export const CORE_PART = 'core';

/** A part of a plan that a backend deploys as a unit (the cdktf backend: one Terraform stack and its state). */
export interface PlanPart {
  /** {@link CORE_PART}, or `workers-<n>` from 1. */
  readonly name: string;
  /** Names of its hosts. */
  readonly hosts: readonly string[];
  /** Its steps in plan order; their `after` names only steps of this part. */
  readonly steps: readonly PlanStep[];
  /** Names of the parts that must be deployed before this one. */
  readonly after: readonly string[];
}

const byName = new Intl.Collator('en', { numeric: true }).compare;

/**
 * A plan split so that no part has more than `maxHosts` hosts, unless its core is larger:
 * - the core part holds every host that a step of another host waits for (control plane, etcd, load balancer);
 * - the other hosts (no other host waits for them: the workers of a cluster) fill `workers-1`, `workers-2`, … in name
 *   order with numbers compared as numbers (`w-9` before `w-10`), so hosts added with names that sort last only
 *   add to the last part; every worker part is deployed after the core part.
 * The core part keeps the plan's first wave for its own hosts: their reachability checks and a `hosts/ready` gate
 * over them, so the cluster's members change together or not at all. In a worker part each worker waits for its own
 * check only: one unreachable worker does not hold back thousands of others, and Terraform, which records every
 * resource's transitive dependencies in its state, would otherwise store the whole part's checks with each of its
 * resources (state and apply time per resource growing with the part). A step's `after` on another part becomes the
 * part's `after`; ids, scripts and hashes stay the plan's. A plan with at most `maxHosts` hosts is one part, exactly
 * the plan. Pure.
 */
export function partitionPlan(plan: Plan, maxHosts: number): PlanPart[] {
  if (plan.hosts.length <= maxHosts) return [{ name: CORE_PART, hosts: plan.hosts.map((h) => h.name), steps: plan.steps, after: [] }];
  const hostOf = new Map(plan.steps.map((step) => [step.id, step.host]));
  const awaited = new Set<string>();
  for (const step of plan.steps) {
    if (step.id === HOSTS_READY_STEP) continue; // the plan's gate is rebuilt for each part
    for (const dep of step.after) if (dep !== HOSTS_READY_STEP && hostOf.get(dep) !== step.host) awaited.add(hostOf.get(dep)!);
  }
  const workers = plan.hosts.map((h) => h.name).filter((name) => !awaited.has(name)).sort(byName);
  const groups = [{ name: CORE_PART, hosts: plan.hosts.map((h) => h.name).filter((name) => awaited.has(name)) }];
  for (let i = 0; i < workers.length; i += maxHosts) groups.push({ name: `workers-${groups.length}`, hosts: workers.slice(i, i + maxHosts) });
  const partOf = new Map(groups.flatMap((g) => g.hosts.map((host) => [host, g.name] as const)));
  return groups.map(({ name, hosts }) => {
    const inPart = plan.steps.filter((step) => step.id !== HOSTS_READY_STEP && partOf.get(step.host) === name);
    const ids = new Set(inPart.map((step) => step.id));
    const after = new Set<string>();
    const steps = inPart.map((step): PlanStep => {
      const outside = step.after.filter((dep) => dep !== HOSTS_READY_STEP && !ids.has(dep));
      for (const dep of outside) after.add(partOf.get(hostOf.get(dep)!)!);
      // a worker waits for its own check only (see above)
      const gate = name === CORE_PART ? HOSTS_READY_STEP : reachableStepId(step.host);
      const kept = step.after.filter((dep) => !outside.includes(dep)).map((dep) => (dep === HOSTS_READY_STEP ? gate : dep));
      return kept.length === step.after.length && kept.every((dep, i) => dep === step.after[i]) ? step : { ...step, after: kept };
    });
    if (name !== CORE_PART) return { name, hosts, steps, after: [...after] };
    const checks = steps.filter((step) => step.id === reachableStepId(step.host));
    if (checks.length === 0) return { name, hosts, steps, after: [...after] };
    const gate = resolveStep(readyGate(checks.map((c) => ({ id: c.id, host: plan.host(c.host) }))), checks.map((c) => c.hash));
    return { name, hosts, steps: [...checks, gate, ...steps.filter((step) => !checks.includes(step))], after: [...after] };
  });
}
