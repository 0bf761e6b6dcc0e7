import { isIP } from 'node:net';

/** Thrown for invalid user input; the message names where the bad value came from and why it is rejected. */
export class ValidationError extends Error {
  override name = 'ValidationError';
}

/** `where: prop: value is bad because why` — one format for every input error in hakube. */
export function fail(where: string, prop: string, value: unknown, why: string): never {
  throw new ValidationError(`${where}: ${prop} ${JSON.stringify(value)} ${why}`);
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

/** An absolute POSIX path of safe characters (for paths written into host scripts). */
export function isAbsolutePath(value: string): boolean {
  return /^\/[A-Za-z0-9._/+-]*$/.test(value) && !value.split('/').includes('..');
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
