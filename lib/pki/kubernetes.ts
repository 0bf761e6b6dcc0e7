/**
 * The cluster-wide Kubernetes PKI that kubeadm would otherwise generate on the first control-plane node,
 * created once on the operator's machine so every control-plane host gets the same files at plan time
 * (seed 003 copies them between masters by hand), plus the bootstrap token and the CA pin joins need.
 *
 * Key algorithms (checked against kubernetes/kubernetes `cmd/kubeadm/app/util/pkiutil/pki_helpers.go`, the
 * v1.31-era blob of commit ad59e468aa0a43eaf12f9c51562fefc791953a24: `TryLoadKeyFromDisk` (CA keys) and
 * `TryLoadPrivatePublicKeyFromDisk` (sa.key/sa.pub) accept RSA and ECDSA keys, and client-go's
 * `keyutil.ParsePrivateKeyPEM` reads the PKCS#8 "PRIVATE KEY" blocks the SecretStore writes; kubeadm's certs
 * phase checks a pre-provided CA only for being a CA):
 * - The three CAs are ECDSA P-256 ({@link SecretStore.ensureCa}). kubeadm loads pre-provided CA files of
 *   either type and signs the leaf certificates it creates with them; the leaf keys follow kubeadm's own
 *   setting (RSA 2048 unless `encryptionAlgorithm` says otherwise).
 * - The service-account key is RSA 2048: what kubeadm generates by default and what every consumer of
 *   service-account tokens (RS256) handles.
 */
import './secret-store.js'; // first: installs the Reflect metadata @peculiar/x509 needs
import type { CaFiles, KeyPairFiles, SecretStore } from './secret-store.js';
import * as x509 from '@peculiar/x509';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { StepFile } from '../plan/step.js';
import { fail, isHostname } from '../validate.js';

/** Store paths (relative) of the cluster PKI. */
export interface KubernetesPkiFiles {
  /** Cluster CA: "kubernetes/ca.crt" + ".key". */
  readonly ca: CaFiles;
  /** Front-proxy (aggregation layer) CA: "kubernetes/front-proxy-ca.crt" + ".key". */
  readonly frontProxyCa: CaFiles;
  /** CA of kubeadm's stacked etcd: "kubernetes/etcd/ca.crt" + ".key". Not used with an external EtcdCluster. */
  readonly etcdCa: CaFiles;
  /** Service-account token signing key pair: "kubernetes/sa.key" + "kubernetes/sa.pub". */
  readonly serviceAccount: KeyPairFiles;
}

/** Store path of the bootstrap token. */
export const BOOTSTRAP_TOKEN_FILE = 'kubernetes/bootstrap-token';
/** A kubeadm bootstrap token: 6-character id, a dot, 16-character secret. */
export const BOOTSTRAP_TOKEN_PATTERN = /^[a-z0-9]{6}\.[a-z0-9]{16}$/;

/**
 * Create (first run) or reuse the cluster CAs and the service-account key pair in `store`, under "kubernetes/".
 * `clusterName` only goes into the CA common names when they are created. The etcd CA is for kubeadm's
 * stacked etcd; with an external EtcdCluster the caller uses that cluster's CA instead (and does not
 * place this one).
 */
export async function ensureKubernetesPki(store: SecretStore, clusterName: string): Promise<KubernetesPkiFiles> {
  if (typeof clusterName !== 'string' || !isHostname(clusterName)) {
    fail('ensureKubernetesPki', 'clusterName', clusterName, 'is not a lowercase RFC 1123 name');
  }
  const ca = await store.ensureCa('kubernetes/ca', `${clusterName}-kubernetes-ca`);
  const frontProxyCa = await store.ensureCa('kubernetes/front-proxy-ca', `${clusterName}-front-proxy-ca`);
  const etcdCa = await store.ensureCa('kubernetes/etcd/ca', `${clusterName}-etcd-ca`);
  const serviceAccount = await store.ensureKeyPair('kubernetes/sa', { algorithm: 'rsa-2048' });
  return { ca, frontProxyCa, etcdCa, serviceAccount };
}

/**
 * The bootstrap token ("[a-z0-9]{6}.[a-z0-9]{16}") in {@link BOOTSTRAP_TOKEN_FILE}: created once, then reused.
 * It is a secret: it must only reach hosts inside secret files. A stored value of the wrong shape is an
 * error (the message names the file, never the value).
 */
export function ensureBootstrapToken(store: SecretStore): string {
  const token = store.ensureText(BOOTSTRAP_TOKEN_FILE, (token) => `${token(6)}.${token(16)}`);
  if (!BOOTSTRAP_TOKEN_PATTERN.test(token)) {
    throw new Error(
      `SecretStore: ${store.path(BOOTSTRAP_TOKEN_FILE)} does not hold a bootstrap token of the form ` +
        '[a-z0-9]{6}.[a-z0-9]{16}; fix it or delete it to generate a new one',
    );
  }
  return token;
}

/**
 * `sha256:<hex>` of the certificate's DER SubjectPublicKeyInfo, exactly the bytes kubeadm pins for
 * `--discovery-token-ca-cert-hash` / `caCertHashes` (kubernetes/kubernetes
 * `cmd/kubeadm/app/util/pubkeypin/pubkeypin.go`, `Hash`). Takes one PEM CA certificate.
 */
export function discoveryTokenCaCertHash(certificatePem: string): string {
  const blocks = typeof certificatePem === 'string' ? certificatePem.match(/-----BEGIN CERTIFICATE-----/g) ?? [] : [];
  if (blocks.length !== 1) {
    throw new Error(`discoveryTokenCaCertHash: expected one PEM certificate, found ${blocks.length}`);
  }
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certificatePem);
  } catch (e) {
    throw new Error(`discoveryTokenCaCertHash: not a valid PEM certificate: ${(e as Error).message}`);
  }
  if (!cert.getExtension(x509.BasicConstraintsExtension)?.ca) {
    throw new Error(`discoveryTokenCaCertHash: "${cert.subject}" is not a CA certificate`);
  }
  return `sha256:${createHash('sha256').update(new Uint8Array(cert.publicKey.rawData)).digest('hex')}`;
}

/** {@link discoveryTokenCaCertHash} of a CA certificate kept in `store` (for placeholder secrets: made from its path). */
export function storedCaCertHash(store: SecretStore, ca: CaFiles): string {
  if (store.placeholders) return `sha256:${store.sha256(ca.certificate)}`;
  return discoveryTokenCaCertHash(readFileSync(store.path(ca.certificate), 'utf8'));
}

/** kubeadm's certificates directory on a control-plane host. */
export const KUBEADM_PKI_DIR = '/etc/kubernetes/pki';

/**
 * Where each file of {@link KubernetesPkiFiles} goes on a control-plane host (same shape, absolute paths):
 * the files kubeadm reuses instead of generating when they exist before `kubeadm init` / `join --control-plane`.
 */
export const KUBEADM_PKI_LAYOUT = {
  ca: { certificate: `${KUBEADM_PKI_DIR}/ca.crt`, key: `${KUBEADM_PKI_DIR}/ca.key` },
  frontProxyCa: { certificate: `${KUBEADM_PKI_DIR}/front-proxy-ca.crt`, key: `${KUBEADM_PKI_DIR}/front-proxy-ca.key` },
  etcdCa: { certificate: `${KUBEADM_PKI_DIR}/etcd/ca.crt`, key: `${KUBEADM_PKI_DIR}/etcd/ca.key` },
  serviceAccount: { privateKey: `${KUBEADM_PKI_DIR}/sa.key`, publicKey: `${KUBEADM_PKI_DIR}/sa.pub` },
} as const satisfies Record<keyof KubernetesPkiFiles, Record<string, string>>;

/**
 * The step files that put the shared PKI on a control-plane host (certificates and `sa.pub` 0644, keys
 * 0600, root-owned), as secret references into `store`. With `etcd: 'external'` the stacked-etcd CA is
 * left out: the API server then uses the external cluster's CA and client certificate.
 */
export function kubeadmPkiStepFiles(
  store: SecretStore,
  pki: KubernetesPkiFiles,
  options: { readonly etcd: 'stacked' | 'external' },
): StepFile[] {
  const file = (path: string, stored: string, mode: '0644' | '0600'): StepFile => ({
    path,
    mode,
    owner: 'root:root',
    secret: store.ref(stored),
  });
  const L = KUBEADM_PKI_LAYOUT;
  const files = [
    file(L.ca.certificate, pki.ca.certificate, '0644'),
    file(L.ca.key, pki.ca.key, '0600'),
    file(L.frontProxyCa.certificate, pki.frontProxyCa.certificate, '0644'),
    file(L.frontProxyCa.key, pki.frontProxyCa.key, '0600'),
    file(L.serviceAccount.privateKey, pki.serviceAccount.privateKey, '0600'),
    file(L.serviceAccount.publicKey, pki.serviceAccount.publicKey, '0644'),
  ];
  if (options.etcd === 'stacked') {
    files.push(file(L.etcdCa.certificate, pki.etcdCa.certificate, '0644'), file(L.etcdCa.key, pki.etcdCa.key, '0600'));
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Store path of the operator's admin kubeconfig. */
export const OPERATOR_KUBECONFIG_FILE = 'kubernetes/admin.conf';
/** kubeadm (1.29+) binds this group to `cluster-admin`; unlike `system:masters`, the binding can be revoked. */
const CLUSTER_ADMINS_GROUP = 'kubeadm:cluster-admins';

/**
 * An admin kubeconfig for the operator's machine, written to {@link OPERATOR_KUBECONFIG_FILE} (0600): a client
 * certificate `kubernetes-admin` in the `kubeadm:cluster-admins` group, signed by the cluster CA, reused until it
 * nears expiry, for `server` (the cluster endpoint). Returns the file's absolute path. A placeholder store writes
 * nothing.
 */
export async function ensureOperatorKubeconfig(store: SecretStore, pki: KubernetesPkiFiles, cluster: { name: string; server: string }): Promise<string> {
  if (!store.placeholders) {
    const client = await store.ensureCertificate(pki.ca, {
      name: 'kubernetes/operator-admin',
      commonName: 'kubernetes-admin',
      organizations: [CLUSTER_ADMINS_GROUP],
      usages: ['client'],
    });
    const read = (relative: string) => readFileSync(store.path(relative));
    store.writeText(
      OPERATOR_KUBECONFIG_FILE,
      renderKubeconfig({ ...cluster, user: 'kubernetes-admin', ca: read(pki.ca.certificate), certificate: read(client.certificate), key: read(client.key) }),
    );
  }
  return store.path(OPERATOR_KUBECONFIG_FILE);
}

/** A kubeconfig with one cluster, one user (client certificate) and one context, current. Pure. */
export function renderKubeconfig(k: { name: string; server: string; user: string; ca: Buffer; certificate: Buffer; key: Buffer }): string {
  const context = `${k.user}@${k.name}`;
  return `apiVersion: v1
kind: Config
clusters:
- name: ${k.name}
  cluster:
    server: ${k.server}
    certificate-authority-data: ${k.ca.toString('base64')}
users:
- name: ${k.user}
  user:
    client-certificate-data: ${k.certificate.toString('base64')}
    client-key-data: ${k.key.toString('base64')}
contexts:
- name: ${context}
  context:
    cluster: ${k.name}
    user: ${k.user}
current-context: ${context}
`;
}
