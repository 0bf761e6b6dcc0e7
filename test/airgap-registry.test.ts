import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { artifactLookup, buildImage, siteImageSpecs } from '../lib/airgap/images.js';
import {
  type Server,
  hostPort,
  httpStatus,
  isOurRegistry,
  isOurStaticServer,
  listensOn,
  pushImage,
  renderRegistryConfig,
  startRegistry,
  startStaticServer,
  stopRegistry,
  stopStaticServer,
} from '../lib/airgap/registry.js';
import { fakeArtifacts, freePort, sh } from './airgap-fixtures.js';
import { tempDir } from './fixtures.js';

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));

/** GET with headers; resolves status, headers and body. */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A process of our own that is not a site server: stop functions must leave it alone. */
function bystander(): number {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  return child.pid!;
}

describe('registry config', () => {
  it('plain HTTP on the given address, filesystem storage in the given dir, no auth', () => {
    const config = parse(renderRegistryConfig({ address: '127.0.0.1', port: 5999 }, '/srv/registry'));
    expect(config.http.addr).toBe('127.0.0.1:5999');
    expect(config.http.tls).toBeUndefined();
    expect(config.storage.filesystem.rootdirectory).toBe('/srv/registry');
    expect(config.auth).toBeUndefined();
    expect(parse(renderRegistryConfig({ address: '::1', port: 5 }, '/r')).http.addr).toBe('[::1]:5');
  });

  it('refuses a host name, a bad port and a relative storage dir, naming them', () => {
    expect(() => renderRegistryConfig({ address: 'localhost', port: 5000 }, '/r')).toThrow(/"localhost"/);
    expect(() => renderRegistryConfig({ address: '127.0.0.1', port: 70000 }, '/r')).toThrow(/70000/);
    expect(() => renderRegistryConfig({ address: '127.0.0.1', port: 5000 }, 'rel')).toThrow(/"rel"/);
  });
});

describe('docker-registry on 127.0.0.1', () => {
  let registry: Server;
  let runDir: string;

  beforeAll(async () => {
    runDir = tempDir('hakube-airgap-reg-run-');
    registry = await startRegistry({ listen: { address: '127.0.0.1', port: await freePort() }, storageDir: tempDir('hakube-airgap-reg-'), runDir });
  }, 60_000);

  afterAll(async () => {
    if (registry) await stopRegistry(registry);
  });

  it('answers /v2/ and is recognised as ours by its command line', async () => {
    expect(await httpStatus(`http://${hostPort(registry.listen)}/v2/`)).toBe(200);
    expect(isOurRegistry(registry.pid, runDir)).toBe(true);
    expect(isOurRegistry(registry.pid, tempDir())).toBe(false);
    expect(isOurRegistry(process.pid, runDir)).toBe(false);
  });

  it('takes the pause image from its OCI layout with skopeo and serves the same manifest digest back', async () => {
    const spec = siteImageSpecs([{ name: 'pause', tag: '3.10.1' }], artifactLookup(fakeArtifacts()), { flannelTag: 'v0', testHttpdTag: 't' })[0];
    const image = await buildImage(spec, tempDir('hakube-airgap-img-'));
    const pushed = pushImage({ layoutDir: image.layoutDir, tag: image.tag, registry: registry.listen, repository: 'k8s', name: 'pause' });
    expect(pushed).toBe(`${hostPort(registry.listen)}/k8s/pause:3.10.1`);

    const manifest = await get(`http://${hostPort(registry.listen)}/v2/k8s/pause/manifests/3.10.1`, {
      accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
    });
    expect(manifest.status).toBe(200);
    expect(manifest.headers['docker-content-digest']).toBe(image.manifestDigest);
    expect(`sha256:${createHash('sha256').update(manifest.body).digest('hex')}`).toBe(image.manifestDigest);
    const doc = JSON.parse(manifest.body.toString());
    const config = await get(`http://${hostPort(registry.listen)}/v2/k8s/pause/blobs/${doc.config.digest}`);
    expect(JSON.parse(config.body.toString()).config.Entrypoint).toEqual(['/pause']);

    const inspect = sh('skopeo', ['--insecure-policy', 'inspect', '--tls-verify=false', `docker://${pushed}`]);
    expect(inspect.status, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ Digest: image.manifestDigest, Architecture: 'amd64', Os: 'linux' });
  }, 60_000);

  it('a push of a repository name with upper case is refused before skopeo runs', () => {
    expect(() => pushImage({ layoutDir: '/x', tag: 't', registry: registry.listen, repository: 'K8s', name: 'pause' })).toThrow(/"K8s"/);
  });

  it('refuses to start a second registry on a taken port (the answer there is not its own)', async () => {
    const other = tempDir('hakube-airgap-reg-run-');
    await expect(startRegistry({ listen: registry.listen, storageDir: tempDir('hakube-airgap-reg-'), runDir: other })).rejects.toThrow(
      `docker-registry: ${hostPort(registry.listen)} is taken by another process`,
    );
    expect(existsSync(join(other, 'registry.log'))).toBe(false);
  }, 30_000);

  it('knows which process listens on the port', () => {
    expect(listensOn(registry.pid, registry.listen.port)).toBe(true);
    expect(listensOn(process.pid, registry.listen.port)).toBe(false);
    expect(listensOn(registry.pid, registry.listen.port === 1 ? 2 : 1)).toBe(false);
  });

  it('stops only its own process: a foreign PID survives, the registry is gone', async () => {
    const foreign = bystander();
    try {
      await stopRegistry({ ...registry, pid: foreign });
      expect(alive(foreign)).toBe(true);
    } finally {
      process.kill(foreign, 'SIGKILL');
    }
    await stopRegistry(registry);
    expect(alive(registry.pid)).toBe(false);
    // refused, or reset by a socket that was closing with the process
    await expect(httpStatus(`http://${hostPort(registry.listen)}/v2/`)).rejects.toThrow(/ECONNREFUSED|ECONNRESET|socket hang up/);
    expect(listensOn(registry.pid, registry.listen.port)).toBe(false);
  }, 30_000);
});

describe('static file server on 127.0.0.1', () => {
  it('serves files below its root (colons in paths too), 404s outside it, HEAD works, stops only itself', async () => {
    const root = tempDir('hakube-airgap-www-');
    const dir = join(root, 'core:', 'stable:');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Release'), 'hello\n');
    const runDir = tempDir('hakube-airgap-www-run-');
    const server = await startStaticServer({ root, listen: { address: '127.0.0.1', port: await freePort() }, runDir });
    try {
      const base = `http://${hostPort(server.listen)}`;
      const got = await get(`${base}/core:/stable:/Release`);
      expect(got.status).toBe(200);
      expect(got.body.toString()).toBe('hello\n');
      expect(got.headers['content-length']).toBe('6');
      expect((await get(`${base}/core:/stable:/missing`)).status).toBe(404);
      expect((await get(`${base}/../../etc/passwd`)).status).toBe(404);
      expect((await get(`${base}/core:/%2e%2e/%2e%2e/%2e%2e/etc/passwd`)).status).toBe(404);
      const since = await get(`${base}/core:/stable:/Release`, { 'if-modified-since': new Date(Date.now() + 60_000).toUTCString() });
      expect(since.status).toBe(304);
      expect(isOurStaticServer(server.pid, runDir)).toBe(true);
      const foreign = bystander();
      try {
        await stopStaticServer({ ...server, pid: foreign });
        expect(alive(foreign)).toBe(true);
      } finally {
        process.kill(foreign, 'SIGKILL');
      }
    } finally {
      await stopStaticServer(server);
    }
    expect(alive(server.pid)).toBe(false);
  }, 30_000);
});
