import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { Host } from '../lib/inventory.js';
import { hostScript } from '../lib/shell.js';
import { Plan, type PlanContributor, type StepSpec, addWarning } from '../lib/plan/index.js';
import { parseStepLog } from '../lib/plan/step.js';
import { SecretStore } from '../lib/pki/index.js';
import { fakeBinary, hosts, tempDir } from './fixtures.js';

const [a, b, c] = hosts(3);
const step = (id: string, host = a, after: string[] = [], extra: Partial<StepSpec> = {}): StepSpec => ({
  id, host, title: id, script: `echo ${id}`, after, ...extra,
});

describe('Plan', () => {
  it('orders steps by wave, ids sorted inside a wave, whatever the input order', () => {
    const specs = [step('z/join', c, ['a/init']), step('a/init'), step('m/prep', b), step('z/cni', a, ['a/init', 'z/join'])];
    const plan = new Plan(specs);
    expect(plan.waves().map((w) => w.map((s) => s.id))).toEqual([['a/init', 'm/prep'], ['z/join'], ['z/cni']]);
    expect(plan.steps.map((s) => s.id)).toEqual(new Plan([...specs].reverse()).steps.map((s) => s.id));
    expect(plan.criticalPath().map((s) => s.id)).toEqual(['a/init', 'z/join', 'z/cni']);
    expect(plan.criticalPath((s) => (s.id === 'm/prep' ? 10 : 1)).map((s) => s.id)).toEqual(['m/prep']);
    expect(plan.hosts.map((h) => h.name)).toEqual(['node-1', 'node-2', 'node-3']);
  });

  it('rejects duplicate ids, unknown dependencies, cycles and bad ids', () => {
    expect(() => new Plan([step('x/a'), step('x/a')])).toThrow(/step id "x\/a" is used twice/);
    expect(() => new Plan([step('x/a', a, ['x/missing'])])).toThrow(/runs after unknown step "x\/missing"/);
    expect(() => new Plan([step('x/a', a, ['x/b']), step('x/b', a, ['x/a']), step('x/c')])).toThrow(/dependency cycle among steps x\/a, x\/b$/);
    expect(() => new Plan([step('X A')])).toThrow(/id "X A" must be lowercase/);
  });

  it('refuses two different hosts with one name', () => {
    const other = hosts(1, 'node', 50)[0];
    expect(() => new Plan([step('x/a', a), step('x/b', other)])).toThrow(/host name "node-1" is used by two different hosts/);
  });

  it('hashes what reaches the host: script, file content, mode, owner, and the host (its pinned key too)', () => {
    const file = { path: '/etc/x.conf', mode: '0644', content: 'a=1\n' };
    const base = new Plan([step('x/a', a, [], { files: [file] })]).steps[0].hash;
    const variants = [
      step('x/a', a, [], { files: [{ ...file, content: 'a=2\n' }] }),
      step('x/a', a, [], { files: [{ ...file, mode: '0600' }] }),
      step('x/a', a, [], { files: [{ ...file, owner: 'etcd:etcd' }] }),
      step('x/a', a, [], { files: [file], script: 'echo other' }),
      step('x/a', b, [], { files: [file] }),
      step('x/a', new Host({ name: a.name, address: a.address, privateKeyPath: a.privateKeyPath, hostKey: 'ssh-ed25519 AAAAnew' }), [], { files: [file] }),
    ];
    for (const v of variants) expect(new Plan([v]).steps[0].hash).not.toBe(base);
    expect(new Plan([step('x/a', a, [], { files: [file], title: 'renamed' })]).steps[0].hash).toBe(base);
  });

  it('hashes secret files by content, and never puts their content in the plan', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'etcd'));
    writeFileSync(join(dir, 'etcd/k.key'), 'TOP-SECRET-1');
    const store = new SecretStore(dir);
    const spec = () => step('x/a', a, [], { files: [{ path: '/etc/k.key', mode: '0600', secret: store.ref('etcd/k.key') }] });
    const first = new Plan([spec()]);
    writeFileSync(join(dir, 'etcd/k.key'), 'TOP-SECRET-2');
    const second = new Plan([spec()]);
    expect(second.steps[0].hash).not.toBe(first.steps[0].hash);
    expect(first.toYaml()).not.toContain('TOP-SECRET');
    expect(first.toYaml()).toContain('secret: etcd/k.key');
    expect(first.toYaml()).not.toContain(dir);
  });

  it('rejects bad files', () => {
    expect(() => new Plan([step('x/a', a, [], { files: [{ path: 'rel/x', mode: '0644', content: '' }] })])).toThrow(/file path "rel\/x"/);
    expect(() => new Plan([step('x/a', a, [], { files: [{ path: '/x', mode: '644', content: '' }] })])).toThrow(/mode of \/x "644"/);
    expect(() => new Plan([step('x/a', a, [], { files: [{ path: '/x', mode: '0644' }] })])).toThrow(/needs exactly one of content and secret/);
    const twice = { path: '/x', mode: '0644', content: '' };
    expect(() => new Plan([step('x/a', a, [], { files: [twice, twice] })])).toThrow(/"\/x" is placed twice/);
  });

  it('writes a script that installs staged files only when they differ, and runs as sudo for non-root users', () => {
    const plan = new Plan([step('x/a', a, [], { files: [{ path: '/etc/x.conf', mode: '0640', owner: 'root:etcd', content: 'x' }] })]);
    const s = plan.steps[0];
    expect(s.script.split('\n').slice(0, 2)).toEqual(['#!/usr/bin/env bash', '# hakube step x/a on node-1']);
    // the prologue's input: staged file 0 goes to /etc/x.conf (what placing does is run in the next test)
    expect(s.script.split('\n')).toContain('placements=(0 /etc/x.conf 0640 root:etcd)');
    expect(s.files[0].stagedAt).toBe('/root/.hakube-stage/x_a/0');
    expect(s.command).toBe('bash /root/.hakube-stage/x_a/run.sh');
    const ops = new Host({ name: 'o', address: '10.0.0.9', user: 'ops' });
    // -n: a host whose sudo asks for a password fails at once instead of waiting for one nobody types
    expect(new Plan([step('x/a', ops)]).steps[0].command).toBe('sudo -n bash /home/ops/.hakube-stage/x_a/run.sh');
  });

  it('the generated file placement really is idempotent and atomic (run with bash on this machine)', () => {
    const root = tempDir();
    const stepLog = join(root, 'steps.log');
    const dest = join(root, 'etc/app/x.conf');
    const plan = new Plan([step('x/a', a, [], { files: [{ path: dest, mode: '0640', content: 'v1\n' }], script: 'echo "changed=$CHANGED"' })]);
    const s = plan.steps[0];
    const run = () => {
      const stage = join(root, 'stage');
      mkdirSync(stage, { recursive: true });
      writeFileSync(join(stage, '0'), s.files[0].content!);
      const script = s.script.replace(/^stage_dir=.*$/m, `stage_dir=${stage}`).replace(/^step_log=.*$/m, `step_log=${stepLog}`);
      return execFileSync('bash', ['-c', script], { encoding: 'utf8' });
    };
    expect(run()).toContain('changed=1');
    expect(run()).toContain('changed=0');
    expect(execFileSync('stat', ['-c', '%a', dest], { encoding: 'utf8' }).trim()).toBe('640');
  });

  it('removes its stage directory on the way out, and a failing step says that a re-deploy finishes it (run with bash)', () => {
    const stage = tempDir();
    const stepLog = join(tempDir(), 'log', 'steps.log');
    const run = (body: string) => {
      const script = new Plan([step('x/a', a, [], { script: body })]).steps[0].script.replace(/^stage_dir=.*$/m, `stage_dir=${stage}`).replace(/^step_log=.*$/m, `step_log=${stepLog}`);
      writeFileSync(join(stage, 'secret'), 'x');
      return spawnSync('bash', ['-c', script], { encoding: 'utf8' });
    };
    const ok = run('echo fine');
    expect([ok.status, ok.stderr]).toEqual([0, '']);
    expect(existsSync(stage)).toBe(false);
    mkdirSync(stage);
    const failed = run('false');
    expect(failed.status).toBe(1);
    expect(failed.stderr).toBe('hakube: step x/a failed on node-1 (exit 1); the deploy marks it for a re-run: fix the cause, then deploy again to finish from here\n');
    expect(existsSync(stage)).toBe(false);
    // a body hands its own temporary paths to the prologue's cleanup instead of setting a trap (which would replace it)
    mkdirSync(stage);
    const own = run('tmp=$(mktemp -d); HAKUBE_CLEANUP+=("$tmp"); echo "$tmp"');
    expect(own.status).toBe(0);
    expect(existsSync(own.stdout.trim())).toBe(false);
    expect(existsSync(stage)).toBe(false);
    // each run left a line in the host's step log: id, start, end, exit status
    const entries = parseStepLog(readFileSync(stepLog, 'utf8'));
    expect(entries.map((e) => [e.id, e.exitStatus])).toEqual([['x/a', 0], ['x/a', 1], ['x/a', 0]]);
    for (const e of entries) expect(e.ended).toBeGreaterThanOrEqual(e.started);
    expect(Math.abs(entries[0].started - Date.now() / 1000)).toBeLessThan(60);
  });

  it('reads a step log, skipping malformed lines', () => {
    expect(parseStepLog('a/b\t10.5\t12.25\t0\nbroken line\nc/d\t1\tx\t0\n\ne/f\t3\t4\t2\n')).toEqual([
      { id: 'a/b', started: 10.5, ended: 12.25, exitStatus: 0 },
      { id: 'e/f', started: 3, ended: 4, exitStatus: 2 },
    ]);
  });

  it('Plan.of collects steps and warnings from the construct tree, and validates the whole tree first', async () => {
    class Thing extends Construct implements PlanContributor {
      calls = 0;
      constructor(scope: Construct, id: string, private readonly bad = false) {
        super(scope, id);
        addWarning(this, 'careful');
        this.node.addValidation({ validate: () => (this.bad ? ['is bad'] : []) });
      }
      async planSteps() {
        this.calls++;
        return [step(`thing/${this.node.id}`)];
      }
    }
    const root = new Construct(undefined as never, 'root');
    const good = new Thing(root, 'one');
    const plan = await Plan.of(root);
    expect(plan.steps.map((s) => s.id)).toEqual(['hosts/node-1/reachable', 'hosts/ready', 'thing/one']);
    expect(plan.warnings).toEqual(['root/one: careful']);
    const bad = new Thing(root, 'two', true);
    await expect(Plan.of(root)).rejects.toThrow(/root\/two: is bad/);
    expect(bad.calls).toBe(0);
    expect(good.calls).toBe(1);
  });

  it('starts with a quick check of every host, and nothing changes anything before all of them answered', async () => {
    class Work extends Construct implements PlanContributor {
      async planSteps() {
        return [step('w/a1', a), step('w/a2', a, ['w/a1']), step('w/b1', b), step('w/c1', c, ['w/b1'])];
      }
    }
    const root = new Construct(undefined as never, 'root');
    new Work(root, 'w');
    const plan = await Plan.of(root);
    expect(plan.waves().map((wave) => wave.map((s) => s.id))).toEqual([
      ['hosts/node-1/reachable', 'hosts/node-2/reachable', 'hosts/node-3/reachable'],
      ['hosts/ready'],
      ['w/a1', 'w/b1'],
      ['w/a2', 'w/c1'],
    ]);
    expect(plan.step('hosts/ready').after).toEqual(['hosts/node-1/reachable', 'hosts/node-2/reachable', 'hosts/node-3/reachable']);
    expect(plan.steps.filter((s) => s.id.startsWith('hosts/')).every((s) => s.quickConnect)).toBe(true);
    expect(plan.steps.filter((s) => s.id.startsWith('w/')).some((s) => s.quickConnect)).toBe(false);
    expect(plan.step('hosts/node-1/reachable').rerunWith).toEqual(['w/a1', 'w/a2']);
  });

  it('re-runs a host check (and the gate) when one of its steps changes, and no other host check', async () => {
    const build = (body: string) => {
      class Work extends Construct implements PlanContributor {
        async planSteps() {
          return [step('w/a1', a, [], { script: body }), step('w/b1', b)];
        }
      }
      const root = new Construct(undefined as never, 'root');
      new Work(root, 'w');
      return Plan.of(root);
    };
    const [before, after] = [await build('echo one'), await build('echo two')];
    const changed = before.steps.filter((s) => after.step(s.id).hash !== s.hash).map((s) => s.id);
    expect(changed).toEqual(['hosts/node-1/reachable', 'hosts/ready', 'w/a1']);
  });

  it('runs the host check as a script: it refuses to go on where steps would not run as root', async () => {
    class Work extends Construct implements PlanContributor {
      async planSteps() {
        return [step('w/a1', a)];
      }
    }
    const root = new Construct(undefined as never, 'root');
    new Work(root, 'w');
    const script = (await Plan.of(root)).step('hosts/node-1/reachable').script;
    const fakes = tempDir();
    writeFileSync(join(fakes, 'id'), '#!/bin/sh\necho 1000\n', { mode: 0o755 }); // a user that is not root
    const asUser = spawnSync('bash', ['-c', script], { encoding: 'utf8', env: { ...process.env, PATH: `${fakes}:${process.env.PATH}` } });
    expect(asUser.status).toBe(1);
    expect(asUser.stderr).toMatch(/steps on .* do not run as root/);
    const asRoot = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
    expect(asRoot.stdout).toMatch(/answers; steps run as root/);
    expect(asRoot.status).toBe(0);
  });

  it('warns about hosts without a pinned host key, naming them', async () => {
    class Work extends Construct implements PlanContributor {
      async planSteps() {
        return [...Array.from({ length: 7 }, (_, i) => step(`w/u${i + 1}`, new Host({ name: `u-${i + 1}`, address: `10.0.9.${i + 1}` }))), step('w/a1', a)];
      }
    }
    const root = new Construct(undefined as never, 'root');
    new Work(root, 'w');
    expect((await Plan.of(root)).warnings).toEqual([
      'hosts without a pinned hostKey (u-1, u-2, u-3, u-4, u-5 and 2 more): SSH trusts whatever key answers and secrets are uploaded over that connection; record the keys with `hakube hosts scan hosts.yaml` and review them',
    ]);
  });

  it('refuses rerunWith cycles and unknown ids', () => {
    expect(() => new Plan([{ ...step('x/a', a), rerunWith: ['x/b'] }, { ...step('x/b', a), rerunWith: ['x/a'] }])).toThrow(/rerunWith cycle/);
    expect(() => new Plan([{ ...step('x/a', a), rerunWith: ['x/zz'] }])).toThrow(/re-runs with unknown step "x\/zz"/);
  });

  it('serializes to stable YAML', () => {
    const plan = new Plan([step('b/x', b, ['a/x']), step('a/x', a, [], { files: [{ path: '/etc/a', mode: '0644', content: 'hello\n' }] })]);
    expect(plan.toYaml()).toMatchSnapshot();
  });
});

describe('package installs (lib/scripts/packages.sh)', () => {
  /** The functions of packages.sh, then `body`, with the host-wide lock moved to `lock`. */
  const packages = (body: string, lock: string) => `set -euo pipefail\n${hostScript({}, 'packages.sh').replaceAll('/var/lock/hakube-packages.lock', lock)}\n${body}`;

  it('give up on a stalled apt-get update and try again (run with bash, a fake apt-get and a 1 s timeout)', () => {
    const dir = tempDir();
    fakeBinary(dir, 'apt-get', `if [ ! -f ${dir}/once ]; then touch ${dir}/once; /bin/sleep 30; fi\necho updated`, '/bin/bash');
    // the update's 180 s stall limit is shortened to 1 s, the 5 s pause between attempts skipped
    fakeBinary(dir, 'timeout', 'shift; exec /usr/bin/timeout 1 "$@"', '/bin/bash');
    fakeBinary(dir, 'sleep', 'true');
    const out = execFileSync('bash', ['-c', packages('hakube_apt_update', join(dir, 'lock'))], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, encoding: 'utf8', stdio: 'pipe' });
    expect(out.trim()).toBe('updated');
  });

  it('hold one host-wide lock, so two steps on a host never race for apt (run with bash and a fake apt-get)', () => {
    const dir = tempDir();
    const log = join(dir, 'log');
    fakeBinary(dir, 'apt-get', `echo "start $*" >> ${log}; sleep 0.3; echo "end $*" >> ${log}`, '/bin/bash');
    const script = packages('hakube_install_packages etcd-server', join(dir, 'lock'));
    const env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
    const runs = [spawn('bash', ['-c', script], { env }), spawn('bash', ['-c', script], { env })];
    return Promise.all(runs.map((p) => new Promise((resolve) => p.on('exit', resolve)))).then((codes) => {
      expect(codes).toEqual([0, 0]);
      const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' ')[0]);
      // never two "start"s in a row: each run's update+install finished before the other began
      expect(lines).toEqual(['start', 'end', 'start', 'end', 'start', 'end', 'start', 'end']);
      // only what the packages depend on: a Recommends such as runc's criu (and its python3) stays out
      const installs = readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('start') && l.includes(' install '));
      expect(installs).toHaveLength(2);
      for (const line of installs) expect(line).toMatch(/ install --no-install-recommends etcd-server$/);
    });
  });

  it('say which package manager is missing and what to install by hand', () => {
    const dir = tempDir();
    // a PATH with bash's own tools but neither apt-get nor dnf
    for (const tool of ['flock']) fakeBinary(dir, tool, 'true');
    const r = spawnSync('/bin/bash', ['-c', packages('hakube_install_packages "curl gpg" curl', join(dir, 'lock'))], { env: { PATH: dir, HOME: dir }, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('hakube: no supported package manager (apt-get or dnf) on this host; install curl gpg first\n');
  });
});
