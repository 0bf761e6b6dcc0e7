/** The SSH connections of the Pulumi backend: one per host, the private key read once and passed as a secret. */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';

import * as pulumi from '@pulumi/pulumi';
import { type types } from '@pulumi/command';
import type { Host } from '../inventory.js';

import { ValidationError } from '../validate.js';

/** Dial settings of quick checks: about 20 s before a host that does not answer fails the deploy. */
export const QUICK_DIAL = { dialErrorLimit: 4, perDialTimeout: 5 };

/**
 * The SSH connection to a host (one object per host, shared by its resources): address, port, user; the private key
 * read from `privateKeyPath` now and passed as a secret, or the ssh-agent at `$SSH_AUTH_SOCK` when there is none;
 * the pinned host key; a bastion as `proxy`.
 */
export function pulumiConnection(
  host: Host,
  options: { dialErrorLimit?: number; perDialTimeout?: number; keys?: KeyReader } = {},
): types.input.remote.ConnectionArgs {
  const keys = options.keys ?? new KeyReader();
  const dial = {
    ...(options.dialErrorLimit !== undefined ? { dialErrorLimit: options.dialErrorLimit } : {}),
    ...(options.perDialTimeout !== undefined ? { perDialTimeout: options.perDialTimeout } : {}),
  };
  return {
    host: host.address,
    port: host.port,
    user: host.user,
    ...(host.privateKeyPath ? { privateKey: keys.read(host.privateKeyPath, host.name) } : {}),
    ...(host.hostKey ? { hostKey: host.hostKey } : {}),
    ...dial,
    ...(host.bastion
      ? {
          proxy: {
            host: host.bastion.address,
            port: host.bastion.port,
            user: host.bastion.user,
            ...(host.bastion.privateKeyPath ? { privateKey: keys.read(host.bastion.privateKeyPath, `${host.name} (bastion)`) } : {}),
            ...dial,
          },
        }
      : {}),
  };
}

/** Reads private keys once per path (`~` expanded) into Pulumi secrets. */
export class KeyReader {
  private readonly cache = new Map<string, pulumi.Output<string>>();

  read(path: string, forHost: string): pulumi.Output<string> {
    const full = expandHome(path);
    let key = this.cache.get(full);
    if (!key) {
      let text: string;
      try {
        text = readFileSync(full, 'utf8');
      } catch (e) {
        throw new ValidationError(`PulumiProvisioner: cannot read the SSH private key ${JSON.stringify(path)} of host ${forHost}: ${(e as Error).message}`);
      }
      key = pulumi.secret(text);
      this.cache.set(full, key);
    }
    return key;
  }
}

/** `~` and `~/…` to the operator's home directory (like Terraform's `pathexpand`). */
export function expandHome(path: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return `${homedir()}/${path.slice(2)}`;
  return path;
}

