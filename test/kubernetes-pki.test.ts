// lib/pki must be imported before @peculiar/x509: it installs the Reflect metadata shim x509 needs.
import { SecretStore } from '../lib/pki/index.js';
import {
  BOOTSTRAP_TOKEN_FILE,
  BOOTSTRAP_TOKEN_PATTERN,
  discoveryTokenCaCertHash,
  ensureBootstrapToken,
  ensureKubernetesPki,
  ensureOperatorKubeconfig,
  KUBEADM_PKI_LAYOUT,
  OPERATOR_KUBECONFIG_FILE,
  kubeadmPkiStepFiles,
  storedCaCertHash,
} from '../lib/pki/kubernetes.js';
import { renderInitConfig, renderJoinConfig, defaultControlPlaneArgs } from '../lib/render/kubeadm-config.js';
import { execFileSync, execSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isPkcs8Pem, secretMarkers, tempDir } from './fixtures.js';

let dir: string;
let store: SecretStore;

beforeEach(() => {
  dir = tempDir('hakube-k8s-pki-');
  store = new SecretStore(path.join(dir, 'secrets'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function read(relative: string): string {
  return fs.readFileSync(store.path(relative), 'utf8');
}

function mode(relative: string): number {
  return fs.statSync(store.path(relative)).mode & 0o777;
}

/** The pipeline kubeadm's documentation gives for --discovery-token-ca-cert-hash, run by the shell. */
function opensslHash(certPath: string): string {
  const out = execSync(
    `openssl x509 -pubkey -noout -in "${certPath}" | openssl pkey -pubin -outform der | sha256sum`,
    { encoding: 'utf8', shell: '/bin/bash' },
  );
  return `sha256:${out.split(/\s+/)[0]}`;
}

describe('ensureKubernetesPki', () => {
  it('creates the three CAs and the service-account key pair under kubernetes/', async () => {
    const pki = await ensureKubernetesPki(store, 'demo');
    expect(pki).toEqual({
      ca: { certificate: 'kubernetes/ca.crt', key: 'kubernetes/ca.key' },
      frontProxyCa: { certificate: 'kubernetes/front-proxy-ca.crt', key: 'kubernetes/front-proxy-ca.key' },
      etcdCa: { certificate: 'kubernetes/etcd/ca.crt', key: 'kubernetes/etcd/ca.key' },
      serviceAccount: { privateKey: 'kubernetes/sa.key', publicKey: 'kubernetes/sa.pub' },
    });
    for (const [ca, cn] of [
      [pki.ca, 'demo-kubernetes-ca'],
      [pki.frontProxyCa, 'demo-front-proxy-ca'],
      [pki.etcdCa, 'demo-etcd-ca'],
    ] as const) {
      const cert = new X509Certificate(read(ca.certificate));
      expect(cert.ca).toBe(true);
      expect(cert.subject).toBe(`CN=${cn}`);
      expect(cert.publicKey.asymmetricKeyType).toBe('ec');
      expect(cert.checkPrivateKey(createPrivateKey(read(ca.key)))).toBe(true);
      expect(isPkcs8Pem(read(ca.key))).toBe(true); // kubeadm's keyutil reads PKCS#8
      expect(mode(ca.key)).toBe(0o600);
      expect(mode(ca.certificate)).toBe(0o644);
    }
    // three distinct CAs
    const keys = new Set([pki.ca, pki.frontProxyCa, pki.etcdCa].map((ca) => read(ca.certificate)));
    expect(keys.size).toBe(3);
    // service account: RSA 2048, public key matches
    const sa = createPrivateKey(read(pki.serviceAccount.privateKey));
    expect(sa.asymmetricKeyType).toBe('rsa');
    expect(sa.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(read(pki.serviceAccount.publicKey)).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(mode(pki.serviceAccount.privateKey)).toBe(0o600);
  });

  it('is accepted by openssl as a CA that verifies itself', async () => {
    const pki = await ensureKubernetesPki(store, 'demo');
    const out = execFileSync('openssl', ['verify', '-CAfile', store.path(pki.ca.certificate), store.path(pki.ca.certificate)], {
      encoding: 'utf8',
    });
    expect(out).toMatch(/: OK/);
  });

  it('reuses every file byte for byte on the next run', async () => {
    const first = await ensureKubernetesPki(store, 'demo');
    const files = [first.ca, first.frontProxyCa, first.etcdCa].flatMap((c) => [c.certificate, c.key]);
    files.push(first.serviceAccount.privateKey, first.serviceAccount.publicKey);
    const before = files.map((f) => [read(f), fs.statSync(store.path(f)).mtimeMs]);
    const second = await ensureKubernetesPki(new SecretStore(store.dir), 'other-name');
    expect(second).toEqual(first);
    expect(files.map((f) => [read(f), fs.statSync(store.path(f)).mtimeMs])).toEqual(before);
  });

  it('refuses a half-present CA instead of regenerating it', async () => {
    const pki = await ensureKubernetesPki(store, 'demo');
    fs.rmSync(store.path(pki.frontProxyCa.key));
    await expect(ensureKubernetesPki(store, 'demo')).rejects.toThrow(/front-proxy-ca.crt exists but .*front-proxy-ca.key is missing/);
  });

  it('rejects a bad cluster name', async () => {
    await expect(ensureKubernetesPki(store, 'My Cluster')).rejects.toThrow(/clusterName "My Cluster"/);
  });
});

describe('ensureBootstrapToken', () => {
  it('creates a token of the kubeadm form once, 0600, and reuses it', () => {
    const token = ensureBootstrapToken(store);
    expect(token).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    expect(token).toMatch(BOOTSTRAP_TOKEN_PATTERN);
    expect(mode(BOOTSTRAP_TOKEN_FILE)).toBe(0o600);
    expect(ensureBootstrapToken(new SecretStore(store.dir))).toBe(token);
    expect(read(BOOTSTRAP_TOKEN_FILE)).toBe(token);
  });

  it('gives different clusters different tokens', () => {
    const other = new SecretStore(path.join(dir, 'other'));
    expect(ensureBootstrapToken(store)).not.toBe(ensureBootstrapToken(other));
  });

  it('rejects a stored value of the wrong form without printing it', () => {
    fs.mkdirSync(path.dirname(store.path(BOOTSTRAP_TOKEN_FILE)), { recursive: true });
    fs.writeFileSync(store.path(BOOTSTRAP_TOKEN_FILE), 'TOPSECRET.not-a-token\n');
    let message = '';
    try {
      ensureBootstrapToken(store);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/bootstrap-token does not hold a bootstrap token/);
    expect(message).not.toContain('TOPSECRET');
  });
});

describe('discoveryTokenCaCertHash', () => {
  it('equals the openssl pipeline from the kubeadm docs, for the ECDSA cluster CA', async () => {
    const pki = await ensureKubernetesPki(store, 'demo');
    const hash = discoveryTokenCaCertHash(read(pki.ca.certificate));
    expect(hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(hash).toBe(opensslHash(store.path(pki.ca.certificate)));
    expect(storedCaCertHash(store, pki.ca)).toBe(hash);
    // and differs between CAs
    expect(discoveryTokenCaCertHash(read(pki.etcdCa.certificate))).not.toBe(hash);
  });

  it('equals the openssl pipeline for an RSA CA made by openssl', () => {
    const key = path.join(dir, 'rsa-ca.key');
    const crt = path.join(dir, 'rsa-ca.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=rsa-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE'], { stdio: 'ignore' });
    expect(discoveryTokenCaCertHash(fs.readFileSync(crt, 'utf8'))).toBe(opensslHash(crt));
  });

  it('rejects anything but exactly one CA certificate', async () => {
    const pki = await ensureKubernetesPki(store, 'demo');
    const ca = read(pki.ca.certificate);
    expect(() => discoveryTokenCaCertHash('')).toThrow(/expected one PEM certificate, found 0/);
    expect(() => discoveryTokenCaCertHash(ca + read(pki.etcdCa.certificate))).toThrow(/found 2/);
    expect(() => discoveryTokenCaCertHash(read(pki.ca.key))).toThrow(/found 0/);
    const leaf = await store.ensureCertificate(pki.ca, { name: 'kubernetes/leaf', commonName: 'leaf', usages: ['client'] });
    expect(() => discoveryTokenCaCertHash(read(leaf.certificate))).toThrow(/"CN=leaf" is not a CA certificate/);
  });
});

describe('KUBEADM_PKI_LAYOUT and kubeadmPkiStepFiles', () => {
  it('puts the shared files where kubeadm looks for them', () => {
    expect(KUBEADM_PKI_LAYOUT).toEqual({
      ca: { certificate: '/etc/kubernetes/pki/ca.crt', key: '/etc/kubernetes/pki/ca.key' },
      frontProxyCa: { certificate: '/etc/kubernetes/pki/front-proxy-ca.crt', key: '/etc/kubernetes/pki/front-proxy-ca.key' },
      etcdCa: { certificate: '/etc/kubernetes/pki/etcd/ca.crt', key: '/etc/kubernetes/pki/etcd/ca.key' },
      serviceAccount: { privateKey: '/etc/kubernetes/pki/sa.key', publicKey: '/etc/kubernetes/pki/sa.pub' },
    });
  });

  it('maps store files to host paths with key modes 0600, and leaves the etcd CA out for external etcd', async () => {
    const pki = await ensureKubernetesPki(store, 'demo');
    const stacked = kubeadmPkiStepFiles(store, pki, { etcd: 'stacked' });
    expect(stacked.map((f) => [f.path, f.mode, f.secret?.file])).toEqual([
      ['/etc/kubernetes/pki/ca.crt', '0644', 'kubernetes/ca.crt'],
      ['/etc/kubernetes/pki/ca.key', '0600', 'kubernetes/ca.key'],
      ['/etc/kubernetes/pki/etcd/ca.crt', '0644', 'kubernetes/etcd/ca.crt'],
      ['/etc/kubernetes/pki/etcd/ca.key', '0600', 'kubernetes/etcd/ca.key'],
      ['/etc/kubernetes/pki/front-proxy-ca.crt', '0644', 'kubernetes/front-proxy-ca.crt'],
      ['/etc/kubernetes/pki/front-proxy-ca.key', '0600', 'kubernetes/front-proxy-ca.key'],
      ['/etc/kubernetes/pki/sa.key', '0600', 'kubernetes/sa.key'],
      ['/etc/kubernetes/pki/sa.pub', '0644', 'kubernetes/sa.pub'],
    ]);
    for (const f of stacked) {
      expect(f.secret?.dir).toBe(store.dir);
      expect(f.content).toBeUndefined();
      expect(f.owner).toBe('root:root');
    }
    const external = kubeadmPkiStepFiles(store, pki, { etcd: 'external' });
    expect(external.map((f) => f.path).filter((p) => p.includes('/etcd/'))).toEqual([]);
    expect(external).toHaveLength(6);
  });
});

describe('no key material in what goes into plans', () => {
  it('returns only paths and hashes, and the rendered join config carries only the pin', async () => {
    const pki = await ensureKubernetesPki(store, 'demo');
    const token = ensureBootstrapToken(store);
    const hash = storedCaCertHash(store, pki.ca);
    const markers = secretMarkers(store.dir);
    expect(markers.length).toBeGreaterThan(4); // PRIVATE KEY + the body lines of four private keys

    const planFacing = [
      JSON.stringify(pki),
      JSON.stringify(kubeadmPkiStepFiles(store, pki, { etcd: 'stacked' })),
      JSON.stringify(KUBEADM_PKI_LAYOUT),
      hash,
    ];
    for (const text of planFacing) {
      for (const marker of markers) expect(text).not.toContain(marker);
      expect(text).not.toContain(token);
      expect(text).not.toMatch(/BEGIN (CERTIFICATE|PUBLIC KEY)/);
    }

    // The kubeadm configs carry the token (so they are secret files), but never a key or certificate.
    const args = defaultControlPlaneArgs();
    const configs = [
      renderInitConfig(
        {
          kubernetesVersion: '1.31.2', clusterName: 'demo', controlPlaneEndpoint: '10.77.0.100:8443', certSANs: ['10.77.0.100'],
          podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/12', etcd: { local: {} },
          apiServerExtraArgs: args.apiServer, controllerManagerExtraArgs: args.controllerManager, schedulerExtraArgs: args.scheduler,
        },
        { advertiseAddress: '10.77.0.11', bindPort: 6443, nodeRegistration: { name: 'node-1' }, bootstrapToken: { token, ttl: '24h0m0s' } },
        {},
      ),
      renderJoinConfig('1.31.2', { apiServerEndpoint: '10.77.0.100:8443', token, caCertHashes: [hash], nodeRegistration: { name: 'node-2' } }),
    ];
    for (const text of configs) {
      for (const marker of markers) expect(text).not.toContain(marker);
      expect(text).not.toMatch(/-----BEGIN/);
    }
    expect(configs[1]).toContain(hash);
  });
});

describe('the operator\'s admin kubeconfig', () => {
  it('is 0600, points at the endpoint, and carries a client certificate of the cluster CA in kubeadm:cluster-admins', async () => {
    const pki = await ensureKubernetesPki(store, 'prod');
    const file = await ensureOperatorKubeconfig(store, pki, { name: 'prod', server: 'https://192.168.0.244:8443' });
    expect(file).toBe(store.path(OPERATOR_KUBECONFIG_FILE));
    expect(mode(OPERATOR_KUBECONFIG_FILE)).toBe(0o600);
    const config = yaml.load(fs.readFileSync(file, 'utf8')) as {
      clusters: Array<{ cluster: { server: string; 'certificate-authority-data': string } }>;
      users: Array<{ user: { 'client-certificate-data': string; 'client-key-data': string } }>;
      'current-context': string;
    };
    expect(config.clusters[0].cluster.server).toBe('https://192.168.0.244:8443');
    expect(config['current-context']).toBe('kubernetes-admin@prod');
    const b64 = (text: string) => Buffer.from(text, 'base64').toString('utf8');
    expect(b64(config.clusters[0].cluster['certificate-authority-data'])).toBe(read(pki.ca.certificate));
    const cert = new X509Certificate(b64(config.users[0].user['client-certificate-data']));
    expect(cert.subject).toContain('O=kubeadm:cluster-admins');
    expect(cert.subject).toContain('CN=kubernetes-admin');
    expect(cert.checkIssued(new X509Certificate(read(pki.ca.certificate)))).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(b64(config.users[0].user['client-key-data'])))).toBe(true);
    // openssl agrees: signed by the CA, for client authentication
    const certFile = path.join(dir, 'client.crt');
    fs.writeFileSync(certFile, cert.toString());
    expect(execFileSync('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', store.path(pki.ca.certificate), certFile], { encoding: 'utf8' })).toContain(': OK');
  });

  it('is reused byte for byte by the next plan, and a placeholder store writes none', async () => {
    const pki = await ensureKubernetesPki(store, 'prod');
    const file = await ensureOperatorKubeconfig(store, pki, { name: 'prod', server: 'https://10.0.0.1:6443' });
    const first = fs.readFileSync(file, 'utf8');
    await ensureOperatorKubeconfig(store, pki, { name: 'prod', server: 'https://10.0.0.1:6443' });
    expect(fs.readFileSync(file, 'utf8')).toBe(first);
    const placeholders = new SecretStore(path.join(dir, 'placeholders'), { placeholders: true });
    const written = await ensureOperatorKubeconfig(placeholders, await ensureKubernetesPki(placeholders, 'prod'), { name: 'prod', server: 'https://10.0.0.1:6443' });
    expect(fs.existsSync(written)).toBe(false);
  });
});
