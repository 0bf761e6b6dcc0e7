/** Registering a large plan's resources in windows, so the Pulumi SDK's pending registrations fit the heap. */

import { getHeapStatistics } from 'node:v8';
import * as pulumi from '@pulumi/pulumi';

import type { PlanStep } from '../plan/index.js';

import type { PulumiStepResources } from './pulumi.js';

/**
 * Render units in plan order, keeping at most `maxPending` resources registered but unsettled: a unit waits until
 * enough earlier resources have settled (finished, or failed). Units only depend on earlier units, and the earliest
 * pending resource only on settled ones, so the window always moves.
 */
export async function registerInWindows(
  units: readonly (readonly PlanStep[])[],
  render: (unit: readonly PlanStep[]) => PulumiStepResources,
  maxPending: number,
): Promise<void> {
  let pending = 0;
  let wake: (() => void) | undefined;
  const settledOne = () => {
    pending--;
    if (wake && pending < maxPending) {
      const w = wake;
      wake = undefined;
      w();
    }
  };
  for (const unit of units) {
    while (pending >= maxPending) await new Promise<void>((resolve) => (wake = resolve));
    const r = render(unit);
    const all: pulumi.Resource[] = [...(r.stage ? [r.stage] : []), ...r.uploads, r.run];
    pending += all.length;
    for (const resource of all) settled(resource).then(settledOne);
  }
  while (pending > 0) await new Promise<void>((resolve) => (wake = resolve));
}

/** Resolves (never rejects) when a resource's registration has finished or failed. */
export function settled(resource: pulumi.Resource): Promise<void> {
  // Output.promise() is not in the public typings but is how the SDK itself awaits outputs; a failed registration
  // rejects it, and the failure is reported by the SDK itself.
  const urn = resource.urn as unknown as { promise?: () => Promise<unknown> };
  if (typeof urn.promise === 'function') {
    return urn.promise().then(
      () => undefined,
      () => undefined,
    );
  }
  return new Promise((resolve) => resource.urn.apply(() => resolve()));
}

/**
 * Run `fn` with `Error.stackTraceLimit` at 0. The Pulumi SDK formats a stack trace for each of the dozens of promises
 * it creates per resource (only shown when a promise leaks); with source maps on, that is most of the time spent
 * registering a resource. The SDK captures a resource's own source position with its own limit, so that stays.
 */
export function withoutPromiseStacks<T>(fn: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return fn();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * Heap the Pulumi SDK holds per registered resource while it is pending (up to 150 KB measured for a Command), and
 * after it settled (outputs and bookkeeping; about 11 KB measured over 240,000 resources), with mocks.
 */
const PENDING_BYTES = 160 * 1024;
const SETTLED_BYTES = 12 * 1024;

/**
 * The default window: what is left of 75 % of the heap limit, after the heap in use now (the plan) and what every
 * settled resource keeps, at PENDING_BYTES per pending registration; between 250 and 20,000.
 */
export function defaultMaxPending(total: number): number {
  const { heap_size_limit: limit, used_heap_size: used } = getHeapStatistics();
  const budget = limit * 0.75 - used - total * SETTLED_BYTES;
  return Math.min(20_000, Math.max(250, Math.floor(budget / PENDING_BYTES)));
}

/** A warning when the plan's resources will likely not fit in the heap whatever the window. */
export function heapWarning(total: number, mode: 'per-step' | 'per-host'): string | undefined {
  const { heap_size_limit: limit, used_heap_size: used } = getHeapStatistics();
  if (used + total * SETTLED_BYTES + 250 * PENDING_BYTES < limit * 0.9) return undefined;
  const mib = (n: number) => Math.round(n / 2 ** 20);
  return (
    `PulumiProvisioner: ${total} resources (${mode}) need about ${mib(used + total * SETTLED_BYTES)} MiB of the ` +
    `${mib(limit)} MiB heap${mode === 'per-step' ? "; use combine: 'per-host'" : ''} or raise it (NODE_OPTIONS=--max-old-space-size=<MiB>)`
  );
}

