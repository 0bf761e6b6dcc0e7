import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderHaproxyCheckScript, renderLbReadyScript } from '../lib/render/load-balancer-scripts.js';
import { hostScript } from '../lib/shell.js';
import { fakeBinaries } from './fixtures.js';

/** A TCP port on 127.0.0.1 that accepts connections while the tests run. */
let listener: Server;
let openPort = 0;
beforeAll(async () => {
  listener = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  openPort = (listener.address() as { port: number }).port;
});
afterAll(() => listener.close());

/** A port nothing listens on (one just closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

describe('the configure script (lib/scripts/lb-configure.sh, run with fake haproxy, keepalived and systemctl)', () => {
  function host(haproxyAccepts = true) {
    const f = fakeBinaries({
      haproxy: haproxyAccepts ? 'exit 0' : 'exit 1',
      keepalived: 'exit 0',
      // is-active answers from a flag file: a service is running once started
      systemctl: `case $1 in is-active) [ -f "${'$'}(dirname "$0")/../active-${'$'}{@: -1}" ];; start) touch "${'$'}(dirname "$0")/../active-$2";; esac`,
      ip: 'true',
      journalctl: 'true',
    });
    const path = (name: string) => join(f.dir, name);
    const script = hostScript(
      {
        haproxy_candidate: path('haproxy.cfg.candidate'),
        haproxy_config: path('haproxy.cfg'),
        haproxy_applied: path('haproxy.applied'),
        keepalived_candidate: path('keepalived.conf.candidate'),
        keepalived_config: path('keepalived.conf'),
        keepalived_applied: path('keepalived.applied'),
        auth_include: path('auth.conf'),
        check_script: path('check.sh'),
        stats_socket: false,
        interface: 'eth0',
        vip: '10.77.0.100',
      },
      'services.sh',
      'lb-configure.sh',
    );
    writeFileSync(path('auth.conf'), 'authentication {}\n');
    writeFileSync(path('check.sh'), '#!/bin/sh\n');
    const run = (haproxyCfg: string, keepalivedConf = 'vrrp\n') => {
      writeFileSync(path('haproxy.cfg.candidate'), haproxyCfg);
      writeFileSync(path('keepalived.conf.candidate'), keepalivedConf);
      f.reset();
      const r = spawnSync('bash', ['-c', `set -euo pipefail\nCHANGED=1\n${script}`], { env: f.env, encoding: 'utf8' });
      const calls = f.calls().filter((c) => !/^(systemctl (is-active|enable)|ip|journalctl) /.test(c));
      return { status: r.status, stderr: r.stderr, calls };
    };
    return { run, path };
  }

  it('checks both candidates, then replaces the live files and starts both services; reloads only what changed', () => {
    const h = host();
    const first = h.run('frontend v1\n');
    expect(first.status).toBe(0);
    expect(first.calls).toEqual([
      `haproxy -c -f ${h.path('haproxy.cfg.candidate')}`,
      `keepalived -t -f ${h.path('keepalived.conf.candidate')}`,
      'systemctl daemon-reload', 'systemctl start haproxy.service',
      'systemctl daemon-reload', 'systemctl start keepalived.service',
    ]);
    expect(readFileSync(h.path('haproxy.cfg'), 'utf8')).toBe('frontend v1\n');
    expect(existsSync(h.path('haproxy.cfg.candidate'))).toBe(false);
    // the same again: checked, nothing reloaded
    expect(h.run('frontend v1\n').calls).toEqual([`haproxy -c -f ${h.path('haproxy.cfg.candidate')}`, `keepalived -t -f ${h.path('keepalived.conf.candidate')}`]);
    // haproxy's configuration changed: haproxy reloads (never restarts), keepalived stays
    expect(h.run('frontend v2\n').calls.slice(2)).toEqual(['systemctl daemon-reload', 'systemctl reload haproxy.service']);
  });

  it('leaves the live configuration and the services alone when haproxy rejects the candidate', () => {
    const h = host();
    h.run('frontend v1\n');
    const rejecting = host(false);
    writeFileSync(rejecting.path('haproxy.cfg'), 'frontend v1\n');
    const r = rejecting.run('frontend broken\n');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`hakube: haproxy rejects ${rejecting.path('haproxy.cfg.candidate')} (the live configuration is unchanged)`);
    expect(r.calls).toEqual([`haproxy -c -f ${rejecting.path('haproxy.cfg.candidate')}`]);
    expect(readFileSync(rejecting.path('haproxy.cfg'), 'utf8')).toBe('frontend v1\n');
  });

  it('refuses to go on without the authentication include (keepalived -t would accept it missing)', () => {
    const h = host();
    writeFileSync(h.path('auth.conf'), '');
    const r = h.run('frontend v1\n');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`hakube: ${h.path('auth.conf')} is missing or empty\n`);
    expect(r.calls).toEqual([]);
  });
});

describe('the install script (lib/scripts/lb-install.sh)', () => {
  it('installs the packages when one is missing, without Recommends', () => {
    // haproxy and keepalived answer; curl is missing from this PATH
    const f = fakeBinaries({ haproxy: 'echo "HAProxy version 2.6"', keepalived: 'echo "Keepalived v2.2"', 'apt-get': 'true', flock: 'true', timeout: 'shift; "$@"' });
    const script = hostScript({ packages: ['haproxy', 'keepalived', 'hakube-missing-tool'] }, 'packages.sh', 'lb-install.sh');
    const r = spawnSync('bash', ['-c', `set -euo pipefail\n${script.replace('/var/lock/hakube-packages.lock', join(f.dir, 'lock'))}`], { env: f.env, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(f.calls().filter((c) => c.startsWith('apt-get'))).toEqual([
      'apt-get -q -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 update',
      'apt-get -q -y -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 install --no-install-recommends haproxy keepalived hakube-missing-tool',
    ]);
    expect(r.stdout).toContain('hakube: HAProxy version 2.6\n');
  });
});

describe("keepalived's track script (lib/scripts/haproxy-check.sh)", () => {
  function check(script: string, haproxyActive: boolean, curlOk = true) {
    const f = fakeBinaries({ systemctl: haproxyActive ? 'exit 0' : 'exit 3', curl: curlOk ? 'exit 0' : 'exit 22' });
    const r = spawnSync('bash', ['-c', script], { env: f.env, encoding: 'utf8' });
    return { status: r.status, stderr: r.stderr, calls: f.calls() };
  }

  it('tcp: passes while haproxy runs and accepts connections on its port, fails otherwise', async () => {
    expect(check(renderHaproxyCheckScript('api', openPort, 'tcp'), true).status).toBe(0);
    const down = check(renderHaproxyCheckScript('api', openPort, 'tcp'), false);
    expect([down.status, down.stderr]).toEqual([1, 'hakube: haproxy is not running\n']);
    const port = await closedPort();
    const refused = check(renderHaproxyCheckScript('api', port, 'tcp'), true);
    expect([refused.status, refused.stderr]).toEqual([1, `hakube: haproxy does not accept connections on port ${port} (api)\n`]);
  });

  it("https-healthz: asks the API server's /healthz through the local haproxy", () => {
    const ok = check(renderHaproxyCheckScript('api', 8443, 'https-healthz'), true);
    expect(ok.status).toBe(0);
    expect(ok.calls).toContain('curl --silent --fail --insecure --max-time 2 --output /dev/null https://127.0.0.1:8443/healthz');
    const failing = check(renderHaproxyCheckScript('api', 8443, 'https-healthz'), true, false);
    expect([failing.status, failing.stderr]).toEqual([1, 'hakube: no API server answers https://127.0.0.1:8443/healthz through haproxy (api)\n']);
  });
});

describe("the load balancer's ready check (lib/scripts/lb-ready.sh)", () => {
  it('passes once the endpoint accepts connections, and gives up after the wait with a clear message', async () => {
    const ok = spawnSync('bash', ['-c', renderLbReadyScript('127.0.0.1', openPort)], { encoding: 'utf8' });
    expect([ok.status, ok.stdout]).toEqual([0, `hakube: 127.0.0.1:${openPort} accepts connections\n`]);
    const port = await closedPort();
    const down = spawnSync('bash', ['-c', renderLbReadyScript('127.0.0.1', port)], { encoding: 'utf8', env: { ...process.env, HAKUBE_CHECK_WAIT: '1' } });
    expect(down.status).toBe(1);
    expect(down.stderr).toBe(`hakube: nothing accepts connections on 127.0.0.1:${port} after 1 s\n`);
  });
});
