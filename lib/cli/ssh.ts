import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Host } from '../inventory.js';

/** What a command run over SSH left. */
export interface SshResult {
  /** Exit code; 255 when ssh itself failed (unreachable, host key mismatch, authentication). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Run `command` on `host` with the operator's ssh client, as the deploy connects: the host's key file (or the
 * agent), its pinned host key (else the first key seen is accepted, as Terraform does without one), its bastion;
 * no ssh config of the operator's, no prompts, `timeoutSeconds` to connect. `input` is fed to stdin.
 */
export async function sshRun(host: Host, command: string, options: { input?: string; timeoutSeconds?: number } = {}): Promise<SshResult> {
  const dir = mkdtempSync(join(tmpdir(), 'hakube-ssh-'));
  try {
    const knownHosts = join(dir, 'known_hosts');
    if (host.hostKey) writeFileSync(knownHosts, `${host.port === 22 ? host.address : `[${host.address}]:${host.port}`} ${host.hostKey}\n`);
    const args = [
      '-F', 'none', '-p', String(host.port), '-o', 'BatchMode=yes', '-o', `ConnectTimeout=${options.timeoutSeconds ?? 10}`, '-o', 'LogLevel=ERROR',
      '-o', `UserKnownHostsFile=${knownHosts}`,
      '-o', `StrictHostKeyChecking=${host.hostKey ? 'yes' : 'accept-new'}`,
      ...(host.privateKeyPath ? ['-i', host.privateKeyPath.replace(/^~(?=\/)/, homedir()), '-o', 'IdentitiesOnly=yes'] : []),
      ...(host.bastion ? ['-J', `${host.bastion.user}@${host.bastion.address}:${host.bastion.port}`] : []),
      `${host.user}@${host.address}`,
      command,
    ];
    return await new Promise((resolve) => {
      const child = spawn('ssh', args, { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d) => (stdout += d));
      child.stderr!.on('data', (d) => (stderr += d));
      child.on('error', (e) => resolve({ code: null, stdout, stderr: `${stderr}${e.message}` }));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      if (options.input !== undefined) child.stdin!.end(options.input);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
