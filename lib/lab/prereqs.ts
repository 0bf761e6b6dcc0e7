import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { LabError, tryRun } from './exec.js';
import { say, step } from './progress.js';

/** Debian packages the lab needs on the machine. */
export const LAB_PACKAGES = ['debootstrap', 'systemd-container', 'apt-cacher-ng', 'iproute2', 'openssh-client'] as const;

/**
 * What `up --kubernetes` needs besides: gcc for pause and flanneld, dpkg-dev, apt-utils and gnupg for the apt
 * repository, binutils for library checks, skopeo and docker-registry for the images.
 */
export const LAB_SITE_PACKAGES = ['gcc', 'libc6-dev', 'dpkg-dev', 'apt-utils', 'gnupg', 'binutils', 'skopeo', 'docker-registry'] as const;

const POLICY_RC_D = '/usr/sbin/policy-rc.d';

/** Throw at once unless running as root. */
export function assertRoot(): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new LabError('the lab needs root (it creates network namespaces, mounts and containers): run it with sudo or as root');
  }
}

/** Packages of `names` that dpkg does not list as installed. */
export function missingPackages(names: readonly string[]): string[] {
  return names.filter((name) => {
    const r = tryRun('dpkg-query', ['-W', '-f=${Status}', name]);
    return !(r.ok && r.stdout.trim() === 'install ok installed');
  });
}

/**
 * Install the lab's Debian prerequisites that are missing. Package services must not start on install (apt-cacher-ng
 * would grab port 3142 on every address), so a `policy-rc.d` that denies starts is put in place for the install (a
 * policy the machine already has is moved aside and restored afterwards).
 */
export async function ensurePackages(names: readonly string[] = LAB_PACKAGES): Promise<void> {
  const missing = missingPackages(names);
  if (missing.length === 0) return;
  await step(`installing ${missing.join(' ')}`, () => {
    const saved = `${POLICY_RC_D}.hakube-saved`;
    const hadPolicy = existsSync(POLICY_RC_D);
    if (hadPolicy) renameSync(POLICY_RC_D, saved);
    writeFileSync(POLICY_RC_D, '#!/bin/sh\n# hakube lab: do not start services during package installs\nexit 101\n', { mode: 0o755 });
    try {
      const env = { DEBIAN_FRONTEND: 'noninteractive' };
      const install = () => tryRun('apt-get', ['install', '-y', ...missing], { env });
      let result = install();
      if (!result.ok) {
        say('apt-get install failed; running apt-get update and trying again');
        const update = tryRun('apt-get', ['update'], { env });
        if (!update.ok) throw new LabError(`apt-get update failed: ${update.stderr.trim()}`);
        result = install();
      }
      if (!result.ok) throw new LabError(`apt-get install -y ${missing.join(' ')} failed: ${result.stderr.trim()}`);
    } finally {
      if (hadPolicy) renameSync(saved, POLICY_RC_D);
      else rmSync(POLICY_RC_D, { force: true });
    }
    const still = missingPackages(missing);
    if (still.length) throw new LabError(`packages still missing after install: ${still.join(' ')}`);
  });
}
