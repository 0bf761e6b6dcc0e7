import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isMap, isSeq, parseDocument } from 'yaml';
import { type Host, Inventory } from '../inventory.js';
import { UsageError } from '../lab/cli.js';

/** Usage text of `hakube hosts`. */
export const HOSTS_USAGE = `usage: hakube hosts scan [hosts.yaml] [--dry-run]

  scan    ask every host in the inventory for its SSH host key (ssh-keyscan, ed25519 first) and record it as
          hostKey in the file for the hosts that have none (comments and layout are kept); a host whose answer
          differs from its pinned key is reported and nothing is written

Review the recorded keys (compare the fingerprints with the hosts' consoles) before the first deploy: from then on
every connection checks them. --dry-run prints what would be recorded.`;

/** What a scan found for one host. */
export interface ScanResult {
  readonly host: string;
  /** `recorded`: no key was pinned, this one is new; `matches` / `MISMATCH`: compared with the pinned key. */
  readonly status: 'recorded' | 'matches' | 'MISMATCH' | 'unreachable' | 'skipped';
  /** The key the host answered with, `<type> <base64>`. */
  readonly key?: string;
  /** Why the host was skipped or unreachable. */
  readonly detail?: string;
}

/** Key types in order of preference: the first a host offers is pinned (Terraform and ssh accept each). */
const KEY_TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ssh-rsa'] as const;

/** Ask one host for its key with ssh-keyscan (a short timeout; no key material leaves the operator's machine). */
export function scanHostKey(host: Host, timeoutSeconds = 5): Promise<{ key?: string; error?: string }> {
  return new Promise((resolve) => {
    const child = spawn('ssh-keyscan', ['-T', String(timeoutSeconds), '-p', String(host.port), '-t', 'ed25519,ecdsa,rsa', host.address], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => resolve({ error: e.message }));
    child.on('close', () => {
      const keys = out
        .split('\n')
        .filter((line) => line && !line.startsWith('#'))
        .map((line) => line.split(/\s+/).slice(1, 3).join(' '));
      const key = KEY_TYPES.map((type) => keys.find((k) => k.startsWith(`${type} `))).find(Boolean);
      resolve(key ? { key } : { error: err.split('\n').filter((l) => l && !l.startsWith('#')).join('; ') || 'no answer' });
    });
  });
}

/** Scan every host (in parallel); hosts behind a bastion are skipped, ssh-keyscan cannot go through one. */
export async function scanInventory(inventory: Inventory, scan = scanHostKey): Promise<ScanResult[]> {
  return Promise.all(
    inventory.hosts.map(async (host): Promise<ScanResult> => {
      if (host.bastion) return { host: host.name, status: 'skipped', detail: `behind bastion ${host.bastion.address}: run ssh-keyscan ${host.address} on the bastion and add hostKey by hand` };
      const found = await scan(host);
      if (!found.key) return { host: host.name, status: 'unreachable', detail: found.error };
      if (!host.hostKey) return { host: host.name, status: 'recorded', key: found.key };
      return { host: host.name, status: found.key === host.hostKey ? 'matches' : 'MISMATCH', key: found.key };
    }),
  );
}

/**
 * `hosts.yaml` text with `hostKey` set on the entries of the hosts whose key was recorded; everything else (comments,
 * order, defaults) stays as it was.
 */
export function recordHostKeys(text: string, results: readonly ScanResult[]): string {
  if (!results.some((r) => r.status === 'recorded')) return text;
  const doc = parseDocument(text);
  const entries = doc.get('hosts');
  if (!isSeq(entries)) throw new Error('expected a mapping with a "hosts" list');
  const recorded = new Map(results.filter((r) => r.status === 'recorded').map((r) => [r.host, r.key!]));
  for (const entry of entries.items) {
    if (!isMap(entry)) continue;
    const key = recorded.get(String(entry.get('name')));
    if (key) entry.set('hostKey', key);
  }
  return doc.toString({ lineWidth: 0 });
}

/** `hakube hosts …`: returns the exit code. */
export async function hostsCommand(args: readonly string[], defaultFile: () => string): Promise<number> {
  const { positionals, values } = parseArgs({ args: [...args], options: { 'dry-run': { type: 'boolean' } }, allowPositionals: true, strict: true });
  const [command, file = defaultFile(), ...rest] = positionals;
  if (command !== 'scan' || rest.length > 0) throw new UsageError(`expected "scan [hosts.yaml]", got ${JSON.stringify(positionals)}`);
  const text = readFileSync(file, 'utf8');
  const inventory = Inventory.fromYaml(text, { source: file });
  const results = await scanInventory(inventory);
  const width = Math.max(...results.map((r) => r.host.length));
  for (const r of results) {
    process.stdout.write(`${r.host.padEnd(width)}  ${r.status.padEnd(11)}  ${r.key ? `${r.key.split(' ')[0]} ${fingerprint(r.key)}` : (r.detail ?? '')}\n`);
  }
  const mismatched = results.filter((r) => r.status === 'MISMATCH');
  if (mismatched.length > 0) {
    process.stderr.write(`hakube hosts: ${mismatched.map((r) => r.host).join(', ')} answered with another key than the one pinned in ${file}: a rebuilt machine, or someone in between. Nothing was written; find out which before you change hostKey.\n`);
    return 1;
  }
  const recorded = results.filter((r) => r.status === 'recorded');
  if (recorded.length > 0 && !values['dry-run']) {
    const tmp = `${file}.hakube-new`;
    writeFileSync(tmp, recordHostKeys(text, results), { mode: statSync(file).mode & 0o777 }); // keep the file's mode
    renameSync(tmp, file);
    process.stderr.write(`hakube hosts: recorded ${recorded.length} host key(s) in ${file}; compare the fingerprints above with each host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on its console) before you deploy\n`);
  }
  return results.some((r) => r.status === 'unreachable') ? 1 : 0;
}

/** `SHA256:…`, the fingerprint ssh shows for a public key. */
export function fingerprint(key: string): string {
  const blob = Buffer.from(key.split(' ')[1] ?? '', 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}
