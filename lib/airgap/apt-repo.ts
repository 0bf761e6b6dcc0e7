import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fillCache } from '../build/cache.js';
import { AirgapError, fileDigest, run, sha256 } from './exec.js';

/**
 * A signed, flat apt repository laid out like pkgs.k8s.io: `<root>/core:/stable:/v1.34/deb/` holds `Packages`,
 * `Packages.gz`, `Release`, `InRelease`, `Release.gpg`, `Release.key` and the packages under `amd64/`. So a host
 * whose `kubernetesRepoBaseUrl` is `http://<server>/core:/stable:` finds it exactly where node preparation looks.
 * Indexes come from Debian's own tools (dpkg-scanpackages, apt-ftparchive), signatures from gpg.
 */

/** The repository directory of a Kubernetes minor release below `root`: `<root>/core:/stable:/v1.34/deb`. Pure. */
export function aptRepoDir(root: string, kubernetesVersion: string): string {
  const match = /^(\d+)\.(\d+)\.\d+$/.exec(kubernetesVersion);
  if (!match) throw new AirgapError(`apt repository: kubernetesVersion ${JSON.stringify(kubernetesVersion)} must be a version like "1.34.12" (no leading v)`);
  return join(root, 'core:', 'stable:', `v${match[1]}.${match[2]}`, 'deb');
}

/** The repository's signing key: a gpg home kept in the caller's key dir, never in any output. */
export interface SigningKey {
  /** gpg home directory (0700) holding the secret key. */
  readonly home: string;
  /** Fingerprint of the signing key. */
  readonly fingerprint: string;
}

/** The user id of generated signing keys. */
export const SIGNING_KEY_UID = 'hakube air-gapped site repository <airgap@hakube.invalid>';

/**
 * The signing key in `keyDir` (`<keyDir>/gnupg`), generated once (ed25519, no expiry, no passphrase: the key dir's
 * 0700 mode protects it) and reused on every later build.
 */
export function ensureSigningKey(keyDir: string): SigningKey {
  if (typeof keyDir !== 'string' || keyDir === '') throw new AirgapError('keyDir must be a directory path for the repository signing key');
  const home = join(keyDir, 'gnupg');
  mkdirSync(home, { recursive: true, mode: 0o700 });
  chmodSync(keyDir, 0o700);
  chmodSync(home, 0o700);
  let fingerprint = secretFingerprint(home);
  if (!fingerprint) {
    withGpg(home, () => run('gpg', ['--homedir', home, '--batch', '--quiet', '--passphrase', '', '--quick-gen-key', SIGNING_KEY_UID, 'ed25519', 'sign', 'never']));
    fingerprint = secretFingerprint(home);
    if (!fingerprint) throw new AirgapError(`gpg generated no secret key in ${home}`);
  }
  return { home, fingerprint };
}

function secretFingerprint(home: string): string | undefined {
  const out = withGpg(home, () => run('gpg', ['--homedir', home, '--batch', '--with-colons', '--list-secret-keys']));
  const lines = out.split('\n');
  const sec = lines.findIndex((line) => line.startsWith('sec:'));
  if (sec < 0) return undefined;
  const fpr = lines.slice(sec + 1).find((line) => line.startsWith('fpr:'));
  return fpr?.split(':')[9] || undefined;
}

/** Run gpg work, then stop the gpg-agent it started for `home` (it would otherwise outlive the build). */
function withGpg<T>(home: string, work: () => T): T {
  try {
    return work();
  } finally {
    try {
      run('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
    } catch {
      // no agent running
    }
  }
}

/** Fields of the Release file besides the hashes. */
export interface ReleaseFields {
  readonly origin: string;
  readonly label: string;
  readonly description: string;
}

/** The Release fields of a Kubernetes minor release's repository. Pure. */
export function releaseFields(kubernetesVersion: string): ReleaseFields {
  const minor = kubernetesVersion.split('.').slice(0, 2).join('.');
  return {
    origin: 'hakube',
    label: `hakube Kubernetes v${minor}`,
    description: `Kubernetes v${minor} packages of a hakube air-gapped site (laid out like pkgs.k8s.io core:/stable:/v${minor})`,
  };
}

/** A built repository. */
export interface AptRepo {
  /** What `kubernetesRepoBaseUrl` points at, as a directory: `<root>/core:/stable:/...` lives below it. */
  readonly root: string;
  /** The repository of the minor release (`<root>/core:/stable:/v1.34/deb`). */
  readonly repoDir: string;
  readonly fingerprint: string;
  /** Whether this call built it (false: taken from the cache). */
  readonly built: boolean;
}

/** Bump when the repository's layout or indexes change in a way the inputs do not show. */
const REPO_RECIPE = 'apt-repo-1';

/**
 * Build the repository of `debs` into `<cacheDir>/apt/<hash>/` (the hash covers the packages' sha256 and the
 * signing key), or take it from there. The same inputs give a byte-identical `Packages`.
 */
export async function buildAptRepo(options: { debs: readonly string[]; kubernetesVersion: string; keyDir: string; cacheDir: string }): Promise<AptRepo> {
  const { debs, kubernetesVersion, keyDir, cacheDir } = options;
  if (debs.length === 0) throw new AirgapError('apt repository: no packages given');
  for (const deb of debs) {
    if (!deb.endsWith('.deb') || !existsSync(deb)) throw new AirgapError(`apt repository: package ${deb} is missing or not a .deb`);
  }
  const key = ensureSigningKey(keyDir);
  const digests = await Promise.all(debs.map(async (deb) => `${basename(deb)} ${await fileDigest(deb)}`));
  const hash = sha256(JSON.stringify({ recipe: REPO_RECIPE, kubernetesVersion, digests: digests.sort(), key: key.fingerprint })).slice(0, 16);
  const root = join(cacheDir, 'apt', `kubernetes-${kubernetesVersion}-${hash}`);
  const built = await fillCache(root, { recipe: REPO_RECIPE, kubernetesVersion, packages: digests, key: key.fingerprint }, (into) => {
    writeRepo(aptRepoDir(into, kubernetesVersion), debs, key, releaseFields(kubernetesVersion));
  });
  return { root, repoDir: aptRepoDir(root, kubernetesVersion), fingerprint: key.fingerprint, built };
}

/** Write the packages, indexes, Release and signatures of one repository into `repoDir`. */
export function writeRepo(repoDir: string, debs: readonly string[], key: SigningKey, fields: ReleaseFields): void {
  const pool = join(repoDir, 'amd64');
  mkdirSync(pool, { recursive: true });
  for (const deb of debs) copyFileSync(deb, join(pool, basename(deb)));
  // relative Filename: lines (amd64/<file>.deb), sorted by package name
  const packages = run('dpkg-scanpackages', ['--multiversion', 'amd64', '/dev/null'], { cwd: repoDir });
  if (!packages.includes('Package: ')) throw new AirgapError(`dpkg-scanpackages found no packages in ${pool}`);
  writeFileSync(join(repoDir, 'Packages'), packages);
  writeFileSync(join(repoDir, 'Packages.gz'), gzipSync(Buffer.from(packages), { level: 9 }));
  const release = run(
    'apt-ftparchive',
    [
      '-o', `APT::FTPArchive::Release::Origin=${fields.origin}`,
      '-o', `APT::FTPArchive::Release::Label=${fields.label}`,
      '-o', `APT::FTPArchive::Release::Description=${fields.description}`,
      '-o', 'APT::FTPArchive::Release::Architectures=amd64',
      '-o', 'APT::FTPArchive::MD5=false',
      '-o', 'APT::FTPArchive::SHA1=false',
      'release', '.',
    ],
    { cwd: repoDir },
  );
  writeFileSync(join(repoDir, 'Release'), release);
  withGpg(key.home, () => {
    const gpg = ['--homedir', key.home, '--batch', '--yes', '--local-user', key.fingerprint, '--digest-algo', 'SHA512'];
    run('gpg', [...gpg, '--clearsign', '-o', join(repoDir, 'InRelease'), join(repoDir, 'Release')]);
    run('gpg', [...gpg, '--armor', '--detach-sign', '-o', join(repoDir, 'Release.gpg'), join(repoDir, 'Release')]);
    writeFileSync(join(repoDir, 'Release.key'), run('gpg', ['--homedir', key.home, '--batch', '--armor', '--export', key.fingerprint]));
  });
  if (statSync(join(repoDir, 'Release.key')).size === 0) throw new AirgapError(`gpg exported no public key for ${key.fingerprint}`);
}

/** One `SHA256:` line of a Release file. */
export interface ReleaseHash {
  readonly sha256: string;
  readonly size: number;
  readonly path: string;
}

/** The `SHA256:` entries of a Release (or InRelease) text. Pure. */
export function parseReleaseSha256(text: string): ReleaseHash[] {
  const out: ReleaseHash[] = [];
  let inSection = false;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) inSection = line.trim() === 'SHA256:';
    else if (inSection && line.trim()) {
      const [hash, size, path] = line.trim().split(/\s+/);
      out.push({ sha256: hash, size: Number(size), path });
    }
  }
  return out;
}

/** Check every SHA256 line of `repoDir`'s Release against the files; returns the problems (empty: all match). */
export function verifyRelease(repoDir: string): string[] {
  const problems: string[] = [];
  const entries = parseReleaseSha256(readFileSync(join(repoDir, 'Release'), 'utf8'));
  if (entries.length === 0) problems.push('Release has no SHA256 entries');
  for (const entry of entries) {
    const path = join(repoDir, entry.path);
    if (!existsSync(path)) problems.push(`${entry.path}: missing`);
    else {
      const data = readFileSync(path);
      if (data.length !== entry.size) problems.push(`${entry.path}: size ${data.length}, Release says ${entry.size}`);
      if (sha256(data) !== entry.sha256) problems.push(`${entry.path}: sha256 differs from Release`);
    }
  }
  return problems;
}
