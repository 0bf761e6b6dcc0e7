import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError, runAsync, tryRun } from '../lab/exec.js';
import { Progress } from '../lab/progress.js';
import { type Artifact, BUILD_CACHE_DIR, buildIntoCache, isComplete } from './cache.js';
import { GO_BINARY, readCToolchain, wrapperModuleDir } from './go-module.js';
import { KUBERNETES_VERSION } from './kubernetes.js';

/** The pause image version kubeadm 1.34 expects (`PauseVersion`), built from k8s.io/kubernetes' build/pause. */
export const PAUSE_VERSION = '3.10.1';

/**
 * build/pause/Makefile's flags; upstream's `-DVERSION=v$(TAG)-$(REV)` takes REV from `git describe`, here the
 * Kubernetes release the source comes from. `pause -v` prints it.
 */
export const PAUSE_CFLAGS: readonly string[] = ['-Os', '-Wall', '-Werror', '-static', `-DVERSION=v${PAUSE_VERSION}-v${KUBERNETES_VERSION}`];

/** What goes into the pause binary. */
export interface PauseRecipe {
  /** build/pause/linux/pause.c of the k8s.io/kubernetes module in the Go module cache. */
  readonly source: string;
  /** gcc's flags. */
  readonly cflags: readonly string[];
  /** The toolchain: `gcc --version` and `ldd --version` first lines (libc is linked in statically). */
  readonly toolchain: string;
}

/**
 * The recipe, or undefined when the source or gcc is missing. The source is found with `go mod download -json
 * k8s.io/kubernetes@v<version>` in go/kubernetes (which pins it), downloading it unless `offline`.
 */
export function pauseRecipe(): PauseRecipe;
export function pauseRecipe(offline: boolean): PauseRecipe | undefined;
export function pauseRecipe(offline = false): PauseRecipe | undefined {
  const download = tryRun(GO_BINARY, ['mod', 'download', '-json', `k8s.io/kubernetes@v${KUBERNETES_VERSION}`], {
    cwd: wrapperModuleDir('kubernetes'),
    env: { GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly', ...(offline ? { GOPROXY: 'off' } : {}) },
  });
  if (!download.ok) {
    if (offline) return undefined;
    throw new LabError(`go mod download of k8s.io/kubernetes v${KUBERNETES_VERSION} (for pause.c) failed: ${download.stderr.trim() || download.stdout.trim()}`);
  }
  const dir = (JSON.parse(download.stdout) as { Dir?: string }).Dir;
  if (!dir) throw new LabError(`go mod download gave no directory for k8s.io/kubernetes v${KUBERNETES_VERSION}: ${download.stdout.trim()}`);
  const toolchain = readCToolchain();
  if (!toolchain) {
    if (offline) return undefined;
    throw new LabError('gcc and libc6-dev are needed to build pause (apt-get install gcc libc6-dev)');
  }
  return { source: join(dir, 'build/pause/linux/pause.c'), cflags: PAUSE_CFLAGS, toolchain };
}

/** The recipe hash: the source file's sha256, the flags and the toolchain. */
export function pauseHash(recipe: PauseRecipe): string {
  const source = createHash('sha256').update(readFileSync(recipe.source)).digest('hex');
  return createHash('sha256').update(JSON.stringify({ source, cflags: recipe.cflags, toolchain: recipe.toolchain })).digest('hex').slice(0, 16);
}

/** Where `recipe`'s artifact lives in the cache. */
export function pauseArtifactDir(recipe: PauseRecipe): string {
  return join(BUILD_CACHE_DIR, `pause-${PAUSE_VERSION}-${pauseHash(recipe)}`);
}

function artifact(dir: string, built: boolean, seconds: number): Artifact {
  return { dir, bin: { pause: join(dir, 'bin', 'pause') }, built, seconds };
}

/** The cached pause artifact of this hakube's recipe, if it was built (downloads nothing). */
export function cachedPause(): Artifact | undefined {
  const recipe = pauseRecipe(true);
  const dir = recipe && pauseArtifactDir(recipe);
  return dir && isComplete(dir) ? artifact(dir, false, 0) : undefined;
}

/** Build the static pause binary with Debian's gcc (or take it from the machine-wide cache). */
export async function buildPause(recipe: PauseRecipe = pauseRecipe()): Promise<Artifact> {
  const started = Date.now();
  const dir = pauseArtifactDir(recipe);
  if (isComplete(dir)) return artifact(dir, false, 0);
  await buildIntoCache(dir, { recipe: `pause-${PAUSE_VERSION}`, source: recipe.source, cflags: recipe.cflags, toolchain: recipe.toolchain }, async (bin) => {
    const progress = new Progress(`gcc pause (pause-${PAUSE_VERSION})`, 'build');
    const output = join(bin, 'pause');
    for (const [cmd, args] of [['gcc', [...recipe.cflags, '-o', output, recipe.source]], ['strip', [output]]] as const) {
      const result = await runAsync(cmd, args);
      if (!result.ok) {
        progress.fail();
        throw new LabError(`${cmd} for pause failed (exit ${result.code}):\n${result.stderr.trim()}`);
      }
    }
    progress.done();
  });
  return artifact(dir, true, (Date.now() - started) / 1000);
}
