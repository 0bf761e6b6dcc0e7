import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostScript } from '../lib/shell.js';
import { fakeBinaries } from './fixtures.js';

/** Run hakube_apply_service (lib/scripts/services.sh) against a fake systemctl that logs its calls; `active` says what is-active answers. */
function harness(action: 'restart' | 'reload', noBlock = false) {
  const fakes = fakeBinaries({ systemctl: `[ "$1" != is-active ] || [ -f "${'$'}(dirname "$0")/../active" ]` });
  const conf = join(fakes.dir, 'app.conf');
  const state = join(fakes.dir, 'applied');
  writeFileSync(conf, 'v1\n');
  const script = `set -euo pipefail\n${hostScript({}, 'services.sh')}\nhakube_apply_service ${noBlock ? '--no-block ' : ''}app.service ${action} ${state} ${conf}`;
  const run = (active: boolean) => {
    fakes.reset();
    rmSync(join(fakes.dir, 'active'), { force: true });
    if (active) writeFileSync(join(fakes.dir, 'active'), '');
    execFileSync('bash', ['-c', script], { env: fakes.env });
    return fakes.calls().map((c) => c.replace(/^systemctl /, '')).filter((c) => !c.startsWith('is-active') && !c.startsWith('enable'));
  };
  return { run, conf, state };
}

describe('hakube_apply_service', () => {
  it('starts a stopped unit, leaves an unchanged running one alone, and reloads when its files changed', () => {
    const h = harness('reload');
    expect(h.run(false)).toEqual(['daemon-reload', 'start app.service']);
    expect(h.run(true)).toEqual([]);
    writeFileSync(h.conf, 'v2\n');
    expect(h.run(true)).toEqual(['daemon-reload', 'reload app.service']);
    expect(h.run(true)).toEqual([]);
  });

  it('finishes a run that stopped after placing files but before restarting (the change is not lost)', () => {
    const h = harness('restart');
    h.run(false);
    writeFileSync(h.conf, 'v2\n'); // a run placed the new file, then died before systemctl
    expect(h.run(true)).toEqual(['daemon-reload', 'restart app.service']);
  });

  it('passes --no-block through', () => {
    expect(harness('restart', true).run(false)).toEqual(['daemon-reload', '--no-block start app.service']);
  });
});
