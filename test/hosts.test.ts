import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { fingerprint, hostsCommand, recordHostKeys, scanInventory } from '../lib/cli/hosts.js';
import { Inventory } from '../lib/inventory.js';
import { fakeBinary, fakeHostKey, tempDir } from './fixtures.js';

const HOSTS_YAML = `# the site's hosts
defaults: { user: root }
hosts:
  - name: a          # rack 1
    address: 10.0.0.1
  - name: b
    address: 10.0.0.2
    hostKey: ${fakeHostKey('b')}
  - { name: c, address: 10.0.0.3, bastion: { address: 10.0.0.254 } }
`;

/** A fake ssh-keyscan on the PATH that answers for 10.0.0.1 and 10.0.0.2 with the given keys. */
function fakeKeyscan(keys: Record<string, string>): string {
  const dir = tempDir();
  const cases = Object.entries(keys).map(([address, key]) => `  *" ${address}") echo "${address} ${key}" ;;`).join('\n');
  fakeBinary(dir, 'ssh-keyscan', `echo "# ${'$'}* SSH-2.0" >&2\ncase " ${'$'}*" in\n${cases}\n  *) echo "connect refused" >&2 ;;\nesac`, '/bin/bash');
  return dir;
}

async function runScan(file: string, keys: Record<string, string>, args: string[] = []) {
  const path = process.env.PATH;
  process.env.PATH = `${fakeKeyscan(keys)}:${path}`;
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await hostsCommand(['scan', file, ...args], () => 'unused');
    return { code, stdout: out.mock.calls.map((c) => String(c[0])).join(''), stderr: err.mock.calls.map((c) => String(c[0])).join('') };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.env.PATH = path;
  }
}

describe('hakube hosts scan', () => {
  it('records the key of a host without one, keeps comments and layout, checks pinned keys, skips bastion hosts', async () => {
    const file = join(tempDir(), 'hosts.yaml');
    writeFileSync(file, HOSTS_YAML, { mode: 0o600 });
    const keyA = realPublicKey();
    const result = await runScan(file, { '10.0.0.1': keyA, '10.0.0.2': fakeHostKey('b') });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`a  recorded     ssh-ed25519 ${fingerprint(keyA)}`);
    expect(result.stdout).toMatch(/b +matches/);
    expect(result.stdout).toMatch(/c +skipped +behind bastion 10.0.0.254/);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('# the site\'s hosts');
    expect(text).toContain('# rack 1');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const inventory = Inventory.fromYaml(text);
    expect(inventory.get('a')[0].hostKey).toBe(keyA);
    expect(inventory.get('c')[0].hostKey).toBeUndefined();
    // the fingerprint printed for review is the one ssh-keygen shows on the host's console
    expect(fingerprint(keyA)).toBe(execFileSync('ssh-keygen', ['-lf', '-'], { input: `${keyA}\n`, encoding: 'utf8' }).split(' ')[1]);
  });

  it('refuses to write anything when a host answers with another key than the pinned one', async () => {
    const file = join(tempDir(), 'hosts.yaml');
    writeFileSync(file, HOSTS_YAML);
    const result = await runScan(file, { '10.0.0.1': fakeHostKey('a'), '10.0.0.2': fakeHostKey('someone-else') });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/b +MISMATCH/);
    expect(result.stderr).toContain('b answered with another key than the one pinned');
    expect(readFileSync(file, 'utf8')).toBe(HOSTS_YAML);
  });

  it('reports an unreachable host and still records the others; --dry-run writes nothing', async () => {
    const file = join(tempDir(), 'hosts.yaml');
    writeFileSync(file, HOSTS_YAML);
    const dry = await runScan(file, { '10.0.0.1': fakeHostKey('a'), '10.0.0.2': fakeHostKey('b') }, ['--dry-run']);
    expect(dry.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(HOSTS_YAML);
    const partial = await scanInventory(Inventory.fromYaml(HOSTS_YAML), async (host) => (host.name === 'a' ? { error: 'connect refused' } : { key: fakeHostKey(host.name) }));
    expect(partial.map((r) => [r.host, r.status])).toEqual([['a', 'unreachable'], ['b', 'matches'], ['c', 'skipped']]);
    expect(recordHostKeys(HOSTS_YAML, partial)).toBe(HOSTS_YAML); // nothing new to record: the text as it was
  });
});

/** A freshly generated ed25519 public key, `<type> <base64>`. */
function realPublicKey(): string {
  const file = join(tempDir(), 'host_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
}
