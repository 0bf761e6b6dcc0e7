import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AirgapError, fileDigest, run } from './exec.js';

/**
 * Debian packages from the machine's configured mirror, for the tools some images carry (iptables, nft, conntrack,
 * busybox): resolved with apt-cache, fetched with `apt-get download` into the cache, checked against the sha256
 * the signed index gives.
 */

/** One package at the version the machine's apt would install. */
export interface DebianPackage {
  readonly name: string;
  readonly version: string;
  /** sha256 of the .deb, from the package index. */
  readonly sha256: string;
}

/** A fetched package. */
export interface FetchedPackage extends DebianPackage {
  /** The .deb in the cache. */
  readonly file: string;
}

/** apt options for root runs: no sandbox user (it cannot write into the cache). */
const APT_AS_ROOT = ['-o', 'APT::Sandbox::User=root'];

/**
 * `roots` and everything they depend on (Depends and Pre-Depends, every alternative), sorted. Recommends and
 * Suggests are left out: an image gets what the tools need to run.
 */
export function dependencyClosure(roots: readonly string[]): string[] {
  const out = run('apt-cache', [
    'depends', '--recurse', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances',
    ...roots,
  ]);
  return parseDependsClosure(out);
}

/** The package names of `apt-cache depends --recurse` output (virtual `<names>` left out), sorted. Pure. */
export function parseDependsClosure(output: string): string[] {
  const names = new Set<string>();
  for (const line of output.split('\n')) {
    if (!line || /^\s/.test(line) || line.startsWith('<')) continue;
    names.add(line.trim().replace(/:amd64$/, ''));
  }
  return [...names].sort();
}

/** The candidate version and sha256 of each package (what `apt-get download <name>` fetches). */
export function candidates(names: readonly string[]): DebianPackage[] {
  const out = run('apt-cache', ['show', '--no-all-versions', ...names]);
  const found = parsePackageStanzas(out);
  return names.map((name) => {
    const pkg = found.find((entry) => entry.name === name);
    if (!pkg) throw new AirgapError(`Debian package ${name} has no candidate version: run apt-get update, or check the machine's sources`);
    return pkg;
  });
}

/** Package, Version and SHA256 of each stanza of `apt-cache show` output. Pure. */
export function parsePackageStanzas(output: string): DebianPackage[] {
  const packages: DebianPackage[] = [];
  for (const stanza of output.split(/\n\s*\n/)) {
    const field = (name: string) => new RegExp(`^${name}: (.+)$`, 'm').exec(stanza)?.[1]?.trim();
    const name = field('Package');
    const version = field('Version');
    const sha = field('SHA256');
    if (name && version && sha) packages.push({ name, version, sha256: sha });
  }
  return packages;
}

/**
 * Fetch `packages` into `<cacheDir>/debian/` (unless there already), each checked against its index sha256.
 * apt-get reaches only the machine's configured mirror (or its proxy).
 */
export async function fetchPackages(packages: readonly DebianPackage[], cacheDir: string): Promise<FetchedPackage[]> {
  const dir = join(cacheDir, 'debian');
  mkdirSync(dir, { recursive: true });
  const fileOf = (pkg: DebianPackage) => join(dir, `${pkg.name}_${pkg.sha256.slice(0, 16)}.deb`);
  const missing: DebianPackage[] = [];
  for (const pkg of packages) if (!existsSync(fileOf(pkg)) || (await fileDigest(fileOf(pkg))) !== pkg.sha256) missing.push(pkg);
  if (missing.length) {
    // one apt-get for all of them: it fetches in parallel over one connection
    const tmp = mkdtempSync(join(dir, '.download-'));
    try {
      run('apt-get', ['-q', ...APT_AS_ROOT, 'download', ...missing.map((pkg) => `${pkg.name}=${pkg.version}`)], { cwd: tmp });
      const files = readdirSync(tmp).filter((name) => name.endsWith('.deb'));
      for (const pkg of missing) {
        const file = files.find((name) => name.startsWith(`${pkg.name}_`));
        if (!file) throw new AirgapError(`apt-get download ${pkg.name}=${pkg.version} left no ${pkg.name}_*.deb`);
        const digest = await fileDigest(join(tmp, file));
        if (digest !== pkg.sha256) throw new AirgapError(`${pkg.name} ${pkg.version}: downloaded sha256 ${digest} is not the index's ${pkg.sha256}`);
        renameSync(join(tmp, file), fileOf(pkg));
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return packages.map((pkg) => ({ ...pkg, file: fileOf(pkg) }));
}
