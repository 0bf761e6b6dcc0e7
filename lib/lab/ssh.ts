import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { LabPaths } from './config.js';
import { LabError, run, runAsync, sleep, type RunResult } from './exec.js';

/** Create the operator's ed25519 key once (0700 dir, 0600 key); returns the public key line. */
export function ensureOperatorKey(paths: LabPaths): string {
  mkdirSync(paths.sshDir, { recursive: true, mode: 0o700 });
  chmodSync(paths.sshDir, 0o700);
  if (!existsSync(paths.keyPath)) {
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'hakube-lab-operator', '-f', paths.keyPath]);
  }
  chmodSync(paths.keyPath, 0o600);
  if (!existsSync(paths.publicKeyPath)) writeFileSync(paths.publicKeyPath, run('ssh-keygen', ['-y', '-f', paths.keyPath]));
  return readFileSync(paths.publicKeyPath, 'utf8').trim();
}

/** Resolve true when something at `address:port` greets with an SSH banner within `timeoutMs`. */
export function sshBanner(address: string, timeoutMs = 1000, port = 22): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host: address, port });
    const finish = (ok: boolean) => {
      socket.destroy();
      resolvePromise(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('data', (data) => finish(data.toString('latin1').startsWith('SSH-')));
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
}

/**
 * Poll until every address greets with an SSH banner; `onProgress` sees how many are ready; `check` runs every round
 * and may throw to give up early (e.g. when a host died).
 */
export async function waitForSshBanners(
  addresses: readonly string[],
  timeoutMs: number,
  onProgress?: (ready: number) => void,
  check?: () => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const ready = new Set<string>();
  while (ready.size < addresses.length) {
    check?.();
    await Promise.all(
      addresses.filter((a) => !ready.has(a)).map(async (a) => {
        if (await sshBanner(a, 1000)) ready.add(a);
      }),
    );
    onProgress?.(ready.size);
    if (ready.size === addresses.length) break;
    if (Date.now() > deadline) {
      const missing = addresses.filter((a) => !ready.has(a));
      throw new LabError(`sshd did not answer within ${Math.round(timeoutMs / 1000)} s on ${missing.join(', ')}`);
    }
    await sleep(200);
  }
}

/** `known_hosts` text pinning each address to its host key. Pure. */
export function knownHostsText(hosts: readonly { address: string; hostKey: string }[]): string {
  return hosts.map((h) => `${h.address} ${h.hostKey}\n`).join('');
}

/** Arguments for `ssh` to a lab host as root with the operator key and the pinned host key (no user config). */
export function labSshArgs(paths: LabPaths, address: string, connectTimeoutSeconds = 5): string[] {
  return [
    '-F', 'none',
    '-i', paths.keyPath,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${paths.knownHostsPath}`,
    '-o', `ConnectTimeout=${connectTimeoutSeconds}`,
    '-o', 'LogLevel=ERROR',
    `root@${address}`,
  ];
}

/** Run a command on a lab host over SSH. */
export function labSsh(paths: LabPaths, address: string, command: string, options: { timeoutMs?: number; connectTimeoutSeconds?: number } = {}): Promise<RunResult> {
  return runAsync('ssh', [...labSshArgs(paths, address, options.connectTimeoutSeconds), command], { timeoutMs: options.timeoutMs });
}
