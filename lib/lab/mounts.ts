import { readFileSync } from 'node:fs';
import { tryRun } from './exec.js';

/** One line of /proc/mounts. */
export interface MountEntry {
  readonly source: string;
  readonly target: string;
  readonly fstype: string;
  readonly options: string;
}

/** Decode the octal escapes /proc/mounts uses for spaces and the like. */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parse /proc/mounts text. */
export function parseMounts(text: string): MountEntry[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [source = '', target = '', fstype = '', options = ''] = line.split(' ');
      return { source: unescapeMount(source), target: unescapeMount(target), fstype, options };
    });
}

/** The machine's current mounts. */
export function currentMounts(): MountEntry[] {
  return parseMounts(readFileSync('/proc/mounts', 'utf8'));
}

/** Mount points at or under `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.replace(/\/+$/, '');
  return currentMounts()
    .map((m) => m.target)
    .filter((t) => t === prefix || t.startsWith(`${prefix}/`))
    .sort((a, b) => b.length - a.length);
}

/** Unmount everything at or under `dir`, deepest first. Returns what is still mounted (busy). */
export function unmountUnder(dir: string): string[] {
  for (let round = 0; round < 3; round++) {
    const targets = mountsUnder(dir);
    if (targets.length === 0) return [];
    for (const target of targets) tryRun('umount', [target]);
  }
  return mountsUnder(dir);
}
