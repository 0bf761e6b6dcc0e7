import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LabError, runAsync, tryRun } from '../lab/exec.js';
import { Progress } from '../lab/progress.js';
import { type Artifact, BUILD_CACHE_DIR, buildIntoCache, isComplete } from './cache.js';

export { BUILD_CACHE_DIR } from './cache.js';

/** The Go toolchain the project's machines have; `go` on the PATH is used when it is not there. */
export const GO_BINARY = existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';

/** `go/<name>` of the hakube checkout or installed package this module belongs to. */
export function wrapperModuleDir(name: string): string {
  for (let dir = import.meta.dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'go', name, 'go.mod'))) return join(dir, 'go', name);
  }
  throw new LabError(`the wrapper module go/${name} is missing from this hakube (${import.meta.dirname})`);
}

/** One command built from a wrapper module. */
export interface GoCommand {
  /** Name of the binary written into the artifact's `bin/`. */
  readonly name: string;
  /** Import path of its main package, required by the wrapper module. */
  readonly pkg: string;
  /** Linker flags (e.g. `-X` version stamps). @default "-s -w" */
  readonly ldflags?: string;
  /** Build tags, comma-separated. @default none */
  readonly tags?: string;
  /**
   * Build with cgo (gcc and libc6-dev needed), for a command that does not build without it; the ldflags should then
   * link it statically (`-linkmode external -extldflags "-static"`). The C toolchain becomes part of the recipe hash.
   * @default false
   */
  readonly cgo?: boolean;
}

/** How to build a set of Go commands from a wrapper module committed in the project (`go.mod` + `go.sum`). */
export interface GoRecipe {
  /** Artifact name, the prefix of its cache dir. */
  readonly name: string;
  /** Directory of the wrapper module. */
  readonly moduleDir: string;
  /** Commands to build. */
  readonly commands: readonly GoCommand[];
  /** Said before a cold build starts, e.g. how long it takes. @default nothing */
  readonly coldNotice?: string;
}

/** A built artifact in the cache (the binaries of a Go recipe). */
export type GoArtifact = Artifact;

/**
 * The recipe hash: everything that goes into the binaries — the wrapper's go.mod and go.sum, the commands with
 * their flags, the Go version and target. A change to any of them is a new cache entry.
 */
export function recipeHash(recipe: GoRecipe, goVersion: string = readGoVersion(), cToolchain?: string): string {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum']) hash.update(`${file}\0${readFileSync(join(recipe.moduleDir, file))}\0`);
  const cc = recipe.commands.some((c) => c.cgo) ? { cToolchain: cToolchain ?? readCToolchain() ?? 'none' } : {};
  hash.update(JSON.stringify({ commands: recipe.commands, goVersion, env: BUILD_ENV, ...cc }));
  return hash.digest('hex').slice(0, 16);
}

/** Where `recipe`'s artifact lives in the cache. */
export function artifactDir(recipe: GoRecipe, goVersion?: string): string {
  return join(BUILD_CACHE_DIR, `${recipe.name}-${recipeHash(recipe, goVersion)}`);
}

/** Static, reproducible binaries that run on any Linux of the architecture. */
const BUILD_ENV = { CGO_ENABLED: '0', GOFLAGS: '-mod=readonly -trimpath', GOTOOLCHAIN: 'local' };

/** The cached artifact of `recipe` when it is complete, else undefined. */
export function cachedArtifact(recipe: GoRecipe): GoArtifact | undefined {
  const dir = artifactDir(recipe);
  return isComplete(dir) ? { dir, bin: binaries(recipe, dir), built: false, seconds: 0 } : undefined;
}

/**
 * Build `recipe` unless its artifact is already cached. The build writes into a private directory that is renamed
 * into place only when every command built, so an interrupted build never leaves a half artifact behind. Progress
 * (elapsed time, packages compiled) goes to stderr.
 */
export async function buildGoRecipe(recipe: GoRecipe): Promise<GoArtifact> {
  const started = Date.now();
  const cached = cachedArtifact(recipe);
  if (cached) return cached;
  const dir = artifactDir(recipe);
  if (recipe.coldNotice) process.stderr.write(`build: ${recipe.name} is not in the cache (${dir}): ${recipe.coldNotice}\n`);
  await buildIntoCache(dir, { recipe: recipe.name, commands: recipe.commands.map((c) => c.name) }, async (bin) => {
    for (const command of recipe.commands) await buildCommand(recipe, command, join(bin, command.name));
  });
  return { dir, bin: binaries(recipe, dir), built: true, seconds: (Date.now() - started) / 1000 };
}

async function buildCommand(recipe: GoRecipe, command: GoCommand, output: string): Promise<void> {
  if (command.cgo && !readCToolchain()) throw new LabError(`gcc and libc6-dev are needed to build ${command.name} (apt-get install gcc libc6-dev)`);
  const progress = new Progress(`go build ${command.name} (${recipe.name})`, 'build');
  let compiled = 0;
  const messages: string[] = []; // what go says besides the package names `-v` prints
  const tags = command.tags ? ['-tags', command.tags] : [];
  const result = await runAsync(GO_BINARY, ['build', '-v', ...tags, '-ldflags', command.ldflags ?? '-s -w', '-o', output, command.pkg], {
    cwd: recipe.moduleDir,
    env: command.cgo ? { ...BUILD_ENV, CGO_ENABLED: '1' } : BUILD_ENV,
    onLine: (line) => {
      if (/^[\w.-]+(\/[\w.~-]+)*$/.test(line.trim())) progress.update(`${++compiled} packages`);
      else if (line.trim()) messages.push(line);
    },
  });
  if (!result.ok) {
    progress.fail();
    throw new LabError(`go build of ${command.pkg} in ${recipe.moduleDir} failed (exit ${result.code}):\n${messages.slice(-30).join('\n')}`);
  }
  progress.done(`${compiled} packages compiled`);
}

function binaries(recipe: GoRecipe, dir: string): Record<string, string> {
  return Object.fromEntries(recipe.commands.map((c) => [c.name, join(dir, 'bin', c.name)]));
}

/** The C toolchain that builds and links into static binaries: `gcc --version` and `ldd --version` first lines. */
export function readCToolchain(): string | undefined {
  const gcc = tryRun('gcc', ['--version']);
  const ldd = tryRun('ldd', ['--version']);
  if (!gcc.ok || !ldd.ok) return undefined;
  return `${gcc.stdout.split('\n')[0]}; ${ldd.stdout.split('\n')[0]}`;
}

/** `go1.26.8 linux/amd64`, the part of `go version` that decides the binaries. */
export function readGoVersion(): string {
  const result = tryRun(GO_BINARY, ['version'], { env: { GOTOOLCHAIN: 'local' } });
  if (!result.ok) throw new LabError(`Go is needed to build the lab's artifacts and was not found (${GO_BINARY}): install it at /usr/local/go`);
  return result.stdout.trim().replace(/^go version /, '');
}
