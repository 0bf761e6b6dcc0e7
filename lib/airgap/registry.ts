import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { LAB_PATH, sleep } from '../lab/exec.js';
import { canConnect } from '../lab/network.js';
import { procAlive, procArgs, signal, waitForExit } from '../lab/proc.js';
import { AirgapError, run } from './exec.js';

/**
 * The site's servers, run as detached processes that outlive the command that started them and are stopped by PID
 * (only after the PID's command line proves it is the process started for this run directory):
 * - Debian's docker-registry (distribution 2.8), plain HTTP, no auth, filesystem storage;
 * - a static file server for the apt repository: a small `node` script, so the site needs no web server package
 *   and serves exactly GET/HEAD of files below one directory (paths like `core:/stable:` included);
 * - CoreDNS as the site's resolver, which knows no name (`renderCorefile`).
 */

/** `address:port` a server listens on (an IP address; loopback in tests). */
export interface Listen {
  readonly address: string;
  readonly port: number;
}

function checkListen(what: string, listen: Listen): void {
  if (!isIP(listen.address)) throw new AirgapError(`${what}: address ${JSON.stringify(listen.address)} must be an IP address`);
  if (!Number.isInteger(listen.port) || listen.port < 1 || listen.port > 65535) throw new AirgapError(`${what}: port ${JSON.stringify(listen.port)} must be 1-65535`);
}

/** `host:port` for URLs (IPv6 in brackets). Pure. */
export function hostPort(listen: Listen): string {
  return isIP(listen.address) === 6 ? `[${listen.address}]:${listen.port}` : `${listen.address}:${listen.port}`;
}

/** The registry's config.yml: filesystem storage, plain HTTP on `listen`, no auth, deletes allowed. Pure. */
export function renderRegistryConfig(listen: Listen, storageDir: string): string {
  checkListen('registry', listen);
  if (!storageDir.startsWith('/') || /["\n\\]/.test(storageDir)) throw new AirgapError(`registry: storage dir ${JSON.stringify(storageDir)} must be an absolute path without quotes`);
  return `# hakube air-gapped site registry (generated)
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: "${storageDir}"
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: "${hostPort(listen)}"
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
`;
}

/** A started server: its PID and where it listens. */
export interface Server {
  readonly pid: number;
  readonly listen: Listen;
  /** Its run directory (config, log). */
  readonly runDir: string;
}

/**
 * True when `pid` itself holds a listening TCP socket on `port` (its socket inodes against the LISTEN entries of
 * /proc/<pid>/net/tcp{,6}): an answer on the port may come from another process that had it first.
 */
export function listensOn(pid: number, port: number): boolean {
  const inodes = new Set<string>();
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== '0A') continue; // 0A: LISTEN
      if (parseInt(fields[1].split(':')[1], 16) === port) inodes.add(fields[9]);
    }
  }
  if (inodes.size === 0) return false;
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        return match !== null && inodes.has(match[1]);
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}


function registryConfigPath(runDir: string): string {
  return join(resolve(runDir), 'registry.yml');
}

/** True when `pid` runs `command` with the file `config` among its arguments (a server started by this code). */
function runsWithConfig(pid: number, command: string, config: string): boolean {
  const args = procArgs(pid);
  return (args[0] ?? '').endsWith(command) && args.includes(config);
}

/** True when `pid` is the docker-registry started with `runDir`'s config. */
export function isOurRegistry(pid: number, runDir: string): boolean {
  return runsWithConfig(pid, 'docker-registry', registryConfigPath(runDir));
}

/** Start docker-registry detached (config and log in `runDir`, blobs in `storageDir`), wait until `/v2/` answers. */
export async function startRegistry(options: { listen: Listen; storageDir: string; runDir: string }): Promise<Server> {
  const runDir = resolve(options.runDir);
  const storageDir = resolve(options.storageDir);
  mkdirSync(runDir, { recursive: true });
  mkdirSync(storageDir, { recursive: true });
  const config = registryConfigPath(runDir);
  writeFileSync(config, renderRegistryConfig(options.listen, storageDir));
  const log = join(runDir, 'registry.log');
  await assertPortFree(options.listen, 'docker-registry');
  const pid = spawnDetached('docker-registry', ['serve', config], log);
  const server = { pid, listen: options.listen, runDir };
  try {
    await waitForHttp(`http://${hostPort(options.listen)}/v2/`, pid, options.listen.port, 'docker-registry', log);
  } catch (e) {
    await stopRegistry(server);
    throw e;
  }
  return server;
}

/** Stop the registry of `server` (only when its PID still is that registry). */
export async function stopRegistry(server: Server): Promise<void> {
  if (isOurRegistry(server.pid, server.runDir)) await terminate(server.pid);
}

/** The static server's script (CommonJS, run by `node <script> <root> <address> <port>`). */
export const STATIC_SERVER_SCRIPT = `'use strict';
// hakube air-gapped site: serves the files below one directory, GET and HEAD only (generated)
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const [root, address, port] = process.argv.slice(2);
const base = fs.realpathSync(root);
const server = http.createServer((req, res) => {
  if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { allow: 'GET, HEAD' }); res.end(); return; }
  let file;
  try { file = path.join(base, decodeURIComponent(new URL(req.url, 'http://site').pathname)); } catch { res.writeHead(400); res.end(); return; }
  let stat;
  try { file = fs.realpathSync(file); stat = fs.statSync(file); } catch { stat = undefined; }
  if (!stat || !stat.isFile() || !file.startsWith(base + path.sep)) { res.writeHead(404, { 'content-type': 'text/plain' }); res.end('not found\\n'); return; }
  const modified = new Date(Math.floor(stat.mtimeMs / 1000) * 1000);
  const since = Date.parse(req.headers['if-modified-since'] || '');
  if (!Number.isNaN(since) && modified.getTime() <= since) { res.writeHead(304); res.end(); return; }
  res.writeHead(200, { 'content-length': stat.size, 'last-modified': modified.toUTCString(), 'content-type': 'application/octet-stream' });
  if (req.method === 'HEAD') { res.end(); return; }
  fs.createReadStream(file).pipe(res);
});
server.on('error', (e) => { console.error('hakube static server: ' + e.message); process.exit(1); });
server.listen(Number(port), address, () => console.log('hakube static server: serving ' + base + ' on ' + address + ':' + port));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

function staticScriptPath(runDir: string): string {
  return join(resolve(runDir), 'static-server.cjs');
}

/** True when `pid` is the static server started with `runDir`'s script. */
export function isOurStaticServer(pid: number, runDir: string): boolean {
  const args = procArgs(pid);
  return args[1] === staticScriptPath(runDir);
}

/** Serve `root` over plain HTTP on `listen` with a detached node process; wait until it answers. */
export async function startStaticServer(options: { root: string; listen: Listen; runDir: string }): Promise<Server> {
  checkListen('static server', options.listen);
  if (!existsSync(options.root)) throw new AirgapError(`static server: root ${options.root} does not exist`);
  const runDir = resolve(options.runDir);
  mkdirSync(runDir, { recursive: true });
  const script = staticScriptPath(runDir);
  writeFileSync(script, STATIC_SERVER_SCRIPT);
  const log = join(runDir, 'static-server.log');
  await assertPortFree(options.listen, 'the static server');
  const pid = spawnDetached(process.execPath, [script, resolve(options.root), options.listen.address, String(options.listen.port)], log);
  const server = { pid, listen: options.listen, runDir };
  try {
    await waitForHttp(`http://${hostPort(options.listen)}/`, pid, options.listen.port, 'the static server', log);
  } catch (e) {
    await stopStaticServer(server);
    throw e;
  }
  return server;
}

/** Stop the static server of `server` (only when its PID still is that server). */
export async function stopStaticServer(server: Server): Promise<void> {
  if (isOurStaticServer(server.pid, server.runDir)) await terminate(server.pid);
}

/**
 * The site resolver's Corefile: every query on `listen` (UDP and TCP) is answered NXDOMAIN. A site without outside
 * DNS still needs a nameserver hosts can name: cluster DNS forwards what it does not know to the hosts' resolver and
 * refuses to start with none; an immediate "no such name" is the honest answer on an air-gapped site. Pure.
 */
export function renderCorefile(listen: Listen): string {
  checkListen('dns', listen);
  return `# hakube air-gapped site resolver (generated): no outside DNS, every name is unknown
.:${listen.port} {
    bind ${listen.address}
    template ANY ANY {
        rcode NXDOMAIN
    }
}
`;
}

function corefilePath(runDir: string): string {
  return join(resolve(runDir), 'Corefile');
}

/** True when `pid` is the CoreDNS started with `runDir`'s Corefile. */
export function isOurDnsServer(pid: number, runDir: string): boolean {
  return runsWithConfig(pid, 'coredns', corefilePath(runDir));
}

/** Start CoreDNS (`binary`) detached as the site's resolver on `listen`; wait until it listens. */
export async function startDnsServer(options: { binary: string; listen: Listen; runDir: string }): Promise<Server> {
  const runDir = resolve(options.runDir);
  mkdirSync(runDir, { recursive: true });
  const corefile = corefilePath(runDir);
  writeFileSync(corefile, renderCorefile(options.listen));
  const log = join(runDir, 'coredns.log');
  const pid = spawnDetached(options.binary, ['-conf', corefile], log);
  const server = { pid, listen: options.listen, runDir };
  const deadline = Date.now() + 20_000;
  while (!listensOn(pid, options.listen.port)) {
    if (!procAlive(pid) || Date.now() > deadline) {
      await stopDnsServer(server);
      throw new AirgapError(`the site resolver (CoreDNS) does not listen on ${hostPort(options.listen)}: ${tail(log)}`);
    }
    await sleep(100);
  }
  return server;
}

/** Stop the resolver of `server` (only when its PID still is that CoreDNS). */
export async function stopDnsServer(server: Server): Promise<void> {
  if (isOurDnsServer(server.pid, server.runDir)) await terminate(server.pid);
}

function spawnDetached(cmd: string, args: readonly string[], logFile: string): number {
  const log = openSync(logFile, 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', log, log], env: { PATH: LAB_PATH, LC_ALL: 'C', HOME: '/nonexistent' } });
  closeSync(log);
  child.on('error', () => undefined);
  child.unref();
  if (child.pid === undefined) throw new AirgapError(`could not start ${cmd}`);
  return child.pid;
}

async function terminate(pid: number): Promise<void> {
  signal(pid, 'SIGTERM');
  if ((await waitForExit([pid], 5000)).length) signal(pid, 'SIGKILL');
  await waitForExit([pid], 5000);
}

/** Refuse to start a server on a port something already accepts connections on. */
async function assertPortFree(listen: Listen, what: string): Promise<void> {
  if (await canConnect(listen.address, listen.port)) throw new AirgapError(`${what}: ${hostPort(listen)} is taken by another process (it accepts connections)`);
}

/**
 * Wait until `pid` listens on `port` and `url` answers with a status below 500, failing early when `pid` exits.
 */
async function waitForHttp(url: string, pid: number, port: number, what: string, log: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last = '';
  while (Date.now() < deadline) {
    if (!procAlive(pid)) throw new AirgapError(`${what} exited at start (port taken?): ${tail(log)}`);
    if (!listensOn(pid, port)) {
      await sleep(100);
      continue;
    }
    const status = await httpStatus(url).catch((e: Error) => ((last = e.message), 0));
    if (status >= 200 && status < 500) return;
    await sleep(100);
  }
  throw new AirgapError(`${what} does not answer on ${url} after 20 s (${last}): ${tail(log)}`);
}

/** The HTTP status of a GET of `url` (body discarded). */
export function httpStatus(url: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      resolvePromise(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

function tail(log: string): string {
  try {
    return readFileSync(log, 'utf8').trim().split('\n').slice(-5).join(' | ') || '(empty log)';
  } catch {
    return '(no log)';
  }
}

/**
 * Push an OCI layout's image to `<registry>/<repository>/<name>:<tag>` over plain HTTP with skopeo (digests kept:
 * the layout's gzip layers are copied as they are).
 */
export function pushImage(options: { layoutDir: string; tag: string; registry: Listen; repository: string; name: string }): string {
  const { layoutDir, tag, registry, repository, name } = options;
  if (!/^[a-z0-9]+([._/-][a-z0-9]+)*$/.test(repository)) throw new AirgapError(`push: repository ${JSON.stringify(repository)} is not a lowercase image path`);
  const destination = `docker://${hostPort(registry)}/${repository}/${name}:${tag}`;
  // --insecure-policy: the local layout needs no signature policy (skopeo would read /etc/containers/policy.json)
  run('skopeo', ['--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${layoutDir}:${tag}`, destination]);
  return destination.slice('docker://'.length);
}
