// lib/pki is imported before @peculiar/x509: it loads reflect-metadata, which x509 needs at import time.
import { SecretStore, randomToken } from '../lib/pki/index.js';
import type { CaFiles, CertificateRequest } from '../lib/pki/index.js';
import { isPkcs8Pem } from './fixtures.js';
import * as x509 from '@peculiar/x509';
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const DAY = 24 * 60 * 60 * 1000;

let dir: string;
let store: SecretStore;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hakube-pki-'));
  store = new SecretStore(path.join(dir, 'secrets'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const serverRequest: CertificateRequest = {
  name: 'etcd/member-etcd-1-server',
  commonName: 'etcd-1',
  usages: ['server', 'client'],
  dnsNames: ['etcd-1', 'etcd-1.example.internal', 'localhost'],
  ipAddresses: ['10.0.0.11', '127.0.0.1', 'fd00::11'],
};

function cert(relative: string): x509.X509Certificate {
  return new x509.X509Certificate(fs.readFileSync(store.path(relative), 'utf8'));
}

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function mode(p: string): number {
  return fs.statSync(p).mode & 0o777;
}

function snapshot(relative: string): { bytes: Buffer; mtimeMs: number; ino: number } {
  const st = fs.statSync(store.path(relative));
  return { bytes: fs.readFileSync(store.path(relative)), mtimeMs: st.mtimeMs, ino: st.ino };
}

async function setup(): Promise<{ ca: CaFiles }> {
  return { ca: await store.ensureCa('etcd/ca', 'etcd-ca') };
}

describe('ensureCa', () => {
  it('creates a self-signed 10-year CA with critical CA basic constraints and key usage', async () => {
    const ca = await store.ensureCa('etcd/ca', 'etcd-ca');
    expect(ca).toEqual({ certificate: 'etcd/ca.crt', key: 'etcd/ca.key' });

    const c = cert(ca.certificate);
    expect(c.subject).toBe('CN=etcd-ca');
    expect(c.issuer).toBe('CN=etcd-ca');
    expect(await c.isSelfSigned()).toBe(true);

    const bc = c.getExtension(x509.BasicConstraintsExtension)!;
    expect(bc.ca).toBe(true);
    expect(bc.critical).toBe(true);
    const ku = c.getExtension(x509.KeyUsagesExtension)!;
    expect(ku.critical).toBe(true);
    expect(ku.usages).toBe(
      x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
    );
    expect(c.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);

    // Validity: backdated a little, ~10 years long.
    expect(c.notBefore.getTime()).toBeLessThan(Date.now() - 60_000);
    expect(c.notBefore.getTime()).toBeGreaterThan(Date.now() - 60 * 60_000);
    const years = (c.notAfter.getTime() - c.notBefore.getTime()) / (365.25 * DAY);
    expect(years).toBeCloseTo(10, 1);

    // PKCS#8 EC P-256 key matching the certificate.
    const keyPem = fs.readFileSync(store.path(ca.key), 'utf8');
    const key = createPrivateKey(keyPem);
    expect(isPkcs8Pem(keyPem)).toBe(true);
    expect(key.asymmetricKeyType).toBe('ec');
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(createPublicKey(key).export({ type: 'spki', format: 'der' })).toEqual(Buffer.from(c.publicKey.rawData));
    expect(fs.readFileSync(store.path(ca.certificate), 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
  });

  it('is accepted by openssl as a CA', async () => {
    const { ca } = await setup();
    const text = openssl('x509', '-noout', '-text', '-in', store.path(ca.certificate));
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(text).toMatch(/Subject Key Identifier/);
    expect(text).toMatch(/ecdsa-with-SHA256/);
    expect(openssl('verify', '-CAfile', store.path(ca.certificate), store.path(ca.certificate))).toMatch(/: OK/);
    // The key parses with openssl too.
    expect(openssl('pkey', '-in', store.path(ca.key), '-noout', '-text')).toMatch(/ASN1 OID: prime256v1/);
  });

  it('reuses an existing CA byte-for-byte on a later run', async () => {
    await store.ensureCa('etcd/ca', 'etcd-ca');
    const before = [snapshot('etcd/ca.crt'), snapshot('etcd/ca.key')];
    const again = await new SecretStore(store.dir).ensureCa('etcd/ca', 'etcd-ca');
    expect(again).toEqual({ certificate: 'etcd/ca.crt', key: 'etcd/ca.key' });
    expect([snapshot('etcd/ca.crt'), snapshot('etcd/ca.key')]).toEqual(before);
  });

  it('refuses to regenerate a CA when ca.key is missing but ca.crt exists (and vice versa)', async () => {
    await store.ensureCa('etcd/ca', 'etcd-ca');
    const crt = fs.readFileSync(store.path('etcd/ca.crt'));
    fs.rmSync(store.path('etcd/ca.key'));
    await expect(store.ensureCa('etcd/ca', 'etcd-ca')).rejects.toThrow(/etcd\/ca\.key is missing/);
    // Nothing was regenerated.
    expect(fs.existsSync(store.path('etcd/ca.key'))).toBe(false);
    expect(fs.readFileSync(store.path('etcd/ca.crt'))).toEqual(crt);

    // Issuing from the half-present CA is an error naming the file, too.
    await expect(
      store.ensureCertificate({ certificate: 'etcd/ca.crt', key: 'etcd/ca.key' }, serverRequest),
    ).rejects.toThrow(/etcd\/ca\.key/);

    fs.rmSync(store.path('etcd/ca.crt'));
    fs.writeFileSync(store.path('etcd/ca.key'), 'x');
    await expect(store.ensureCa('etcd/ca', 'etcd-ca')).rejects.toThrow(/etcd\/ca\.crt is missing/);
  });

  it('rejects a CA whose key does not match its certificate', async () => {
    await store.ensureCa('a/ca', 'a');
    await store.ensureCa('b/ca', 'b');
    fs.copyFileSync(store.path('b/ca.key'), store.path('a/ca.key'));
    await expect(store.ensureCa('a/ca', 'a')).rejects.toThrow(/a\/ca\.key does not match the CA certificate/);
  });

  it('reuses an operator-provided RSA CA (PKCS#1 key, as kubeadm writes it) to issue leaves', async () => {
    fs.mkdirSync(store.path('kubernetes'), { recursive: true });
    const key = store.path('kubernetes/ca.key');
    const crt = store.path('kubernetes/ca.crt');
    openssl('genrsa', '-traditional', '-out', key, '2048');
    const pkcs1 = fs.readFileSync(key, 'utf8');
    expect(createPrivateKey(pkcs1).export({ type: 'pkcs1', format: 'pem' })).toBe(pkcs1);
    openssl('req', '-x509', '-new', '-key', key, '-out', crt, '-days', '30', '-subj', '/CN=kubernetes',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    const caPem = fs.readFileSync(crt);

    const ca = await store.ensureCa('kubernetes/ca', 'ignored-when-reused');
    expect(fs.readFileSync(crt)).toEqual(caPem);
    const files = await store.ensureCertificate(ca, {
      name: 'kubernetes/apiserver',
      commonName: 'kube-apiserver',
      usages: ['server'],
      dnsNames: ['kubernetes.default'],
    });
    expect(openssl('verify', '-CAfile', crt, store.path(files.certificate))).toMatch(/OK/);
    // Capped at the CA's expiry.
    expect(cert(files.certificate).notAfter.getTime()).toBeLessThanOrEqual(cert(ca.certificate).notAfter.getTime());
  });

  it('rejects a corrupt CA certificate, naming the file', async () => {
    await store.ensureCa('ca', 'ca');
    fs.writeFileSync(store.path('ca.crt'), 'garbage');
    await expect(store.ensureCa('ca', 'ca')).rejects.toThrow(/ca\.crt is not a valid PEM certificate/);
  });
});

describe('ensureCertificate', () => {
  it('issues a leaf with the requested subject, SANs and EKUs, signed by the CA', async () => {
    const { ca } = await setup();
    const files = await store.ensureCertificate(ca, {
      ...serverRequest,
      organizations: ['system:masters', 'hakube'],
    });
    expect(files).toEqual({
      certificate: 'etcd/member-etcd-1-server.crt',
      key: 'etcd/member-etcd-1-server.key',
    });

    const c = cert(files.certificate);
    const caCert = cert(ca.certificate);
    expect(c.subjectName.getField('CN')).toEqual(['etcd-1']);
    expect(c.subjectName.getField('O')).toEqual(['system:masters', 'hakube']);
    expect(c.issuer).toBe(caCert.subject);
    expect(Buffer.from(c.issuerName.toArrayBuffer())).toEqual(Buffer.from(caCert.subjectName.toArrayBuffer()));

    const san = c.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON();
    expect(san.filter((n) => n.type === 'dns').map((n) => n.value)).toEqual([
      'etcd-1',
      'etcd-1.example.internal',
      'localhost',
    ]);
    expect(san.filter((n) => n.type === 'ip').map((n) => n.value)).toEqual(['10.0.0.11', '127.0.0.1', 'fd00::11']);

    const eku = c.getExtension(x509.ExtendedKeyUsageExtension)!;
    expect([...eku.usages].sort()).toEqual([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth].sort());

    const bc = c.getExtension(x509.BasicConstraintsExtension)!;
    expect(bc.ca).toBe(false);
    const ku = c.getExtension(x509.KeyUsagesExtension)!;
    expect(ku.critical).toBe(true);
    expect(ku.usages).toBe(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment);
    expect(c.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(
      caCert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId,
    );

    // Chain verifies: signature with the CA key, and a chain builder finds the CA.
    expect(await c.verify({ publicKey: caCert.publicKey, signatureOnly: true })).toBe(true);
    const chain = await new x509.X509ChainBuilder({ certificates: [caCert] }).build(c);
    expect(chain.map((x) => x.subject)).toEqual([c.subject, caCert.subject]);

    // Validity ~1 year, backdated; positive serial number.
    expect(c.notBefore.getTime()).toBeLessThan(Date.now() - 60_000);
    expect((c.notAfter.getTime() - c.notBefore.getTime()) / DAY).toBeGreaterThanOrEqual(365);
    expect((c.notAfter.getTime() - c.notBefore.getTime()) / DAY).toBeLessThanOrEqual(366);
    expect(c.serialNumber).toMatch(/^[0-7][0-9a-f]{31}$/);
    expect(c.serialNumber).not.toBe(caCert.serialNumber);

    // The key file is PKCS#8 and matches the certificate.
    const keyPem = fs.readFileSync(store.path(files.key), 'utf8');
    expect(isPkcs8Pem(keyPem)).toBe(true);
    expect(createPublicKey(keyPem).export({ type: 'spki', format: 'der' })).toEqual(Buffer.from(c.publicKey.rawData));
  });

  it('is accepted by openssl (text dump, chain, purpose, IP/host checks)', async () => {
    const { ca } = await setup();
    const files = await store.ensureCertificate(ca, serverRequest);
    const crt = store.path(files.certificate);
    const text = openssl('x509', '-noout', '-text', '-in', crt);
    expect(text).toContain('Issuer: CN = etcd-ca');
    expect(text).toContain('Subject: CN = etcd-1');
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(text).toMatch(
      /DNS:etcd-1, DNS:etcd-1\.example\.internal, DNS:localhost, IP Address:10\.0\.0\.11, IP Address:127\.0\.0\.1, IP Address:FD00:0:0:0:0:0:0:11/,
    );
    expect(text).toContain('X509v3 Authority Key Identifier');

    const caCrt = store.path(ca.certificate);
    expect(openssl('verify', '-CAfile', caCrt, crt)).toBe(`${crt}: OK\n`);
    expect(openssl('verify', '-CAfile', caCrt, '-purpose', 'sslserver', '-verify_ip', '10.0.0.11', crt)).toMatch(/OK/);
    expect(openssl('verify', '-CAfile', caCrt, '-purpose', 'sslclient', '-verify_hostname', 'etcd-1.example.internal', crt)).toMatch(/OK/);
    // Negative control: an IP that is not in the SANs fails.
    expect(() => openssl('verify', '-CAfile', caCrt, '-verify_ip', '10.0.0.99', crt)).toThrow();
    // Key and certificate belong together.
    expect(openssl('pkey', '-in', store.path(files.key), '-pubout')).toBe(openssl('x509', '-in', crt, '-noout', '-pubkey'));
  });

  it('produces certificates usable for mutual TLS (server + client)', async () => {
    const { ca } = await setup();
    const server = await store.ensureCertificate(ca, serverRequest);
    const client = await store.ensureCertificate(ca, {
      name: 'etcd/apiserver-etcd-client',
      commonName: 'kube-apiserver-etcd-client',
      organizations: ['system:masters'],
      usages: ['client'],
    });
    const read = (p: string) => fs.readFileSync(store.path(p));
    const srv = tls.createServer({
      key: read(server.key),
      cert: read(server.certificate),
      ca: read(ca.certificate),
      requestCert: true,
      rejectUnauthorized: true,
    });
    srv.on('secureConnection', (socket) => {
      socket.end(String(socket.getPeerCertificate().subject.CN));
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    try {
      const port = (srv.address() as { port: number }).port;
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = tls.connect({
          host: '127.0.0.1',
          port,
          key: read(client.key),
          cert: read(client.certificate),
          ca: read(ca.certificate),
        });
        let data = '';
        socket.on('data', (d) => (data += d));
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      });
      expect(reply).toBe('kube-apiserver-etcd-client');
    } finally {
      srv.close();
    }
  });

  it('omits the SAN extension for a certificate without SANs', async () => {
    const { ca } = await setup();
    const files = await store.ensureCertificate(ca, { name: 'admin', commonName: 'kubernetes-admin', usages: ['client'] });
    const c = cert(files.certificate);
    expect(c.getExtension(x509.SubjectAlternativeNameExtension)).toBeNull();
    expect(c.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual([x509.ExtendedKeyUsage.clientAuth]);
  });

  it('reuses the same files byte-for-byte across two synths', async () => {
    const first = await setup();
    const files = await store.ensureCertificate(first.ca, serverRequest);
    const names = [first.ca.certificate, first.ca.key, files.certificate, files.key];
    const before = names.map(snapshot);
    const hashes = names.map((n) => store.sha256(n));

    // "Second synth": a fresh store object over the same directory, same requests.
    const store2 = new SecretStore(store.dir);
    const ca2 = await store2.ensureCa('etcd/ca', 'etcd-ca');
    const files2 = await store2.ensureCertificate(ca2, {
      ...serverRequest,
      // Same set in another order / another spelling of the same IPv6 address: still the same request.
      dnsNames: [...serverRequest.dnsNames!].reverse(),
      ipAddresses: ['fd00:0:0:0:0:0:0:11', '127.0.0.1', '10.0.0.11'],
    });
    expect(files2).toEqual(files);
    expect(names.map(snapshot)).toEqual(before); // same bytes, same mtime, same inode: not rewritten
    expect(names.map((n) => store2.sha256(n))).toEqual(hashes);
  });

  it('re-issues when the SANs change, keeping the CA (and the leaf key) unchanged', async () => {
    const { ca } = await setup();
    const files = await store.ensureCertificate(ca, serverRequest);
    const caBefore = [snapshot(ca.certificate), snapshot(ca.key)];
    const keyBefore = snapshot(files.key);
    const certBefore = snapshot(files.certificate);

    await store.ensureCertificate(ca, { ...serverRequest, ipAddresses: [...serverRequest.ipAddresses!, '10.0.0.100'] });

    expect(snapshot(files.certificate).bytes).not.toEqual(certBefore.bytes);
    expect(snapshot(files.certificate).ino).not.toBe(certBefore.ino); // replaced atomically by rename, not rewritten in place
    const c = cert(files.certificate);
    const ips = c.getExtension(x509.SubjectAlternativeNameExtension)!.names.items
      .filter((n) => n.type === 'ip')
      .map((n) => n.value);
    expect(ips).toContain('10.0.0.100');
    expect([snapshot(ca.certificate), snapshot(ca.key)]).toEqual(caBefore);
    expect(snapshot(files.key).bytes).toEqual(keyBefore.bytes);
    expect(await c.verify({ publicKey: cert(ca.certificate).publicKey, signatureOnly: true })).toBe(true);
    expect(openssl('verify', '-CAfile', store.path(ca.certificate), store.path(files.certificate))).toMatch(/OK/);

    // Removing a DNS name re-issues as well.
    const afterIp = snapshot(files.certificate).bytes;
    await store.ensureCertificate(ca, { ...serverRequest, dnsNames: ['etcd-1'] });
    expect(snapshot(files.certificate).bytes).not.toEqual(afterIp);
    const dns = cert(files.certificate).getExtension(x509.SubjectAlternativeNameExtension)!.names.items
      .filter((n) => n.type === 'dns')
      .map((n) => n.value);
    expect(dns).toEqual(['etcd-1']);
  });

  it.each<[string, Partial<CertificateRequest>]>([
    ['CN', { commonName: 'etcd-one' }],
    ['O', { organizations: ['system:masters'] }],
    ['EKU', { usages: ['server'] }],
  ])('re-issues when the %s changes', async (_what, change) => {
    const { ca } = await setup();
    const files = await store.ensureCertificate(ca, serverRequest);
    const before = snapshot(files.certificate).bytes;
    await store.ensureCertificate(ca, { ...serverRequest, ...change });
    expect(snapshot(files.certificate).bytes).not.toEqual(before);
    const c = cert(files.certificate);
    if (change.commonName) expect(c.subjectName.getField('CN')).toEqual([change.commonName]);
    if (change.organizations) expect(c.subjectName.getField('O')).toEqual(change.organizations);
    if (change.usages) {
      expect(c.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual([x509.ExtendedKeyUsage.serverAuth]);
    }
  });

  it('re-issues when the CA was replaced (not signed by the current CA key)', async () => {
    const { ca } = await setup();
    const files = await store.ensureCertificate(ca, serverRequest);
    const before = snapshot(files.certificate).bytes;
    fs.rmSync(store.path(ca.certificate));
    fs.rmSync(store.path(ca.key));
    const ca2 = await store.ensureCa('etcd/ca', 'etcd-ca'); // same name and subject, new key
    await store.ensureCertificate(ca2, serverRequest);
    expect(snapshot(files.certificate).bytes).not.toEqual(before);
    expect(openssl('verify', '-CAfile', store.path(ca2.certificate), store.path(files.certificate))).toMatch(/OK/);
  });

  it('re-issues when the key file no longer matches the certificate', async () => {
    const { ca } = await setup();
    const files = await store.ensureCertificate(ca, serverRequest);
    const other = await store.ensureCertificate(ca, { ...serverRequest, name: 'other' });
    fs.copyFileSync(store.path(other.key), store.path(files.key));
    const before = snapshot(files.certificate).bytes;
    await store.ensureCertificate(ca, serverRequest);
    expect(snapshot(files.certificate).bytes).not.toEqual(before);
    expect(openssl('pkey', '-in', store.path(files.key), '-pubout')).toBe(
      openssl('x509', '-in', store.path(files.certificate), '-noout', '-pubkey'),
    );
  });

  it('re-issues a certificate expiring within 30 days, but not one expiring later', async () => {
    const { ca } = await setup();
    const files = await store.ensureCertificate(ca, serverRequest);
    const original = cert(files.certificate);
    const caCert = cert(ca.certificate);
    const caKey = await webcrypto.subtle.importKey(
      'pkcs8',
      createPrivateKey(fs.readFileSync(store.path(ca.key))).export({ type: 'pkcs8', format: 'der' }),
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign'],
    );
    // Same content as the original (same subject, public key and extensions), only another expiry.
    const withExpiry = async (days: number) => {
      const c = await x509.X509CertificateGenerator.create({
        serialNumber: '01',
        subject: original.subjectName,
        issuer: caCert.subjectName,
        notBefore: new Date(Date.now() - DAY),
        notAfter: new Date(Date.now() + days * DAY),
        publicKey: original.publicKey,
        signingKey: caKey as never,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as never,
        extensions: original.extensions,
      });
      fs.writeFileSync(store.path(files.certificate), c.toString('pem') + '\n');
      return fs.readFileSync(store.path(files.certificate));
    };

    const later = await withExpiry(60);
    await store.ensureCertificate(ca, serverRequest);
    expect(fs.readFileSync(store.path(files.certificate))).toEqual(later); // reused

    const soon = await withExpiry(10);
    await store.ensureCertificate(ca, serverRequest);
    const renewed = cert(files.certificate);
    expect(fs.readFileSync(store.path(files.certificate))).not.toEqual(soon);
    expect(renewed.notAfter.getTime()).toBeGreaterThan(Date.now() + 300 * DAY);
  });

  it('rejects invalid requests with a clear error', async () => {
    const { ca } = await setup();
    await expect(store.ensureCertificate(ca, { ...serverRequest, ipAddresses: ['10.0.0.300'] })).rejects.toThrow(
      /certificate "etcd\/member-etcd-1-server": invalid IP address "10\.0\.0\.300"/,
    );
    await expect(store.ensureCertificate(ca, { ...serverRequest, usages: [] })).rejects.toThrow(/usages/);
    await expect(store.ensureCertificate(ca, { ...serverRequest, name: '../escape' })).rejects.toThrow(
      /escapes the store/,
    );
  });
});

describe('files', () => {
  it.each([0o000, 0o077, 0o022])('creates dirs 0700, keys 0600, certs 0644, texts 0600 (umask %o)', async (umask) => {
    // process.umask(mask) works in vitest's default "forks" pool (not inside worker threads).
    const old = process.umask(umask);
    try {
      const { ca } = await setup();
      const files = await store.ensureCertificate(ca, serverRequest);
      store.ensureText('tokens/bootstrap', () => 'abcdef.0123456789abcdef');
      const pair = await store.ensureKeyPair('sa', { algorithm: 'ecdsa-p256' });

      expect(mode(store.dir)).toBe(0o700);
      expect(mode(store.path('etcd'))).toBe(0o700);
      expect(mode(store.path('tokens'))).toBe(0o700);
      expect(mode(store.path(ca.key))).toBe(0o600);
      expect(mode(store.path(ca.certificate))).toBe(0o644);
      expect(mode(store.path(files.key))).toBe(0o600);
      expect(mode(store.path(files.certificate))).toBe(0o644);
      expect(mode(store.path('tokens/bootstrap'))).toBe(0o600);
      expect(mode(store.path(pair.privateKey))).toBe(0o600);
      expect(mode(store.path(pair.publicKey))).toBe(0o644);
    } finally {
      process.umask(old);
    }
  });

  it('leaves no temporary files behind', async () => {
    const { ca } = await setup();
    await store.ensureCertificate(ca, serverRequest);
    await store.ensureCertificate(ca, { ...serverRequest, dnsNames: ['x'] });
    expect(fs.readdirSync(store.path('etcd')).sort()).toEqual([
      'ca.crt',
      'ca.key',
      'member-etcd-1-server.crt',
      'member-etcd-1-server.key',
    ]);
  });

  it('creates nothing until something is ensured; resolves relative dirs against cwd', () => {
    const s = new SecretStore(path.join(dir, 'lazy'));
    expect(fs.existsSync(path.join(dir, 'lazy'))).toBe(false);
    expect(s.path('a/b.crt')).toBe(path.join(dir, 'lazy', 'a', 'b.crt'));
    expect(new SecretStore('rel/secrets').dir).toBe(path.join(process.cwd(), 'rel', 'secrets'));
    expect(() => s.path('/etc/passwd')).toThrow(/relative/);
    expect(() => s.path('a/../../x')).toThrow(/escapes/);
  });

  it('sha256 hashes the stored bytes and names missing files', () => {
    store.ensureText('t', () => 'hello');
    expect(store.sha256('t')).toBe(createHash('sha256').update('hello').digest('hex'));
    expect(() => store.sha256('missing')).toThrow(/cannot read .*secrets\/missing/);
  });
});

describe('ensureText', () => {
  it('generates once, stores 0600 and reuses on later runs', () => {
    const gen = vi.fn(() => 'abcdef.0123456789abcdef');
    expect(store.ensureText('bootstrap-token', gen)).toBe('abcdef.0123456789abcdef');
    expect(fs.readFileSync(store.path('bootstrap-token'), 'utf8')).toBe('abcdef.0123456789abcdef');
    const before = snapshot('bootstrap-token');

    const again = vi.fn(() => 'zzzzzz.zzzzzzzzzzzzzzzz');
    expect(new SecretStore(store.dir).ensureText('bootstrap-token', again)).toBe('abcdef.0123456789abcdef');
    expect(again).not.toHaveBeenCalled();
    expect(gen).toHaveBeenCalledTimes(1);
    expect(snapshot('bootstrap-token')).toEqual(before);
  });

  it('accepts a hand-edited file with a trailing newline and rejects bad values', () => {
    fs.mkdirSync(store.dir, { recursive: true });
    fs.writeFileSync(store.path('pw'), 's3cret\n');
    expect(store.ensureText('pw', () => 'unused')).toBe('s3cret');
    fs.writeFileSync(store.path('empty'), '');
    expect(() => store.ensureText('empty', () => 'x')).toThrow(/empty/);
    expect(() => store.ensureText('blank', () => '')).toThrow(/blank/);
    expect(fs.existsSync(store.path('blank'))).toBe(false);
  });
});

describe('ensureKeyPair', () => {
  it('creates an RSA service-account key pair by default and reuses it', async () => {
    const files = await store.ensureKeyPair('sa');
    expect(files).toEqual({ privateKey: 'sa.key', publicKey: 'sa.pub' });
    const keyPem = fs.readFileSync(store.path('sa.key'), 'utf8');
    const pubPem = fs.readFileSync(store.path('sa.pub'), 'utf8');
    expect(isPkcs8Pem(keyPem)).toBe(true);
    expect(pubPem.startsWith('-----BEGIN PUBLIC KEY-----\n')).toBe(true);
    const key = createPrivateKey(keyPem);
    expect(key.asymmetricKeyType).toBe('rsa');
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(createPublicKey(key).export({ type: 'spki', format: 'pem' })).toBe(pubPem);

    const before = [snapshot('sa.key'), snapshot('sa.pub')];
    await new SecretStore(store.dir).ensureKeyPair('sa', { algorithm: 'ecdsa-p256' });
    expect([snapshot('sa.key'), snapshot('sa.pub')]).toEqual(before);

    // Missing public key is re-derived; a missing private key is an error.
    fs.rmSync(store.path('sa.pub'));
    await store.ensureKeyPair('sa');
    expect(fs.readFileSync(store.path('sa.pub'), 'utf8')).toBe(pubPem);
    fs.rmSync(store.path('sa.key'));
    await expect(store.ensureKeyPair('sa')).rejects.toThrow(/sa\.key is missing/);
  });
});

describe('randomToken', () => {
  it('returns n lowercase alphanumeric characters from node:crypto', () => {
    const spy = vi.spyOn(Math, 'random');
    try {
      for (const n of [1, 6, 16, 64]) {
        const t = randomToken(n);
        expect(t).toHaveLength(n);
        expect(t).toMatch(/^[a-z0-9]+$/);
      }
      const big = randomToken(5000);
      expect(new Set(big).size).toBe(36); // the whole alphabet shows up
      expect(randomToken(32)).not.toBe(randomToken(32));
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
    expect(() => randomToken(0)).toThrow(/positive integer/);
    expect(() => randomToken(1.5)).toThrow(/positive integer/);
  });
});

describe('SecretStore.writeText', () => {
  it('writes a derived secret file 0600, and leaves it untouched while the content is the same', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hakube-pki-write-'));
    const store = new SecretStore(dir);
    expect(store.writeText('kubernetes/kubeadm/a.yaml', 'token: x\n')).toBe('kubernetes/kubeadm/a.yaml');
    const file = store.path('kubernetes/kubeadm/a.yaml');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const before = fs.statSync(file);
    store.writeText('kubernetes/kubeadm/a.yaml', 'token: x\n');
    expect(fs.statSync(file).ino).toBe(before.ino);
    store.writeText('kubernetes/kubeadm/a.yaml', 'token: y\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('token: y\n');
  });
});

describe('the secrets directory', () => {
  it('refuses a directory others can write to, naming the fix, and writes nothing', async () => {
    fs.mkdirSync(store.dir, { mode: 0o700 });
    fs.chmodSync(store.dir, 0o777);
    await expect(store.ensureCa('etcd/ca', 'etcd-ca')).rejects.toThrow(`SecretStore: ${store.dir} has mode 0777: other users could have replaced the cluster's keys. Check them, then run: chmod 700 ${store.dir}`);
    expect(fs.readdirSync(store.dir)).toEqual([]);
  });

  it('takes away read bits of group and others, with a warning', async () => {
    fs.mkdirSync(store.dir, { mode: 0o700 });
    fs.chmodSync(store.dir, 0o755);
    const warn = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await store.ensureCa('etcd/ca', 'etcd-ca');
      expect(warn).toHaveBeenCalledWith(`hakube: warning: secrets directory ${store.dir} had mode 0755; set it to 0700\n`);
    } finally {
      warn.mockRestore();
    }
    expect(mode(store.dir)).toBe(0o700);
  });

  it('refuses a parent directory others can write to (as ssh does for ~/.ssh), but not a root-owned sticky one like /tmp', async () => {
    fs.chmodSync(dir, 0o777);
    await expect(store.ensureCa('etcd/ca', 'etcd-ca')).rejects.toThrow(`SecretStore: ${dir}, above the secrets directory ${store.dir}, is writable by group or others (mode 0777)`);
    expect(fs.existsSync(store.dir)).toBe(false);
    fs.chmodSync(dir, 0o1777); // like /tmp
    await store.ensureCa('etcd/ca', 'etcd-ca');
    expect(mode(store.dir)).toBe(0o700);
  });
});

describe('placeholder secrets', () => {
  it('generate, read and write nothing, and derive values and hashes from the store paths alone', async () => {
    const a = new SecretStore(path.join(dir, 'a'), { placeholders: true });
    const b = new SecretStore(path.join(dir, 'elsewhere', 'b'), { placeholders: true });
    for (const s of [a, b]) {
      expect(await s.ensureCa('etcd/ca', 'etcd-ca')).toEqual({ certificate: 'etcd/ca.crt', key: 'etcd/ca.key' });
      expect(await s.ensureKeyPair('sa')).toEqual({ privateKey: 'sa.key', publicKey: 'sa.pub' });
    }
    const token = (s: SecretStore) => s.ensureText('kubernetes/bootstrap-token', (t) => `${t(6)}.${t(16)}`);
    expect(token(a)).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    expect(token(a)).toBe(token(b));
    expect(a.ref('etcd/ca.key').sha256).toBe(b.ref('etcd/ca.key').sha256);
    expect(a.ref('etcd/ca.key').sha256).not.toBe(a.ref('etcd/ca.crt').sha256);
    a.writeText('kubeadm/init.yaml', 'kind: InitConfiguration\n');
    expect(a.ref('kubeadm/init.yaml').sha256).toBe(createHash('sha256').update('kind: InitConfiguration\n').digest('hex'));
    expect(fs.readdirSync(dir)).toEqual([]); // neither store made its directory
  });
});
