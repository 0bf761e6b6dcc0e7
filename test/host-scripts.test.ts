import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { App } from 'cdktf';
import { describe, expect, it } from 'vitest';
import { HaCluster } from '../constructs/ha-cluster.js';
import { Plan } from '../lib/plan/index.js';
import { renderHaproxyCheckScript } from '../lib/render/load-balancer-scripts.js';
import { renderKubePackagesScript } from '../lib/render/node-prep-scripts.js';
import { HOST_SCRIPTS_DIR, hostScript } from '../lib/shell.js';
import { expectShellcheckClean, hosts, tempDir } from './fixtures.js';

const dir = fileURLToPath(HOST_SCRIPTS_DIR);
const files = readdirSync(dir).filter((f) => f.endsWith('.sh')).sort();

describe('hostScript', () => {
  it('writes each input as one quoted assignment that bash reads back exactly', () => {
    const tricky = `it's "$(reboot)" \`x\` ; \\ *`;
    const script = hostScript({ word: 'plain', tricky, count: 3, on: true, off: false, list: ['a b', "c'd", 7], none: [] }, 'hosts-ready.sh');
    const r = spawnSync('bash', ['-c', `${script.replace(/# --- hosts-ready\.sh[\s\S]*/, '')}\nprintf '%s|' "$word" "$tricky" "$count" "$on" "$off" "\${list[@]}" "\${#none[@]}"`], { encoding: 'utf8' });
    expect(r.stdout).toBe(`plain|${tricky}|3|1|0|a b|c'd|7|0|`);
  });

  it('starts each file after its inputs, without its #! line', () => {
    const script = hostScript({ hosts: 2 }, 'hosts-ready.sh');
    expect(script.split('\n').slice(0, 3)).toEqual(['# inputs of hosts-ready.sh', 'hosts=2', '# --- hosts-ready.sh']);
    expect(script).not.toContain('#!');
    expect(spawnSync('bash', ['-c', script], { encoding: 'utf8' }).stdout).toBe('hakube: all 2 hosts answered\n');
  });

  it('refuses input names bash would not take as a plain assignment, and files that are not host scripts', () => {
    expect(() => hostScript({ 'bad-name': 'x' }, 'hosts-ready.sh')).toThrow('not a host script input name: "bad-name"');
    expect(() => hostScript({ PATH: 'x' }, 'hosts-ready.sh')).toThrow('not a host script input name: "PATH"');
    expect(() => hostScript({}, '../shell.ts')).toThrow('not a host script name: "../shell.ts"');
  });
});

describe('the host script files (lib/scripts)', () => {
  it('each passes shellcheck as a file (its inputs, set by the generated lines, are the only unassigned names)', () => {
    expect(files.length).toBeGreaterThan(20);
    const r = spawnSync('shellcheck', ['--severity=style', '-e', 'SC2154', ...files.map((f) => `${dir}/${f}`)], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('each documents what it is and starts with a bash #! line', () => {
    for (const file of files) {
      const lines = readFileSync(`${dir}/${file}`, 'utf8').split('\n');
      expect(lines[0], file).toMatch(/^#!\/(usr\/bin\/env bash|bin\/bash)$/);
      expect(lines[1], file).toMatch(/^# \S/);
    }
  });

  it('each is used: a full cluster plan and the variants it does not cover use every file', async () => {
    const app = new App({ outdir: tempDir() });
    const [cp1, cp2, cp3, w1, e1, e2, e3] = hosts(7);
    new HaCluster(app, 'c', { kubernetesVersion: '1.34.2', controlPlaneHosts: [cp1!, cp2!, cp3!], workerHosts: [w1!], endpoint: { vip: '10.77.0.100/24' }, etcd: { hosts: [e1!, e2!, e3!] }, secretsDir: tempDir() });
    const plan = await Plan.of(app);
    const texts = [
      ...plan.steps.flatMap((s) => [s.script, ...s.files.map((f) => f.content ?? '')]),
      renderKubePackagesScript({ version: '1.34.2', osFamily: 'rhel' }),
      renderHaproxyCheckScript('x', 1, 'tcp'),
    ].join('\n');
    const unused = files.filter((f) => !['step-prologue.sh', 'group-runner.sh'].includes(f) && !texts.includes(`# --- ${f}\n`));
    expect(unused).toEqual([]);
    expectShellcheckClean(plan.steps.map((s) => s.script));
  });
});
