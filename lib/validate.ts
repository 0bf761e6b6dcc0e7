import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';

/** Thrown for invalid user input; the message names where the bad value came from and why it is rejected. */
export class ValidationError extends Error {
  override name = 'ValidationError';
}

/** `prop value why`: what is wrong, in the one form of every input error in hakube (`fail` puts where before it). */
export function problem(prop: string, value: unknown, why: string): string {
  return `${prop} ${JSON.stringify(value)} ${why}`;
}

/** `where: prop value why` — one format for every input error in hakube. */
export function fail(where: string, prop: string, value: unknown, why: string): never {
  throw new ValidationError(`${where}: ${problem(prop, value, why)}`);
}

const HOSTNAME_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** RFC 1123 host name: dot-separated lowercase labels of 1–63 characters, 253 characters at most. */
export function isHostname(value: string): boolean {
  return value.length > 0 && value.length <= 253 && value.split('.').every((label) => HOSTNAME_LABEL.test(label));
}

export function isIpAddress(value: string): boolean {
  return isIP(value) !== 0;
}

/** A Linux network interface name (no slashes, no spaces, at most 15 characters). */
export function isInterfaceName(value: string): boolean {
  return /^[A-Za-z0-9_.:-]{1,15}$/.test(value) && value !== '.' && value !== '..';
}

export function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** A POSIX user name as accepted by useradd. */
export function isUserName(value: string): boolean {
  return /^[a-z_][a-z0-9_-]{0,31}$/.test(value);
}

/** A dotted version such as 3.5.17 or 1.31.2, without a leading v. */
export function isVersion(value: string): boolean {
  return /^\d+\.\d+\.\d+$/.test(value);
}

export function isSha256Hex(value: string): boolean {
  return /^[0-9a-f]{64}$/.test(value);
}

/** An absolute POSIX path of safe characters (for paths written into host scripts; ":" for `host:port` directories). */
export function isAbsolutePath(value: string): boolean {
  return /^\/[A-Za-z0-9._/+:-]*$/.test(value) && !value.split('/').includes('..');
}

/** An http(s) URL without spaces or quotes. */
export function isHttpUrl(value: string): boolean {
  if (!/^https?:\/\/[^\s'"`$\\]+$/.test(value)) return false;
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

/** One label of a host name: 1–63 lowercase letters, digits and "-", not starting or ending with "-". */
export function isHostnameLabel(value: string): boolean {
  return HOSTNAME_LABEL.test(value);
}

/** An IPv4 address with its prefix length, from CIDR notation ("10.77.0.100/24"; host bits may be set). */
export interface Ipv4Cidr {
  readonly address: string;
  /** Prefix length, 0–32. */
  readonly prefix: number;
}

/** Parse "a.b.c.d/n" (dotted quad, n from 0 to 32 without leading zeros); undefined when `value` is not one. */
export function parseIpv4Cidr(value: string): Ipv4Cidr | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^([0-9.]+)\/(0|[1-9][0-9]?)$/.exec(value);
  if (!match || isIP(match[1]) !== 4) return undefined;
  const prefix = Number(match[2]);
  return prefix <= 32 ? { address: match[1], prefix } : undefined;
}

/** An IPv4 address as an unsigned 32-bit integer; throws for anything that is not an IPv4 address. */
export function ipv4ToInt(address: string): number {
  if (isIP(address) !== 4) throw new ValidationError(`${JSON.stringify(address)} is not an IPv4 address`);
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** An unsigned 32-bit integer as a dotted-quad IPv4 address. */
export function intToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** First (network) and last (broadcast) address of the subnet a CIDR lies in. */
export function ipv4SubnetRange(cidr: Ipv4Cidr): { readonly network: string; readonly broadcast: string } {
  const size = 2 ** (32 - cidr.prefix);
  const network = Math.floor(ipv4ToInt(cidr.address) / size) * size;
  return { network: intToIpv4(network), broadcast: intToIpv4(network + size - 1) };
}

/** Whether `address` is an IPv4 address inside the subnet of `cidr` (false for IPv6 and non-addresses). */
export function isIpv4InSubnet(address: string, cidr: Ipv4Cidr): boolean {
  if (isIP(address) !== 4) return false;
  const size = 2 ** (32 - cidr.prefix);
  return Math.floor(ipv4ToInt(address) / size) === Math.floor(ipv4ToInt(cidr.address) / size);
}

/** A distribution package name (Debian or RPM): letters, digits and `+ . _ -`, starting with a letter or digit. */
export function isPackageName(value: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9+._-]{0,127}$/.test(value);
}

/**
 * A container image reference: optional registry host (with port), slash-separated lowercase path components, and
 * a tag and/or a sha256 digest — e.g. `registry.k8s.io/pause:3.10`, `mirror:5000/k8s/pause@sha256:<64 hex>`.
 */
export function isImageReference(value: string): boolean {
  const host = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?/';
  const component = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
  const pattern = new RegExp(`^(?:${host})?${component}(?:/${component})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$`);
  return value.length <= 255 && pattern.test(value);
}

/** `address:port`, with an IPv6 address in brackets. */
export function joinHostPort(address: string, port: number): string {
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** Whether two IPv4 CIDRs share any address. */
export function ipv4CidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return isIpv4InSubnet(ipv4SubnetRange(a).network, b) || isIpv4InSubnet(ipv4SubnetRange(b).network, a);
}

// ---------------------------------------------------------------------------
// Kubernetes inputs: one rule per concept, used by the constructs (in their constructors, with their path) and by
// the kubeadm renderer (which must never print what the API would refuse).

/** A DNS subdomain as Kubernetes qualified-name prefixes use it (lowercase, at most 253 characters). */
const QUALIFIED_PREFIX = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
/** The effects a taint can have. */
export const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

/** A Kubernetes qualified name, `[prefix/]name`: label keys and taint keys. */
export function isQualifiedName(value: string): boolean {
  if (typeof value !== 'string') return false;
  const slash = value.lastIndexOf('/');
  const prefix = slash >= 0 ? value.slice(0, slash) : undefined;
  const name = slash >= 0 ? value.slice(slash + 1) : value;
  return QUALIFIED_NAME.test(name) && (prefix === undefined || (prefix.length <= 253 && QUALIFIED_PREFIX.test(prefix)));
}

/** A label value (also a taint value): at most 63 characters, alphanumeric at both ends, or empty. */
export function isLabelValue(value: string): boolean {
  return typeof value === 'string' && LABEL_VALUE.test(value);
}

/** Taints: qualified keys, label values, known effects. */
export function checkTaints(where: string, prop: string, taints: ReadonlyArray<{ key: string; value?: string; effect: string }> | undefined): void {
  if (taints === undefined) return;
  if (!Array.isArray(taints)) fail(where, prop, taints, 'must be a list of { key, value?, effect }');
  for (const taint of taints) {
    if (!taint || !isQualifiedName(taint.key)) fail(where, `${prop}.key`, taint?.key, 'is not a taint key ([prefix/]name, name ≤ 63 characters)');
    if (taint.value !== undefined && !isLabelValue(taint.value)) fail(where, `${prop}.${taint.key}.value`, taint.value, 'is not a taint value (≤ 63 characters)');
    if (!(TAINT_EFFECTS as readonly string[]).includes(taint.effect)) fail(where, `${prop}.${taint.key}.effect`, taint.effect, `must be one of ${TAINT_EFFECTS.join(', ')}`);
  }
}

/** Label namespaces under kubernetes.io / k8s.io that a kubelet may still set on its own node (NodeRestriction). */
const KUBELET_LABEL_NAMESPACES = ['kubelet.kubernetes.io', 'node.kubernetes.io'];

/** Labels a kubelet registers its node with: valid keys and values, outside the namespaces NodeRestriction refuses. */
export function checkNodeLabels(where: string, prop: string, labels: Readonly<Record<string, string>> | undefined): void {
  for (const [key, value] of Object.entries(labels ?? {})) {
    if (!isQualifiedName(key)) fail(where, prop, key, 'is not a Kubernetes label key ([prefix/]name, name ≤ 63 characters)');
    if (!isLabelValue(value)) fail(where, `${prop}.${key}`, value, 'is not a Kubernetes label value (≤ 63 characters)');
    const prefix = key.includes('/') ? key.slice(0, key.lastIndexOf('/')) : '';
    const reserved = /(^|\.)(kubernetes\.io|k8s\.io)$/.test(prefix);
    if (reserved && !KUBELET_LABEL_NAMESPACES.some((ok) => prefix === ok || prefix.endsWith(`.${ok}`))) {
      fail(where, prop, key, 'is in a namespace the kubelet may not set on its own node (NodeRestriction would refuse it at join); label the node with kubectl after it joined, or use a prefix of your own');
    }
  }
}

/** Component flags (`{ "flag-name": "value" }`): names without dashes or "=", string values without control characters. */
export function checkExtraArgs(where: string, prop: string, args: Readonly<Record<string, string>> | undefined): void {
  if (args === undefined) return;
  if (typeof args !== 'object' || args === null || Array.isArray(args)) fail(where, prop, args, 'must be a mapping of flag name to value');
  for (const [name, value] of Object.entries(args)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) fail(where, prop, name, 'is not a flag name (no leading dashes, no "=")');
    if (typeof value !== 'string') fail(where, `${prop}.${name}`, value, 'must be a string');
    if (/[\u0000-\u001f\u007f]/.test(value)) fail(where, `${prop}.${name}`, value, 'contains a control character');
  }
}

/** An image repository (registry host with optional port, then path), e.g. `registry.example.com:5000/k8s`. */
export function isImageRepository(value: string): boolean {
  return typeof value === 'string' && value.length <= 255 && /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(\/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$/.test(value);
}

/**
 * Whether the first component of an image name is a registry host, the way container runtimes decide it: it contains
 * a "." or a ":", or is "localhost". Otherwise the name is on Docker Hub ("flannel/flannel" is docker.io/flannel/flannel).
 */
export function isRegistryHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

/** What an image mirror is given as (see ImageMirror in lib/render/image-mirror.ts). */
export interface ImageMirrorSettings {
  readonly repository: string;
  readonly plainHttp?: boolean;
  readonly caCertificate?: string;
}

/**
 * An image mirror: a repository whose first component is a registry host ("10.77.0.1:5000/k8s", not "mirror/k8s",
 * which would mean Docker Hub), plain HTTP or HTTPS, and for HTTPS optionally a CA file on the operator's machine that
 * holds PEM certificates. Returns the CA file's text (undefined without one): the caller places it on the hosts.
 */
export function checkImageMirror(where: string, prop: string, mirror: ImageMirrorSettings | undefined): string | undefined {
  if (mirror === undefined) return undefined;
  if (typeof mirror !== 'object' || mirror === null || Array.isArray(mirror)) fail(where, prop, mirror, 'must be an object like { repository: "10.77.0.1:5000/k8s" }');
  const repository = mirror.repository;
  if (typeof repository !== 'string' || !isImageRepository(repository)) {
    fail(where, `${prop}.repository`, repository, 'is not an image repository like "10.77.0.1:5000/k8s" (registry host, optional port, optional path; no scheme)');
  }
  if (!isRegistryHost(repository.split('/')[0]!)) {
    fail(where, `${prop}.repository`, repository, `does not start with a registry host: "${repository.split('/')[0]}" has no "." or ":" (and is not "localhost"), so it would name a Docker Hub repository`);
  }
  if (mirror.plainHttp !== undefined && typeof mirror.plainHttp !== 'boolean') fail(where, `${prop}.plainHttp`, mirror.plainHttp, 'must be true or false');
  const ca = mirror.caCertificate;
  if (ca === undefined) return undefined;
  if (mirror.plainHttp) fail(where, `${prop}.caCertificate`, ca, 'is set together with plainHttp: a registry that speaks plain HTTP has no certificate to check; drop one of them');
  if (typeof ca !== 'string' || ca === '') fail(where, `${prop}.caCertificate`, ca, 'must be the path of a PEM CA file');
  const path = resolve(ca);
  if (!existsSync(path) || !statSync(path).isFile()) fail(where, `${prop}.caCertificate`, ca, 'is not an existing file');
  const pem = readFileSync(path, 'utf8');
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) fail(where, `${prop}.caCertificate`, ca, 'holds no PEM certificate ("-----BEGIN CERTIFICATE-----")');
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (error) {
      fail(where, `${prop}.caCertificate`, ca, `holds a PEM certificate that does not parse (${(error as Error).message})`);
    }
  }
  if (/PRIVATE KEY-----/.test(pem)) fail(where, `${prop}.caCertificate`, ca, 'holds a private key: give a file with the CA certificate only (it is copied to every host)');
  return pem;
}

/**
 * The Kubernetes minors hakube supports: those rendered with kubeadm's `v1beta4` API (1.31 on), up to the newest
 * minor the lab proves end to end. Others need `allowUnsupportedKubernetesVersion` (1.22 is the oldest hakube can
 * render at all, with `v1beta3`).
 */
export const SUPPORTED_KUBERNETES_MINORS = { oldest: 31, newest: 34 } as const;
/** The oldest minor hakube can render kubeadm configuration for (kubeadm.k8s.io/v1beta3). */
export const OLDEST_RENDERABLE_KUBERNETES_MINOR = 22;

/**
 * Check a Kubernetes version ("1.34.2" or "v1.34.2") against the supported window; returns it without the "v" and,
 * when `allowUnsupported` let a version outside the window through, the warning to record.
 */
export function checkKubernetesVersion(where: string, prop: string, version: string, allowUnsupported = false): { version: string; warning?: string } {
  const match = typeof version === 'string' ? /^v?1\.(\d+)\.(\d+)$/.exec(version) : null;
  if (!match) fail(where, prop, version, 'must be a Kubernetes release version like "1.34.2"');
  const minor = Number(match[1]);
  const { oldest, newest } = SUPPORTED_KUBERNETES_MINORS;
  const window = `1.${oldest} to 1.${newest}`;
  const normalized = version.replace(/^v/, '');
  if (minor >= oldest && minor <= newest) return { version: normalized };
  if (!allowUnsupported || minor < OLDEST_RENDERABLE_KUBERNETES_MINOR) {
    const override = minor < OLDEST_RENDERABLE_KUBERNETES_MINOR ? `releases before 1.${OLDEST_RENDERABLE_KUBERNETES_MINOR} cannot be rendered at all` : 'set allowUnsupportedKubernetesVersion: true to use it anyway, at your own risk';
    fail(where, prop, version, `is outside the Kubernetes versions hakube supports (${window}); ${override}`);
  }
  return { version: normalized, warning: `kubernetesVersion ${normalized} is outside the supported versions (${window}): it was allowed by allowUnsupportedKubernetesVersion and is not tested` };
}
