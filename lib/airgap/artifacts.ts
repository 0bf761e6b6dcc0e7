import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LabArtifacts } from '../build/lab-artifacts.js';
import { AirgapError } from './exec.js';

/**
 * The binaries a site is built from: each field a directory holding binaries by name (lib/build builds them from
 * pinned Go modules; any directories with the same names will do).
 */
export type SiteArtifacts = LabArtifacts;

/** The path of binary `name` in `artifacts[set]`; an error naming both when it is not an executable file. */
export function artifactBinary(artifacts: SiteArtifacts, set: keyof SiteArtifacts, name: string): string {
  const dir = artifacts[set];
  if (typeof dir !== 'string' || dir === '') throw new AirgapError(`artifacts.${set} is not set: it must be the directory holding ${name}`);
  const path = join(dir, name);
  if (!existsSync(path) || !statSync(path).isFile()) throw new AirgapError(`artifacts.${set}: ${path} is missing (the directory must hold the binary ${name})`);
  if ((statSync(path).mode & 0o111) === 0) throw new AirgapError(`artifacts.${set}: ${path} is not executable`);
  return path;
}
