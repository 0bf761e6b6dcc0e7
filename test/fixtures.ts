import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Host } from '../lib/inventory.js';

/**
 * `count` hosts named `<prefix>-1..` on 10.77.0.11.. with a key path (nothing is read from it at synth) and a pinned
 * host key (made up, in the right form).
 */
export function hosts(count: number, prefix = 'node', firstOctet = 11): Host[] {
  return Array.from({ length: count }, (_, i) =>
    new Host({ name: `${prefix}-${i + 1}`, address: `10.77.0.${firstOctet + i}`, privateKeyPath: '/keys/id_ed25519', hostKey: fakeHostKey(`${prefix}-${i + 1}`) }),
  );
}

/** A made-up ed25519 host public key for `name`, in the form `Host` accepts. */
export function fakeHostKey(name: string): string {
  return `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${Buffer.from(name.padEnd(32, '.')).toString('base64')}`;
}

export function tempDir(prefix = 'hakube-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Fails unless shellcheck (style level) finds nothing in `scripts`, written as files. `exclude`: check codes left
 * out (e.g. SC1091 for a sourced file that exists only on the host).
 */
export function expectShellcheckClean(scripts: ReadonlyArray<string>, options: { shell?: 'bash' | 'sh'; exclude?: string[] } = {}): void {
  const dir = tempDir('hakube-shellcheck-');
  const files = scripts.map((script, i) => {
    const path = join(dir, `${i}.sh`);
    writeFileSync(path, script);
    return path;
  });
  const excluded = options.exclude?.length ? ['-e', options.exclude.join(',')] : [];
  const r = spawnSync('shellcheck', [`--shell=${options.shell ?? 'bash'}`, '--severity=style', ...excluded, ...files], { encoding: 'utf8' });
  if (r.status !== 0 || r.stdout !== '') throw new Error(`shellcheck found problems in ${files.length} scripts (${dir}):\n${r.stdout}${r.stderr}`);
}

/** A stand-in for a binary: a script named `name` in `dir` (made when missing) running `body`. */
export function fakeBinary(dir: string, name: string, body = `echo "fake ${name} $*"`, shell = '/bin/sh'): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, `#!${shell}\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
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

/** The repository root. */
export const projectRoot = resolve(import.meta.dirname, '..');

/** Run an app file the way `cdktf synth --app "npx tsx FILE"` does, in a scratch directory; return its stack JSON. */
export function synthApp(file: string, stack: string, env: Record<string, string> = {}) {
  const cwd = tempDir('hakube-example-');
  execFileSync(join(projectRoot, 'node_modules/.bin/tsx'), [join(projectRoot, file)], {
    cwd, env: { ...process.env, CDKTF_OUTDIR: join(cwd, 'out'), ...env }, stdio: 'pipe',
  });
  return JSON.parse(readFileSync(join(cwd, 'out/stacks', stack, 'cdk.tf.json'), 'utf8'));
}

/** Whether `pem` is a private key in PKCS#8 PEM form, byte for byte (re-encoding the parsed key gives the same text). */
export function isPkcs8Pem(pem: string): boolean {
  return createPrivateKey(pem).export({ type: 'pkcs8', format: 'pem' }) === pem;
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

/** The Terraform-compatible binary the tests run (resolved by test/engine-setup.ts). */
export function engineBinary(): string {
  const binary = process.env.TERRAFORM_BINARY_NAME;
  if (!binary) throw new Error('TERRAFORM_BINARY_NAME is not set: run the tests through vitest (test/engine-setup.ts sets it)');
  return binary;
}

/** A self-signed CA (made with openssl for these tests; a certificate is public). */
export const MIRROR_CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBfjCCASOgAwIBAgIUVi2R9sAv5Xw0taRIrGOakuLVWekwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbWlycm9yLWNhMB4XDTI2MTIwMjAwNDA1MFoXDTI2MTIwNDAw
NDA1MFowFDESMBAGA1UEAwwJbWlycm9yLWNhMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAExEDnWKeQ3XzZMDDEAK9k7QWkwmdoWon0XDxCSEHdr50IWrzk+OrfP2CJ
u0HCGmMCNwLcN9maXRADI4RaAIoaiKNTMFEwHQYDVR0OBBYEFKUKs0FmpoP2KRPa
nCzSz0uxBmpsMB8GA1UdIwQYMBaAFKUKs0FmpoP2KRPanCzSz0uxBmpsMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhALK1XOHvxmZCwC1qIHjocNDI
omf1FomNQb+Q+g5Ii5XfAiEAjA8/nVi+EynqzmtZ4qBKy4ZYCacil4yJUb8GoK/J
P9w=
-----END CERTIFICATE-----
`;

/**
 * The generated input lines of a host script (`name=value` in its "# inputs of …" blocks, see `hostScript`), as
 * written: a list stays `(a b)`, a quoted value keeps its quotes. What the TypeScript side decided for a script.
 */
export function scriptInputs(script: string): Record<string, string> {
  const inputs: Record<string, string> = {};
  let inBlock = false;
  for (const line of script.split('\n')) {
    if (line.startsWith('# inputs of ')) inBlock = true;
    else if (line.startsWith('# --- ')) inBlock = false;
    else if (inBlock) {
      const at = line.indexOf('=');
      inputs[line.slice(0, at)] = line.slice(at + 1);
    }
  }
  return inputs;
}

/**
 * Fake binaries (name → bash behaviour, seeing its arguments as "$@") in a fresh directory, each logging its call as
 * "name args" first; `env` puts them first on the PATH, `calls()` reads the log, `reset()` empties it.
 */
export function fakeBinaries(behaviours: Record<string, string>) {
  const dir = tempDir();
  const log = join(dir, 'calls.log');
  writeFileSync(log, '');
  for (const [name, behaviour] of Object.entries(behaviours)) fakeBinary(join(dir, 'bin'), name, `echo "${name} $*" >> ${log}\n${behaviour}`, '/bin/bash');
  const env = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` };
  const calls = () => readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
  return { dir, env, calls, reset: () => writeFileSync(log, '') };
}
