import { readFileSync, readdirSync } from 'node:fs';
import { sleep } from './exec.js';

/** Arguments of a process from /proc/PID/cmdline; empty when it is gone or a zombie. */
export function procArgs(pid: number): string[] {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const args = raw.split('\0');
    if (args[args.length - 1] === '') args.pop();
    return args;
  } catch {
    return [];
  }
}

/** Parent PID and state letter from /proc/PID/stat, or undefined when the process is gone. */
export function procStat(pid: number): { ppid: number; state: string } | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '?', ppid: Number(rest[1]) };
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie. */
export function procAlive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/** PIDs whose parent is `pid`. */
export function procChildren(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (procStat(Number(entry))?.ppid === pid) children.push(Number(entry));
  }
  return children;
}

/** Send a signal; false when the process is already gone. */
export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Wait until none of `pids` is alive; returns the ones still alive at the deadline. */
export async function waitForExit(pids: readonly number[], timeoutMs: number, onTick?: (alive: number[]) => void): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(procAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    onTick?.(alive);
    await sleep(100);
    alive = alive.filter(procAlive);
  }
  return alive;
}
