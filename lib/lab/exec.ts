import { spawn, spawnSync } from 'node:child_process';

/** An error of the lab with a message meant for the operator. */
export class LabError extends Error {
  override name = 'LabError';
}

/** Result of a finished command. */
export interface RunResult {
  readonly ok: boolean;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options for `run` / `tryRun`. */
export interface RunOptions {
  /** Extra environment variables. */
  readonly env?: Record<string, string>;
  /** Text fed to stdin. @default nothing (stdin is /dev/null) */
  readonly input?: string;
  /** Kill the command after this many milliseconds. @default no limit */
  readonly timeoutMs?: number;
  /** Working directory. @default the current directory */
  readonly cwd?: string;
}

/** Machine PATH used for every command the lab runs (sbin included: tools live there on Debian). */
export const LAB_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function commandEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, PATH: LAB_PATH, LC_ALL: 'C', ...extra };
}

/** Run a command to completion; never throws for a non-zero exit. */
export function tryRun(cmd: string, args: readonly string[], options: RunOptions = {}): RunResult {
  const result = spawnSync(cmd, args, {
    cwd: options.cwd,
    env: commandEnv(options.env),
    input: options.input,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: options.timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  const stderr = result.error ? `${result.stderr ?? ''}${result.error.message}` : (result.stderr ?? '');
  return { ok: result.status === 0, code: result.status, stdout: result.stdout ?? '', stderr };
}

/** Run a command to completion; throw a LabError with its stderr when it fails. Returns stdout. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): string {
  const result = tryRun(cmd, args, options);
  if (!result.ok) throw new LabError(`${describe(cmd, args)} failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
  return result.stdout;
}

/** Run a command asynchronously (for slow commands); `onLine` sees each stdout/stderr line. */
export function runAsync(
  cmd: string,
  args: readonly string[],
  options: RunOptions & { onLine?: (line: string) => void } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: commandEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    const lines = (append: (text: string) => void) => {
      let pending = '';
      return (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        append(text);
        pending += text;
        const parts = pending.split('\n');
        pending = parts.pop() ?? '';
        for (const line of parts) options.onLine?.(line);
      };
    };
    child.stdout.on('data', lines((t) => (stdout += t)));
    child.stderr.on('data', lines((t) => (stderr += t)));
    child.on('error', (error) => {
      if (timer) clearTimeout(timer);
      resolvePromise({ ok: false, code: null, stdout, stderr: stderr + error.message });
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      resolvePromise({ ok: code === 0, code, stdout, stderr });
    });
  });
}

/** `cmd arg…` for messages. */
export function describe(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].join(' ');
}

/** Wait `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
