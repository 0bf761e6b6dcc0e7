import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Host } from '../lib/inventory.js';
import { CORE_PART, HOSTS_READY_STEP, Plan, type StepSpec, STEP_RECORD_DIR, groupSteps, withReachabilityChecks, partitionPlan, renderGroupRunner, sha256 } from '../lib/plan/index.js';
import { hosts, tempDir } from './fixtures.js';

const step = (id: string, host: Host, after: string[] = [], extra: Partial<StepSpec> = {}): StepSpec => ({ id, host, title: id, script: `echo ${id}`, after, ...extra });

/** A cluster-shaped plan: cp-1 initialises, workers w-1…w-n prepare and then join after it. */
function clusterPlan(workers: number): Plan {
  const cp = hosts(1, 'cp', 10)[0];
  const specs: StepSpec[] = [step('k8s/cp-1/init', cp), step('k8s/token', cp, ['k8s/cp-1/init'])];
  for (const w of hosts(workers, 'w', 20)) {
    specs.push(step(`k8s/${w.name}/prepare`, w), step(`k8s/${w.name}/join`, w, [`k8s/${w.name}/prepare`, 'k8s/token']));
  }
  return new Plan(withReachabilityChecks(specs));
}

describe('partitionPlan', () => {
  it('keeps a plan with at most maxHosts hosts whole', () => {
    const plan = clusterPlan(3);
    expect(partitionPlan(plan, 4)).toEqual([{ name: CORE_PART, hosts: ['cp-1', 'w-1', 'w-2', 'w-3'], steps: plan.steps, after: [] }]);
  });

  it('puts awaited hosts in the core, the others in worker parts by name with numbers as numbers, a gate in the core, workers waiting for their own check', () => {
    const plan = clusterPlan(11);
    const parts = partitionPlan(plan, 4);
    expect(parts.map((p) => [p.name, p.hosts, p.after])).toEqual([
      [CORE_PART, ['cp-1'], []],
      ['workers-1', ['w-1', 'w-2', 'w-3', 'w-4'], [CORE_PART]],
      ['workers-2', ['w-5', 'w-6', 'w-7', 'w-8'], [CORE_PART]],
      ['workers-3', ['w-9', 'w-10', 'w-11'], [CORE_PART]],
    ]);
    // every step of the plan is in exactly one part, unchanged but for the dependencies on another part
    const original = new Map(plan.steps.map((s) => [s.id, s]));
    const placed = parts.flatMap((p) => p.steps.filter((s) => s.id !== HOSTS_READY_STEP));
    expect(placed.map((s) => s.id).sort()).toEqual(plan.steps.map((s) => s.id).filter((id) => id !== HOSTS_READY_STEP).sort());
    for (const s of placed) expect({ ...s, after: undefined }).toEqual({ ...original.get(s.id)!, after: undefined });
    const join = parts[3].steps.find((s) => s.id === 'k8s/w-10/join')!;
    expect(join.after).toEqual(['k8s/w-10/prepare']);
    for (const part of parts) {
      const ids = new Set(part.steps.map((s) => s.id));
      for (const s of part.steps) for (const dep of s.after) expect(ids.has(dep), `${part.name}: ${s.id} after ${dep}`).toBe(true);
    }
    // the core's first wave: its hosts' checks, then its gate over exactly those
    const gate = parts[0].steps.find((s) => s.id === HOSTS_READY_STEP)!;
    expect(gate.after).toEqual(['hosts/cp-1/reachable']);
    expect(parts[0].steps.find((s) => s.id === 'k8s/cp-1/init')!.after).toEqual([HOSTS_READY_STEP]);
    // a worker waits for its own check only: no gate in a worker part
    expect(parts[1].steps.some((s) => s.id === HOSTS_READY_STEP)).toBe(false);
    expect(parts[1].steps.find((s) => s.id === 'k8s/w-3/prepare')!.after).toEqual(['hosts/w-3/reachable']);
    // adding a worker whose name sorts last only adds to the last part
    const grown = partitionPlan(clusterPlan(12), 4);
    expect(grown.slice(0, 3).map((p) => p.hosts)).toEqual(parts.slice(0, 3).map((p) => p.hosts));
    expect(grown[3].hosts).toEqual(['w-9', 'w-10', 'w-11', 'w-12']);
  });
});

describe('groupSteps', () => {
  it('keeps steps asked to stay alone in groups of their own and ends a group at a step another host waits for', () => {
    const plan = clusterPlan(2);
    const groups = groupSteps(plan.steps, { alone: (s) => s.check || s.quickConnect });
    const ids = groups.map((g) => g.map((s) => s.id));
    expect(ids).toContainEqual(['hosts/w-1/reachable']);
    expect(ids).toContainEqual([HOSTS_READY_STEP]);
    // init is waited for by nobody on another host but token is: init and token group, the joins stay alone
    expect(ids).toContainEqual(['k8s/cp-1/init', 'k8s/token']);
    expect(ids).toContainEqual(['k8s/w-1/join']);
    // in a worker part the join no longer waits for another host, so a worker is one group after its check
    const part = partitionPlan(clusterPlan(2), 1)[1];
    expect(groupSteps(part.steps, { alone: (s) => s.check || s.quickConnect }).map((g) => g.map((s) => s.id))).toEqual([
      ['hosts/w-1/reachable'], ['k8s/w-1/prepare', 'k8s/w-1/join'],
    ]);
  });
});

describe('renderGroupRunner (run with bash)', () => {
  /** Stage a group of three steps as a backend would and run its runner; returns what ran, in order. */
  function harness() {
    const root = tempDir();
    const log = join(root, 'ran.log');
    const host = new Host({ name: 'h', address: '10.0.0.9' });
    const local = (text: string) => text.replaceAll(host.stageDir, join(root, 'stage')).replaceAll(STEP_RECORD_DIR, join(root, 'records'));
    const run = (scripts: Record<string, string>) => {
      const plan = new Plan(
        ['a', 'b', 'c'].map((name, i) => step(`g/h/${name}`, host, i ? [`g/h/${'abc'[i - 1]}`] : [], {
          script: `echo ${name} >>${log}\n${scripts[name] ?? ''}`,
          files: [{ path: join(root, `dest-${name}`), mode: '0600', content: `${name}\n` }],
        })),
      );
      const group = plan.steps;
      const runner = renderGroupRunner(group, sha256(group.map((s) => s.hash).join(' ')));
      for (const s of group) {
        mkdirSync(local(s.stageDir), { recursive: true });
        writeFileSync(local(s.files[0].stagedAt), s.files[0].content!);
        writeFileSync(local(s.scriptPath), local(s.script).replace(/^step_log=.*$/m, `step_log=${join(root, 'steps.log')}`));
      }
      mkdirSync(dirname(local(runner.scriptPath)), { recursive: true });
      writeFileSync(local(runner.scriptPath), local(runner.script));
      writeFileSync(log, '');
      const r = spawnSync('bash', [local(runner.scriptPath)], { encoding: 'utf8' });
      return { status: r.status, ran: readFileSync(log, 'utf8').split('\n').filter(Boolean), staged: group.some((s) => existsSync(local(s.stageDir))) || existsSync(local(runner.stageDir)) };
    };
    return { run };
  }

  it('runs the steps whose content changed, all of them when forced, and resumes an interrupted group', () => {
    const { run } = harness();
    expect(run({})).toEqual({ status: 0, ran: ['a', 'b', 'c'], staged: false });
    // the same group again: a forced re-run (Terraform replaced the resource without a change) runs every step
    expect(run({}).ran).toEqual(['a', 'b', 'c']);
    // b changed: only b runs
    expect(run({ b: 'true # v2' })).toEqual({ status: 0, ran: ['b'], staged: false });
    // c changes and fails: the group stops there, and no staged file stays behind
    expect(run({ b: 'true # v2', c: 'exit 3' })).toEqual({ status: 3, ran: ['c'], staged: false });
    // fixed: the next run resumes with c alone
    expect(run({ b: 'true # v2', c: 'true # fixed' })).toEqual({ status: 0, ran: ['c'], staged: false });
  });
});
