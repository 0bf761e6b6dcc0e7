import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Host } from '../lib/inventory.js';
import { Plan } from '../lib/plan/index.js';
import { KUBERNETES_PATHS, renderBootstrapTokenScript, renderKubeadmInitScript, renderKubeadmJoinScript } from '../lib/render/kubeadm-scripts.js';
import { tempDir } from './fixtures.js';

/**
 * Run a step script as a host would, with /etc/kubernetes and /root/.kube moved under a temp dir and a fake
 * kubeadm that logs its calls; `behaviour` is bash for the fake (it sees the arguments as "$@").
 */
function host(body: string, files: Array<{ path: string; content: string }>, behaviour: string) {
  const root = tempDir();
  const bin = join(root, 'bin');
  const stage = join(root, 'stage');
  const stepLog = join(root, 'steps.log');
  mkdirSync(bin);
  const log = join(root, 'kubeadm.log');
  const etc = join(root, 'etc/kubernetes');
  writeFileSync(join(bin, 'kubeadm'), `#!/bin/bash\necho "$*" >> ${log}\n${behaviour.replaceAll('/etc/kubernetes', etc)}\n`, { mode: 0o755 });
  const step = new Plan([{ id: 'k8s/a/x', host: new Host({ name: 'a', address: '10.0.0.1' }), title: 't', script: body, files: files.map((f) => ({ ...f, mode: '0600' })) }]).steps[0];
  const run = () => {
    mkdirSync(stage, { recursive: true });
    step.files.forEach((f, i) => writeFileSync(join(stage, String(i)), f.content!));
    const script = step.script
      .replace(/^stage_dir=.*$/m, `stage_dir=${stage}`).replace(/^step_log=.*$/m, `step_log=${stepLog}`)
      .replaceAll('/etc/kubernetes', etc)
      .replaceAll('/root/.kube', join(root, 'kube'))
      .replace(/install -m "\$mode" -o "\$\{owner%%:\*\}" -g "\$\{owner#\*:\}"/, 'install -m "$mode"');
    writeFileSync(log, '');
    const out = execFileSync('bash', ['-c', script], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8' });
    return { out, calls: readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) };
  };
  return { run, etc };
}

const INIT_OK = `if [ "$1" = init ]; then mkdir -p /etc/kubernetes && echo admin > /etc/kubernetes/admin.conf; fi
if [ "$1" = reset ]; then rm -rf /etc/kubernetes/admin.conf /etc/kubernetes/pki; fi`;

describe('kubeadm init step', () => {
  const files = [
    { path: KUBERNETES_PATHS.initConfig, content: 'kind: InitConfiguration\n' },
    { path: '/etc/kubernetes/pki/ca.crt', content: 'CA\n' },
  ];

  it('runs init once, without printing the token-bearing join command', () => {
    const h = host(renderKubeadmInitScript(), files, INIT_OK);
    const first = h.run();
    expect(first.calls).toEqual([`init --config=${h.etc}/hakube/kubeadm-init.yaml --skip-token-print`]);
    expect(h.run().calls).toEqual([]);
    expect(existsSync(join(h.etc, 'hakube/init.done'))).toBe(true);
  });

  it('resets a half-finished init and places the CA files again before retrying', () => {
    const h = host(renderKubeadmInitScript(), files, `${INIT_OK}\nif [ "$1" = init ] && [ ! -f /etc/kubernetes/pki/ca.crt ]; then echo "CA missing" >&2; exit 1; fi`);
    mkdirSync(h.etc, { recursive: true });
    writeFileSync(join(h.etc, 'admin.conf'), 'left by a failed init\n');
    const { calls, out } = h.run();
    expect(calls).toEqual(['reset --force', `init --config=${h.etc}/hakube/kubeadm-init.yaml --skip-token-print`]);
    expect(out).toContain('an earlier kubeadm init did not finish');
  });

  it('leaves the node untouched (no marker) when init fails, so the next run retries', () => {
    const h = host(renderKubeadmInitScript(), files, 'exit 1');
    expect(() => h.run()).toThrow();
    expect(existsSync(join(h.etc, 'hakube/init.done'))).toBe(false);
  });
});

describe('kubeadm join step', () => {
  it('joins once', () => {
    const h = host(renderKubeadmJoinScript(false), [{ path: KUBERNETES_PATHS.joinConfig, content: 'kind: JoinConfiguration\n' }], 'true');
    expect(h.run().calls).toEqual([`join --config=${h.etc}/hakube/kubeadm-join.yaml`]);
    expect(h.run().calls).toEqual([]);
  });
});

describe('bootstrap token step', () => {
  const token = 'abcdef.0123456789abcdef';
  const files = [{ path: KUBERNETES_PATHS.bootstrapToken, content: token }];
  it('creates the token only when the cluster does not list it, and never prints its secret half', () => {
    const missing = host(renderBootstrapTokenScript('24h0m0s', ['node-1']), files, `if [ "$1" = token ] && [ "$2" = list ]; then printf 'TOKEN TTL\\nzzzzzz.zzzzzzzzzzzzzzzz 1h\\n'; fi`);
    const r = missing.run();
    expect(r.calls.at(-1)).toMatch(/^token create abcdef.0123456789abcdef --ttl=24h0m0s/);
    expect(r.out).toContain('bootstrap token abcdef created');
    expect(r.out).not.toContain('0123456789abcdef');
    const present = host(renderBootstrapTokenScript('24h0m0s', ['node-1']), files, `if [ "$1" = token ] && [ "$2" = list ]; then printf 'TOKEN TTL\\n${token} 1h\\n'; fi`);
    expect(present.run().calls.filter((c) => c.startsWith('token create'))).toEqual([]);
  });
});
