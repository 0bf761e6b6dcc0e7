import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Machine-wide cache of built artifacts, kept across `lab down` and shared by every checkout on the machine. */
export const BUILD_CACHE_DIR = '/var/cache/hakube/build';

/** A built artifact in the cache. */
export interface Artifact {
  /** The artifact's cache dir; binaries are in `<dir>/bin/`. */
  readonly dir: string;
  /** Path of each built binary, by name. */
  readonly bin: Readonly<Record<string, string>>;
  /** Whether this call built it (false: it was in the cache). */
  readonly built: boolean;
  /** Wall seconds of this call. */
  readonly seconds: number;
}

/** Written last into an artifact's cache dir: present means the build finished. */
const COMPLETE = '.complete';

/** Whether the artifact dir `dir` holds a finished build. */
export function isComplete(dir: string): boolean {
  return existsSync(join(dir, COMPLETE));
}

/**
 * Fill the cache entry `dir` unless it is complete already: `build` writes into a private directory that is renamed
 * to `dir` only when it succeeded, so an interrupted or failed build never leaves half an entry. `about` is recorded
 * in the completion marker. Returns whether it built.
 */
export async function fillCache(dir: string, about: object, build: (into: string) => Promise<void> | void): Promise<boolean> {
  if (isComplete(dir)) return false;
  removeAbandoned(dir);
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  try {
    await build(partial);
    writeFileSync(join(partial, COMPLETE), `${JSON.stringify({ ...about, builtAt: new Date().toISOString() })}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(partial, dir);
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
  return true;
}

/** `fillCache` for an artifact: `build` writes its binaries into the `bin` dir it is given. */
export async function buildIntoCache(dir: string, about: object, build: (binDir: string) => Promise<void>): Promise<void> {
  await fillCache(dir, about, async (into) => {
    mkdirSync(join(into, 'bin'));
    await build(join(into, 'bin'));
  });
}

/** Remove partial dirs of `dir` left by builds whose process is gone (killed before it could clean up). */
function removeAbandoned(dir: string): void {
  const prefix = `${basename(dir)}.partial-`;
  const entries = existsSync(dirname(dir)) ? readdirSync(dirname(dir)) : [];
  for (const entry of entries.filter((e) => e.startsWith(prefix))) {
    if (!isRunning(Number(entry.slice(prefix.length)))) rmSync(join(dirname(dir), entry), { recursive: true, force: true });
  }
}

function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
