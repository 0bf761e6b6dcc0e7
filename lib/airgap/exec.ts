import { spawnSync } from 'node:child_process';
import { LAB_PATH } from '../lab/exec.js';
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';

/** An error building or serving an air-gapped site, with a message meant for the operator. */
export class AirgapError extends Error {
  override name = 'AirgapError';
}


/** Options of `run`. */
export interface RunOptions {
  /** Working directory. @default the current directory */
  readonly cwd?: string;
  /** Extra environment variables. @default none */
  readonly env?: Record<string, string>;
  /** Text fed to stdin. @default nothing (stdin is /dev/null) */
  readonly input?: string;
}

/** Run a command to completion and return its stdout; throw an AirgapError with its stderr when it fails. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): string {
  const result = spawnSync(cmd, args, {
    cwd: options.cwd,
    env: { ...process.env, PATH: LAB_PATH, LC_ALL: 'C', ...options.env },
    input: options.input,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.error) throw new AirgapError(`${cmd} could not run: ${result.error.message}${hint(cmd)}`);
  if (result.status !== 0) {
    const output = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-15).join('\n');
    throw new AirgapError(`${[cmd, ...args].join(' ')} failed (exit ${result.status ?? result.signal}): ${output}`);
  }
  return result.stdout;
}

/** The Debian package that provides a command this module runs, for "could not run" errors. */
const PROVIDERS: Readonly<Record<string, string>> = {
  'dpkg-deb': 'dpkg',
  'dpkg-scanpackages': 'dpkg-dev',
  'apt-ftparchive': 'apt-utils',
  gpg: 'gpg',
  skopeo: 'skopeo',
  'docker-registry': 'docker-registry',
  readelf: 'binutils',
  tar: 'tar',
};

function hint(cmd: string): string {
  const pkg = PROVIDERS[cmd];
  return pkg ? ` (install the Debian package ${pkg})` : '';
}

/** sha256 of a string or buffer, hex. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 of a file's content, hex (streamed: binaries are tens of MB). */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** Memo of file hashes within this process (keyed by path, size and mtime), so one binary is read once. */
const fileHashes = new Map<string, Promise<string>>();

/** `sha256File`, remembered for the life of the process while the file's size and mtime stay the same. */
export async function fileDigest(path: string): Promise<string> {
  const stat = statSync(path);
  const key = `${path}\0${stat.size}\0${stat.mtimeMs}`;
  let digest = fileHashes.get(key);
  if (!digest) {
    digest = sha256File(path);
    fileHashes.set(key, digest);
  }
  return digest;
}

