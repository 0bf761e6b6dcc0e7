/**
 * Operator-side secrets store.
 *
 * CA keys, certificates, tokens and passwords are generated ONCE on the
 * operator's machine into a secrets directory and reused on later runs, so
 * that generated plans are deterministic. The rest of the project never sees
 * key material: it refers to files by store path and content hash
 * ({@link SecretStore.path}, {@link SecretStore.sha256}).
 *
 * Keys are generated with WebCrypto (ECDSA P-256 by default) and certificates
 * are built with `@peculiar/x509`.
 */
import 'reflect-metadata'; // @peculiar/x509 (through tsyringe) needs the Reflect metadata API at import time
import * as x509 from '@peculiar/x509';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as nodePath from 'node:path';
import { createHash, createPrivateKey, createPublicKey, randomBytes, randomInt, webcrypto } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { IConstruct } from 'constructs';
import type { SecretRef } from '../plan/step.js';

x509.cryptoProvider.set(webcrypto as never); // Node's WebCrypto (typed differently from the DOM `Crypto`)
const subtle = webcrypto.subtle;

// ---------------------------------------------------------------------------
// Public types

/** Extended key usage of a leaf certificate: `server` → serverAuth, `client` → clientAuth. */
export type KeyUsageKind = 'server' | 'client';

/** What a leaf certificate must contain. */
export interface CertificateRequest {
  /** Relative file stem inside the store, e.g. "etcd/member-etcd-1-server" → etcd/member-etcd-1-server.crt + .key */
  readonly name: string;
  /** Subject CN. */
  readonly commonName: string;
  /**
   * Subject O= entries (e.g. ["system:masters"]).
   * @default []
   */
  readonly organizations?: string[];
  /** Extended key usages: server → serverAuth, client → clientAuth. At least one. */
  readonly usages: KeyUsageKind[];
  /**
   * DNS subject alternative names.
   * @default []
   */
  readonly dnsNames?: string[];
  /**
   * IP subject alternative names (IPv4 or IPv6).
   * @default []
   */
  readonly ipAddresses?: string[];
}

/** A leaf certificate and its private key, as relative paths inside the store. */
export interface IssuedFiles {
  /** PEM certificate, e.g. "etcd/member-etcd-1-server.crt". */
  readonly certificate: string;
  /** PKCS#8 PEM private key, e.g. "etcd/member-etcd-1-server.key". */
  readonly key: string;
}

/** A CA certificate and its private key, as relative paths inside the store. */
export interface CaFiles {
  /** PEM CA certificate, e.g. "etcd/ca.crt". */
  readonly certificate: string;
  /** PKCS#8 PEM CA private key, e.g. "etcd/ca.key". */
  readonly key: string;
}

/** Algorithm of a standalone key pair ({@link SecretStore.ensureKeyPair}). */
export type KeyPairAlgorithm = 'rsa-2048' | 'ecdsa-p256';

/** Options of {@link SecretStore.ensureKeyPair}. */
export interface KeyPairOptions {
  /**
   * Key algorithm used when the pair is generated (ignored when reused).
   * RSA matches what kubeadm generates for the service-account key.
   * @default 'rsa-2048'
   */
  readonly algorithm?: KeyPairAlgorithm;
}

/** A standalone key pair, as relative paths inside the store. */
export interface KeyPairFiles {
  /** PKCS#8 PEM private key, e.g. "sa.key". */
  readonly privateKey: string;
  /** SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`), e.g. "sa.pub". */
  readonly publicKey: string;
}

// ---------------------------------------------------------------------------
// Constants

const DIR_MODE = 0o700;
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
const TEXT_MODE = 0o600;

const DAY_MS = 24 * 60 * 60 * 1000;
/** notBefore is backdated by this much to tolerate clock skew between hosts. */
const BACKDATE_MS = 5 * 60 * 1000;
/** Leaf certificates expiring within this window are re-issued. */
const RENEW_BEFORE_MS = 30 * DAY_MS;
const CA_YEARS = 10;
const LEAF_YEARS = 1;

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const EKU_OID: Record<KeyUsageKind, string> = {
  server: x509.ExtendedKeyUsage.serverAuth,
  client: x509.ExtendedKeyUsage.clientAuth,
};

// ---------------------------------------------------------------------------
// Store

/** A private key usable for signing: the WebCrypto key, its signature algorithm and its SPKI public key. */
interface SigningKey {
  readonly cryptoKey: webcrypto.CryptoKey;
  readonly signingAlgorithm: { name: string; hash: string };
  readonly spki: Buffer;
}

/** Options of a {@link SecretStore}. */
export interface SecretStoreOptions {
  /**
   * Placeholder secrets, for snapshot tests of plans: nothing is generated, read or written; text secrets are
   * deterministic and every hash derives from the secret's path in the store, so a plan is the same in any clone,
   * with or without a real secrets directory. Never deploy such a plan. See {@link usePlaceholderSecrets}.
   * @default false
   */
  readonly placeholders?: boolean;
}

/** The construct context key that turns on placeholder secrets for every construct below (see {@link usePlaceholderSecrets}). */
export const PLACEHOLDER_SECRETS_CONTEXT = 'hakube:placeholderSecrets';

/**
 * Make every hakube construct under `scope` (an App, in a test) use placeholder secrets: plans and synthesized
 * stacks become byte-identical across machines and clones, and no secrets directory is created. Call it before
 * adding constructs. For snapshot tests only: the placeholders are not real keys.
 */
export function usePlaceholderSecrets(scope: IConstruct): void {
  scope.node.setContext(PLACEHOLDER_SECRETS_CONTEXT, true);
}

/** The secrets store of a construct: real, or placeholders when its tree asked for them. */
export function secretStoreFor(scope: IConstruct, dir: string): SecretStore {
  return new SecretStore(dir, { placeholders: scope.node.tryGetContext(PLACEHOLDER_SECRETS_CONTEXT) === true });
}

/**
 * Directory of operator-side secrets. Everything is created lazily (nothing is
 * written until something is ensured) and reused on later runs.
 */
export class SecretStore {
  /** Absolute path of the store directory. */
  readonly dir: string;
  /** Whether this store only pretends (see {@link SecretStoreOptions.placeholders}). */
  readonly placeholders: boolean;
  /** Text written to a placeholder store, kept in memory. */
  private readonly placeholderTexts = new Map<string, Buffer>();
  private dirChecked = false;

  /** @param dir store directory; a relative path is resolved against `process.cwd()`. */
  constructor(dir: string, options: SecretStoreOptions = {}) {
    if (!dir) throw new Error('SecretStore: the store directory must not be empty');
    this.dir = nodePath.resolve(dir);
    this.placeholders = options.placeholders ?? false;
  }

  /** A step's reference to a stored file. */
  ref(relative: string): SecretRef {
    return { dir: this.dir, file: relative, sha256: this.sha256(relative) };
  }

  /** Absolute path of a relative store path. Throws if it is absolute or escapes the store. */
  path(relative: string): string {
    if (!relative || nodePath.isAbsolute(relative)) {
      throw new Error(`SecretStore: "${relative}" must be a non-empty path relative to ${this.dir}`);
    }
    const abs = nodePath.resolve(this.dir, relative);
    const rel = nodePath.relative(this.dir, abs);
    if (!rel || rel.startsWith('..') || nodePath.isAbsolute(rel)) {
      throw new Error(`SecretStore: "${relative}" escapes the store directory ${this.dir}`);
    }
    return abs;
  }

  /** sha256 hex of a stored file's bytes (for plan hashes). */
  sha256(relative: string): string {
    if (this.placeholders && !this.placeholderTexts.has(relative)) return createHash('sha256').update(`placeholder:${relative}`).digest('hex');
    return createHash('sha256').update(this.readBytes(relative)).digest('hex');
  }

  /**
   * Create the CA "<name>.crt/.key" (ECDSA P-256, self-signed, 10 years) if
   * absent, else reuse it. Throws if only one of the two files exists, if the
   * key does not match the certificate, if the certificate is not a CA, or if it
   * has expired: a CA is never regenerated silently.
   */
  async ensureCa(name: string, commonName: string): Promise<CaFiles> {
    const files: CaFiles = { certificate: `${name}.crt`, key: `${name}.key` };
    if (this.placeholders) return files;
    const hasCert = this.exists(files.certificate);
    const hasKey = this.exists(files.key);
    if (hasCert || hasKey) {
      if (!hasCert || !hasKey) {
        const [present, missing] = hasCert ? [files.certificate, files.key] : [files.key, files.certificate];
        throw new Error(
          `SecretStore: CA "${name}": ${this.path(present)} exists but ${this.path(missing)} is missing. ` +
            'Refusing to regenerate the CA; restore the missing file or delete both to create a new CA.',
        );
      }
      await this.loadCa(files); // validates
      return files;
    }
    if (!commonName) throw new Error(`SecretStore: CA "${name}": commonName must not be empty`);

    const keys = await subtle.generateKey(EC_P256, true, ['sign', 'verify']);
    const notBefore = new Date(Date.now() - BACKDATE_MS);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: [{ CN: [commonName] }],
      notBefore,
      notAfter: addYears(notBefore, CA_YEARS),
      keys: keys as never,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as never,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
      ],
    });
    // Key first: if we crash in between, the next run reports the half-written CA instead of using it.
    this.writeFile(files.key, await exportPkcs8Pem(keys.privateKey), KEY_MODE);
    this.writeFile(files.certificate, cert.toString('pem') + '\n', CERT_MODE);
    return files;
  }

  /**
   * Issue (or reuse) a leaf certificate signed by the CA `ca` (1 year, capped at
   * the CA's expiry). The existing certificate is reused byte-for-byte unless its
   * CN, O, SANs or EKUs differ from the request, it was not signed by the current
   * CA key, it does not match its key file, or it expires within 30 days. When
   * re-issuing, an existing valid key file is kept; otherwise a new ECDSA P-256
   * key is generated.
   */
  async ensureCertificate(ca: CaFiles, request: CertificateRequest): Promise<IssuedFiles> {
    const want = normalizeRequest(request);
    const files: IssuedFiles = { certificate: `${request.name}.crt`, key: `${request.name}.key` };
    if (this.placeholders) return files;
    const { cert: caCert, key: caKey } = await this.loadCa(ca);

    // Reuse the existing key if there is one (a corrupt key file is an error, not silently replaced).
    let leafKey: SigningKey | undefined = this.exists(files.key) ? await this.loadSigningKey(files.key) : undefined;

    if (leafKey && this.exists(files.certificate)) {
      const existing = this.loadCertificate(files.certificate);
      if (await isReusable(existing, want, caCert, leafKey)) return files;
    }

    let keyPem: string | undefined;
    if (!leafKey) {
      const keys = await subtle.generateKey(EC_P256, true, ['sign', 'verify']);
      keyPem = await exportPkcs8Pem(keys.privateKey);
      leafKey = await toSigningKey(createPrivateKey(keyPem), this.path(files.key));
    }

    const notBefore = new Date(Date.now() - BACKDATE_MS);
    const notAfter = new Date(Math.min(addYears(notBefore, LEAF_YEARS).getTime(), caCert.notAfter.getTime()));
    const caSki = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
    const sanNames = [
      ...want.dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...want.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
    ];
    const leafPublicKey = new x509.PublicKey(new Uint8Array(leafKey.spki));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: [...want.organizations.map((o) => ({ O: [o] })), { CN: [want.commonName] }],
      issuer: caCert.subjectName,
      notBefore,
      notAfter,
      publicKey: leafPublicKey,
      signingKey: caKey.cryptoKey as never,
      signingAlgorithm: caKey.signingAlgorithm as never,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension(want.usages.map((u) => EKU_OID[u])),
        // An empty SAN extension is invalid (RFC 5280), so omit it for e.g. pure client certs.
        ...(sanNames.length > 0 ? [new x509.SubjectAlternativeNameExtension(sanNames)] : []),
        caSki
          ? new x509.AuthorityKeyIdentifierExtension(caSki.keyId)
          : await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
        await x509.SubjectKeyIdentifierExtension.create(leafPublicKey),
      ],
    });
    if (keyPem !== undefined) this.writeFile(files.key, keyPem, KEY_MODE);
    this.writeFile(files.certificate, cert.toString('pem') + '\n', CERT_MODE);
    return files;
  }

  /**
   * Create (or reuse) a random secret stored as text in file `name` (0600).
   * `generate` makes a new value, e.g. a kubeadm bootstrap token
   * "abcdef.0123456789abcdef" or a keepalived password. The value is stored
   * without a trailing newline; one trailing newline is ignored when reading
   * (so a hand-edited file works).
   */
  ensureText(name: string, generate: (token: (length: number) => string) => string): string {
    if (this.placeholders) return generate(placeholderTokens(name));
    if (this.exists(name)) {
      const value = this.readBytes(name).toString('utf8').replace(/\r?\n$/, '');
      if (!value) throw new Error(`SecretStore: ${this.path(name)} is empty; delete it to generate a new value`);
      return value;
    }
    const value = generate(randomToken);
    if (typeof value !== 'string' || !value || value !== value.trim()) {
      throw new Error(
        `SecretStore: generator for ${this.path(name)} returned an unusable value (${typeof value}, ${String(value).length} characters); ` +
          'expected a non-empty string without surrounding whitespace',
      );
    }
    this.writeFile(name, value, TEXT_MODE);
    return value;
  }

  /**
   * Write a file derived from secrets (e.g. a kubeadm configuration that carries the bootstrap token) as `name`
   * (0600), only when its content differs, so it can reach hosts by path like any other secret. Returns `name`.
   */
  writeText(name: string, content: string): string {
    if (this.placeholders) {
      this.path(name); // same checks as a real store
      this.placeholderTexts.set(name, Buffer.from(content));
      return name;
    }
    // derived from secrets, so made again by every synth: no sync to disk (one per worker's join configuration)
    if (!this.exists(name) || !this.readBytes(name).equals(Buffer.from(content))) this.writeFile(name, content, TEXT_MODE, false);
    return name;
  }

  /**
   * Create (or reuse) a key pair alone, e.g. the Kubernetes service-account
   * key pair: `ensureKeyPair("sa")` → "sa.key" (PKCS#8 PEM, 0600) + "sa.pub"
   * (SPKI PEM, 0644). If only the private key exists the public key is
   * re-derived from it; if only the public key exists, or they do not match,
   * an Error is thrown.
   */
  async ensureKeyPair(name: string, options: KeyPairOptions = {}): Promise<KeyPairFiles> {
    const files: KeyPairFiles = { privateKey: `${name}.key`, publicKey: `${name}.pub` };
    if (this.placeholders) return files;
    const hasKey = this.exists(files.privateKey);
    const hasPub = this.exists(files.publicKey);
    if (hasKey) {
      const spkiPem = publicKeyPem(this.parsePrivateKey(files.privateKey));
      if (!hasPub) {
        this.writeFile(files.publicKey, spkiPem, CERT_MODE);
      } else if (!this.publicKeyDer(files.publicKey).equals(spkiDer(spkiPem))) {
        throw new Error(
          `SecretStore: ${this.path(files.publicKey)} does not match the private key ${this.path(files.privateKey)}`,
        );
      }
      return files;
    }
    if (hasPub) {
      throw new Error(
        `SecretStore: ${this.path(files.publicKey)} exists but its private key ${this.path(files.privateKey)} is missing. ` +
          'Restore it or delete both to generate a new key pair.',
      );
    }
    const algorithm = options.algorithm ?? 'rsa-2048';
    const params =
      algorithm === 'rsa-2048'
        ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
        : algorithm === 'ecdsa-p256'
          ? EC_P256
          : undefined;
    if (!params) throw new Error(`SecretStore: key pair "${name}": unknown algorithm ${JSON.stringify(algorithm)}`);
    const keys = (await subtle.generateKey(params, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const keyPem = await exportPkcs8Pem(keys.privateKey);
    this.writeFile(files.privateKey, keyPem, KEY_MODE);
    this.writeFile(files.publicKey, publicKeyPem(createPrivateKey(keyPem)), CERT_MODE);
    return files;
  }

  // -------------------------------------------------------------------------
  // Internals

  private exists(relative: string): boolean {
    this.checkDir();
    return fs.existsSync(this.path(relative));
  }

  private readBytes(relative: string): Buffer {
    const placeholder = this.placeholderTexts.get(relative);
    if (placeholder) return placeholder;
    this.checkDir();
    const abs = this.path(relative);
    try {
      return fs.readFileSync(abs);
    } catch (e) {
      throw new Error(`SecretStore: cannot read ${abs}: ${(e as Error).message}`);
    }
  }

  private loadCertificate(relative: string): x509.X509Certificate {
    try {
      return new x509.X509Certificate(this.readBytes(relative).toString('utf8'));
    } catch (e) {
      throw new Error(`SecretStore: ${this.path(relative)} is not a valid PEM certificate: ${(e as Error).message}`);
    }
  }

  private parsePrivateKey(relative: string): KeyObject {
    try {
      return createPrivateKey(this.readBytes(relative));
    } catch (e) {
      throw new Error(`SecretStore: ${this.path(relative)} is not a valid PEM private key: ${(e as Error).message}`);
    }
  }

  private publicKeyDer(relative: string): Buffer {
    try {
      return createPublicKey(this.readBytes(relative)).export({ type: 'spki', format: 'der' });
    } catch (e) {
      throw new Error(`SecretStore: ${this.path(relative)} is not a valid PEM public key: ${(e as Error).message}`);
    }
  }

  private async loadSigningKey(relative: string): Promise<SigningKey> {
    return toSigningKey(this.parsePrivateKey(relative), this.path(relative));
  }

  /** Load and validate a CA: the key must match the certificate, which must be an unexpired CA. */
  private async loadCa(ca: CaFiles): Promise<{ cert: x509.X509Certificate; key: SigningKey }> {
    const cert = this.loadCertificate(ca.certificate);
    const key = await this.loadSigningKey(ca.key);
    const certPath = this.path(ca.certificate);
    if (!Buffer.from(cert.publicKey.rawData).equals(key.spki)) {
      throw new Error(`SecretStore: CA key ${this.path(ca.key)} does not match the CA certificate ${certPath}`);
    }
    if (!cert.getExtension(x509.BasicConstraintsExtension)?.ca) {
      throw new Error(`SecretStore: ${certPath} is not a CA certificate (basicConstraints CA:TRUE is missing)`);
    }
    if (cert.notAfter.getTime() <= Date.now()) {
      throw new Error(`SecretStore: CA certificate ${certPath} expired on ${cert.notAfter.toISOString()}; rotate it`);
    }
    return { cert, key };
  }

  /**
   * Before the first read or write, as ssh does for ~/.ssh: the store directory must be this user's and writable by
   * no one else (refused: someone could have swapped in their own CA); group or other read bits are removed, with
   * a warning (the keys inside are 0600, but their names should not be listed either). Every directory above it must
   * be owned by root or this user and not writable by others (a root-owned sticky directory such as /tmp is fine).
   */
  private checkDir(): void {
    if (this.dirChecked) return;
    const uid = process.getuid?.() ?? 0;
    const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, '0');
    if (fs.existsSync(this.dir)) {
      const stat = fs.statSync(this.dir);
      if (!stat.isDirectory()) throw new Error(`SecretStore: ${this.dir} is not a directory`);
      if (stat.uid !== uid) throw new Error(`SecretStore: ${this.dir} is owned by uid ${stat.uid}, not by you (uid ${uid}): refusing secrets another user controls`);
      if ((stat.mode & 0o022) !== 0) {
        throw new Error(`SecretStore: ${this.dir} has mode ${octal(stat.mode)}: other users could have replaced the cluster's keys. Check them, then run: chmod 700 ${this.dir}`);
      }
      if ((stat.mode & 0o077) !== 0) {
        fs.chmodSync(this.dir, DIR_MODE);
        process.stderr.write(`hakube: warning: secrets directory ${this.dir} had mode ${octal(stat.mode)}; set it to 0700\n`);
      }
    }
    for (let parent = nodePath.dirname(this.dir); ; parent = nodePath.dirname(parent)) {
      if (fs.existsSync(parent)) {
        const stat = fs.statSync(parent);
        const sharedSticky = (stat.mode & 0o1000) !== 0 && stat.uid === 0; // like /tmp: others cannot rename what is ours
        if (stat.uid !== 0 && stat.uid !== uid) throw new Error(`SecretStore: ${parent}, above the secrets directory ${this.dir}, is owned by uid ${stat.uid}: that user could replace the secrets`);
        if ((stat.mode & 0o022) !== 0 && !sharedSticky) {
          throw new Error(`SecretStore: ${parent}, above the secrets directory ${this.dir}, is writable by group or others (mode ${octal(stat.mode)}): they could replace the secrets`);
        }
      }
      if (parent === nodePath.dirname(parent)) break;
    }
    this.dirChecked = true;
  }

  /** Atomically write `data` to a store file with `mode`, creating 0700 directories as needed. */
  /**
   * Write a file atomically (temporary file, then rename). `durable` (keys, certificates, tokens: what cannot be
   * made again) also syncs it to disk before the rename; a file derived from them is written again by the next synth.
   */
  private writeFile(relative: string, data: string | Buffer, mode: number, durable = true): void {
    if (this.placeholders) throw new Error(`SecretStore: placeholder store ${this.dir} cannot write ${relative}`);
    this.checkDir();
    const abs = this.path(relative);
    this.ensureDirFor(abs);
    const tmp = nodePath.join(nodePath.dirname(abs), `.${nodePath.basename(abs)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const fd = fs.openSync(tmp, 'wx', mode);
      try {
        fs.writeFileSync(fd, data);
        fs.fchmodSync(fd, mode); // the umask may have removed bits (or the mode was wider)
        if (durable) fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, abs);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw new Error(`SecretStore: cannot write ${abs}: ${(e as Error).message}`);
    }
  }

  /** Create the store directory and the parents of `abs` inside it, each 0700 (existing ones are left alone). */
  private ensureDirFor(abs: string): void {
    if (!fs.existsSync(this.dir)) {
      fs.mkdirSync(this.dir, { recursive: true, mode: DIR_MODE });
      fs.chmodSync(this.dir, DIR_MODE);
    }
    let current = this.dir;
    for (const part of nodePath.relative(this.dir, nodePath.dirname(abs)).split(nodePath.sep).filter(Boolean)) {
      current = nodePath.join(current, part);
      if (!fs.existsSync(current)) {
        fs.mkdirSync(current, { mode: DIR_MODE });
        fs.chmodSync(current, DIR_MODE);
      }
    }
  }
}

/** Deterministic stand-ins for {@link randomToken}, derived from the secret's name: same name, same values. */
function placeholderTokens(name: string): (length: number) => string {
  let counter = 0;
  return (length) => {
    const digest = createHash('sha256').update(`placeholder:${name}:${counter++}`).digest();
    return Array.from({ length }, (_, i) => TOKEN_ALPHABET[digest[i % digest.length] % TOKEN_ALPHABET.length]).join('');
  };
}

const TOKEN_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Random lowercase-alphanumeric string of `length` chars from node:crypto (no Math.random). */
export function randomToken(length: number): string {
  if (!Number.isInteger(length) || length < 1) {
    throw new Error(`randomToken: length must be a positive integer, got ${length}`);
  }
  let out = '';
  for (let i = 0; i < length; i++) out += TOKEN_ALPHABET[randomInt(TOKEN_ALPHABET.length)];
  return out;
}

// ---------------------------------------------------------------------------
// Helpers

interface NormalizedRequest {
  readonly commonName: string;
  readonly organizations: string[];
  readonly usages: KeyUsageKind[];
  readonly dnsNames: string[];
  readonly ipAddresses: string[];
}

/** Validate a request and canonicalize it (deduplicated lists, canonical IP text). */
function normalizeRequest(r: CertificateRequest): NormalizedRequest {
  const where = `certificate "${r.name}"`;
  if (!r.name) throw new Error('SecretStore: certificate request has an empty name');
  if (!r.commonName) throw new Error(`SecretStore: ${where}: commonName must not be empty`);
  if (!r.usages || r.usages.length === 0) throw new Error(`SecretStore: ${where}: usages must not be empty`);
  for (const u of r.usages) {
    if (!(u in EKU_OID)) throw new Error(`SecretStore: ${where}: unknown usage ${JSON.stringify(u)}`);
  }
  for (const d of r.dnsNames ?? []) {
    if (!d || /\s/.test(d)) throw new Error(`SecretStore: ${where}: invalid DNS name ${JSON.stringify(d)}`);
  }
  return {
    commonName: r.commonName,
    organizations: unique(r.organizations ?? []),
    usages: unique(r.usages),
    dnsNames: unique(r.dnsNames ?? []),
    ipAddresses: unique((r.ipAddresses ?? []).map((ip) => canonicalIp(ip, where))),
  };
}

/** Canonical text of an IP address (IPv6 compressed lowercase, e.g. "fd00::1"). */
function canonicalIp(ip: string, where: string): string {
  const version = net.isIP(ip);
  if (version === 4) return ip;
  if (version === 6 && !ip.includes('%')) return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  throw new Error(`SecretStore: ${where}: invalid IP address ${JSON.stringify(ip)}`);
}

/** Whether an existing leaf certificate still satisfies the request and the current CA. */
async function isReusable(
  cert: x509.X509Certificate,
  want: NormalizedRequest,
  caCert: x509.X509Certificate,
  leafKey: SigningKey,
): Promise<boolean> {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [];
  const haveIps: string[] = [];
  for (const n of san) {
    if (n.type !== 'ip') continue;
    try {
      haveIps.push(canonicalIp(n.value, ''));
    } catch {
      return false; // unparseable IP entry: re-issue
    }
  }
  return (
    sameSet(cert.subjectName.getField('CN'), [want.commonName]) &&
    sameSet(cert.subjectName.getField('O'), want.organizations) &&
    sameSet(san.filter((n) => n.type === 'dns').map((n) => n.value), want.dnsNames) &&
    sameSet(haveIps, want.ipAddresses) &&
    san.every((n) => n.type === 'dns' || n.type === 'ip') &&
    sameSet(eku.map(String), want.usages.map((u) => EKU_OID[u])) &&
    Buffer.from(cert.publicKey.rawData).equals(leafKey.spki) &&
    Buffer.from(cert.issuerName.toArrayBuffer()).equals(Buffer.from(caCert.subjectName.toArrayBuffer())) &&
    cert.notAfter.getTime() - Date.now() > RENEW_BEFORE_MS &&
    (await cert.verify({ publicKey: caCert.publicKey, signatureOnly: true }))
  );
}

/**
 * Import a parsed private key (from PKCS#8, PKCS#1 or SEC1 PEM; EC P-256/384/521 or RSA)
 * into WebCrypto for signing. `file` is only used in error messages.
 */
async function toSigningKey(keyObject: KeyObject, file: string): Promise<SigningKey> {
  const pkcs8 = keyObject.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(keyObject).export({ type: 'spki', format: 'der' });
  let algorithm: { name: string; namedCurve?: string; hash?: string };
  let signingAlgorithm: { name: string; hash: string };
  if (keyObject.asymmetricKeyType === 'ec') {
    const curve = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' }[
      keyObject.asymmetricKeyDetails?.namedCurve ?? ''
    ];
    if (!curve) throw new Error(`SecretStore: ${file}: unsupported EC curve ${keyObject.asymmetricKeyDetails?.namedCurve}`);
    const hash = { 'P-256': 'SHA-256', 'P-384': 'SHA-384', 'P-521': 'SHA-512' }[curve]!;
    algorithm = { name: 'ECDSA', namedCurve: curve };
    signingAlgorithm = { name: 'ECDSA', hash };
  } else if (keyObject.asymmetricKeyType === 'rsa') {
    algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    signingAlgorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  } else {
    throw new Error(`SecretStore: ${file}: unsupported key type ${keyObject.asymmetricKeyType} (expected EC or RSA)`);
  }
  const cryptoKey = await subtle.importKey('pkcs8', pkcs8, algorithm, false, ['sign']);
  return { cryptoKey, signingAlgorithm, spki };
}

async function exportPkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY') + '\n';
}

function publicKeyPem(privateKey: KeyObject): string {
  return createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
}

function spkiDer(pem: string): Buffer {
  return createPublicKey(pem).export({ type: 'spki', format: 'der' });
}

/** Random positive 127-bit serial number as hex (first byte 0x01–0x7f: positive, minimal DER). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f || 0x01;
  return bytes.toString('hex');
}

function addYears(date: Date, years: number): Date {
  const d = new Date(date.getTime());
  d.setUTCFullYear(d.getUTCFullYear() + years);
  return d;
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = [...new Set(a)].sort();
  const sb = [...new Set(b)].sort();
  return sa.length === sb.length && sa.every((v, i) => v === sb[i]);
}
