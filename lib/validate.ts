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
