import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { canConnect } from './network.js';
import { join } from 'node:path';
import { LAB_GATEWAY, LAB_PROXY_CACHE_DIR, LAB_PROXY_PORT, LAB_PROXY_RUN_DIR, LAB_SUITE } from './config.js';
import { LAB_PATH, LabError, sleep } from './exec.js';
import type { LabMirrors } from './mirror.js';
import { procAlive, procArgs, signal, waitForExit } from './proc.js';

/**
 * The lab's apt-cacher-ng: its own config, cache and logs, listening only on the bridge address, and allowed to
 * fetch only from the machine's Debian mirrors (`ForceManaged` + one `Remap-` per mirror).
 */

const CONF_DIR = join(LAB_PROXY_RUN_DIR, 'conf');
const LOG_FILE = join(LAB_PROXY_RUN_DIR, 'daemon.log');

/** acng.conf text for the lab. Pure. */
export function proxyConfig(mirrors: LabMirrors): string {
  const hostPath = (url: string) => url.replace(/^http:\/\//, '');
  return [
    '# hakube lab apt proxy (generated; removed by `hakube lab down`)',
    `CacheDir: ${LAB_PROXY_CACHE_DIR}`,
    `LogDir: ${LAB_PROXY_RUN_DIR}`,
    'SupportDir: /usr/lib/apt-cacher-ng',
    `Port: ${LAB_PROXY_PORT}`,
    `BindAddress: ${LAB_GATEWAY}`,
    `PidFile: ${join(LAB_PROXY_RUN_DIR, 'pid')}`,
    `SocketPath: ${join(LAB_PROXY_RUN_DIR, 'socket')}`,
    'ForeGround: 1',
    'ForceManaged: 1',
    `Remap-hakubedeb: ${hostPath(mirrors.archive)} ; ${mirrors.archive}`,
    `Remap-hakubesec: ${hostPath(mirrors.security)} ; ${mirrors.security}`,
    'ExThreshold: 4',
    '',
  ].join('\n');
}

/** True when `pid` is the apt-cacher-ng the lab started (checked through its command line). */
export function isLabProxy(pid: number): boolean {
  const args = procArgs(pid);
  return (args[0] ?? '').endsWith('apt-cacher-ng') && args.includes(CONF_DIR);
}

/** Start the lab's apt-cacher-ng, wait until it listens and can reach the mirror; returns its PID. */
export async function startProxy(mirrors: LabMirrors): Promise<number> {
  mkdirSync(CONF_DIR, { recursive: true });
  mkdirSync(LAB_PROXY_CACHE_DIR, { recursive: true });
  writeFileSync(join(CONF_DIR, 'acng.conf'), proxyConfig(mirrors));
  const log = openSync(LOG_FILE, 'a');
  const child = spawn('apt-cacher-ng', ['-c', CONF_DIR], { detached: true, stdio: ['ignore', log, log], env: { PATH: LAB_PATH, LC_ALL: 'C' } });
  closeSync(log);
  const pid = child.pid;
  child.on('error', () => undefined);
  child.unref();
  if (pid === undefined) throw new LabError('could not start apt-cacher-ng');
  await waitForListen(pid);
  await checkMirror(mirrors);
  return pid;
}

/** The PID apt-cacher-ng recorded in the lab's pid file (for a `down` after the state was lost). */
export function recordedProxyPid(): number | undefined {
  try {
    const pid = Number(readFileSync(join(LAB_PROXY_RUN_DIR, 'pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Stop the lab's apt-cacher-ng (only when `pid` really is it). */
export async function stopProxy(pid: number | undefined): Promise<void> {
  if (pid === undefined || !isLabProxy(pid)) return;
  signal(pid, 'SIGTERM');
  if ((await waitForExit([pid], 5000)).length) signal(pid, 'SIGKILL');
  await waitForExit([pid], 5000);
}

async function waitForListen(pid: number): Promise<void> {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    if (!procAlive(pid)) throw new LabError(`apt-cacher-ng exited at start (port ${LAB_PROXY_PORT} taken?): ${logTail()}`);
    if (await canConnect(LAB_GATEWAY, LAB_PROXY_PORT)) return;
    await sleep(100);
  }
  throw new LabError(`apt-cacher-ng does not listen on ${LAB_GATEWAY}:${LAB_PROXY_PORT}: ${logTail()}`);
}

/** Fetch the archive's Release file through the proxy, so a proxy that cannot reach the mirror fails `up` early. */
function checkMirror(mirrors: LabMirrors): Promise<void> {
  const url = `${mirrors.archive}/dists/${LAB_SUITE}/Release`;
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: LAB_GATEWAY, port: LAB_PROXY_PORT, path: url, method: 'GET', timeout: 30000 }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200
          ? resolvePromise()
          : reject(new LabError(`apt-cacher-ng cannot fetch ${url}: HTTP ${res.statusCode} ${res.statusMessage ?? ''}`)),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 30 s')));
    req.on('error', (e) => reject(new LabError(`apt-cacher-ng cannot fetch ${url}: ${e.message}`)));
    req.end();
  });
}

function logTail(): string {
  try {
    return readFileSync(LOG_FILE, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '(no log)';
  }
}
