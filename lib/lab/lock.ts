import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { LabError } from './exec.js';
import { procAlive } from './proc.js';

/** Lock file of lab commands that change the lab (outside LAB_RUN_DIR, which `down` removes). */
export const LAB_LOCK_FILE = '/run/hakube-lab.lock';

/**
 * Run `work` while holding the machine-wide lab lock, so two `up`/`down`/`power` commands never interleave. A lock
 * left by a process that is gone is taken over.
 */
export async function withLabLock<T>(work: () => Promise<T>): Promise<T> {
  acquire();
  try {
    return await work();
  } finally {
    rmSync(LAB_LOCK_FILE, { force: true });
  }
}

function acquire(): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(LAB_LOCK_FILE, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readLock());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && procAlive(holder)) {
        throw new LabError(`another hakube lab command (pid ${holder}) is changing the lab; wait for it to finish`);
      }
      rmSync(LAB_LOCK_FILE, { force: true }); // stale
    }
  }
  throw new LabError(`cannot take the lab lock ${LAB_LOCK_FILE}`);
}

function readLock(): string {
  try {
    return readFileSync(LAB_LOCK_FILE, 'utf8').trim();
  } catch {
    return '';
  }
}
