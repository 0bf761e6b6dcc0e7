import { sh } from '../shell.js';

/** Packages to install, per package manager (names differ between distribution families). */
export interface PackageSet {
  /** Debian/Ubuntu package names (apt-get). */
  readonly apt: readonly string[];
  /** RHEL/Rocky package names (dnf); omit when the family is not supported. @default none */
  readonly dnf?: readonly string[];
}

/** Every step that installs packages takes this lock, so two steps on one host never race for apt's or dnf's. */
export const PACKAGE_LOCK = '/var/lock/hakube-packages.lock';

/**
 * Bash: `apt-get update` that gives up on a stalled mirror or proxy after 3 minutes and tries again, 3 attempts.
 * (The lab saw an update hang for good on a truncated answer from its apt proxy.)
 */
export function renderAptUpdate(indent = '', stallSeconds = 180): string {
  return `for attempt in 1 2 3; do
  if timeout ${stallSeconds} apt-get -q -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 update; then
    break
  elif [ "$attempt" = 3 ]; then
    echo "hakube: apt-get update failed 3 times" >&2
    exit 1
  fi
  echo "hakube: apt-get update failed or stalled (attempt $attempt of 3); trying again" >&2
  sleep 5
done`.replace(/\n/g, `\n${indent}`);
}

/** Bash lines that take the host-wide package lock on fd 9 (release it with `flock -u 9`). */
export function takePackageLock(): string {
  return `exec 9>${PACKAGE_LOCK}
flock -w 900 9 || { echo "hakube: waited 15 min for another package install on this host" >&2; exit 1; }`;
}

/**
 * Install packages that are missing (without their Recommends: runc's recommended criu alone drags in python3,
 * a minute and a half of a 2-core host), holding the host-wide hakube package lock (several steps of one plan may run
 * on the same host at once) and waiting for any other apt/dpkg user. `missingTest` is a bash condition that is
 * true when the install is needed; nothing runs otherwise.
 */
export function renderPackageInstall(packages: PackageSet, missingTest: string): string {
  const apt = packages.apt.map(sh).join(' ');
  const dnf = packages.dnf?.map(sh).join(' ');
  return `if ${missingTest}; then
  ${takePackageLock().replace('\n', '\n  ')}
  if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    ${renderAptUpdate('    ')}
    apt-get -q -y -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 install --no-install-recommends ${apt}
${
  dnf
    ? `  elif command -v dnf >/dev/null 2>&1; then
    dnf install -y ${dnf}
`
    : ''
}  else
    echo "hakube: no supported package manager (apt-get${dnf ? ' or dnf' : ''}) on this host; install ${packages.apt.join(' ')} first" >&2
    exit 1
  fi
  flock -u 9
fi`;
}
