import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Host } from '../lib/inventory.js';

/** `count` hosts named `<prefix>-1..` on 10.77.0.11.. with a key path (nothing is read from it at synth). */
export function hosts(count: number, prefix = 'node', firstOctet = 11): Host[] {
  return Array.from({ length: count }, (_, i) =>
    new Host({ name: `${prefix}-${i + 1}`, address: `10.77.0.${firstOctet + i}`, privateKeyPath: '/keys/id_ed25519' }),
  );
}

export function tempDir(prefix = 'hakube-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Every file below `dir` with its text. */
export function readTree(dir: string): Array<{ path: string; text: string }> {
  const out: Array<{ path: string; text: string }> = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...readTree(path));
    else out.push({ path, text: readFileSync(path, 'utf8') });
  }
  return out;
}

/** Text that must never leave the secrets directory: private keys, and the secret lines of stored text files. */
export function secretMarkers(secretsDir: string): string[] {
  const markers = ['PRIVATE KEY'];
  for (const file of readTree(secretsDir)) {
    if (file.path.endsWith('.key')) {
      // the base64 body lines of every private key
      markers.push(...file.text.split('\n').filter((line) => line.length > 20 && !line.startsWith('-----')));
    }
  }
  return markers;
}
