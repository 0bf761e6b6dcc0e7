import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isHttpUrl } from '../validate.js';
import { LAB_SUITE } from './config.js';
import { LabError } from './exec.js';

/** One `deb` source: where and which suites. */
export interface AptSource {
  readonly uri: string;
  readonly suites: readonly string[];
}

/** The Debian mirror URLs the lab uses (the machine's own, so no other network is touched). */
export interface LabMirrors {
  /** Main archive, e.g. `http://deb.debian.org/debian`. */
  readonly archive: string;
  /** Security archive, e.g. `http://deb.debian.org/debian-security`. */
  readonly security: string;
}

/** Parse `deb` entries of a one-line `sources.list` text. */
export function parseSourcesList(text: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m) sources.push({ uri: m[1]!, suites: [m[2]!] });
  }
  return sources;
}

/** Parse `Types: deb` stanzas of a deb822 `.sources` text (`Enabled: no` stanzas are skipped). */
export function parseDeb822Sources(text: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last = '';
    for (const raw of stanza.split('\n')) {
      if (raw.startsWith('#')) continue;
      if (/^\s/.test(raw) && last) {
        fields.set(last, `${fields.get(last)} ${raw.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(raw);
      if (m) {
        last = m[1]!.toLowerCase();
        fields.set(last, m[2]!.trim());
      }
    }
    const words = (key: string) => (fields.get(key) ?? '').split(/\s+/).filter(Boolean);
    if (!words('types').includes('deb') || (fields.get('enabled') ?? 'yes').toLowerCase() === 'no') continue;
    for (const uri of words('uris')) sources.push({ uri, suites: words('suites') });
  }
  return sources;
}

/**
 * Pick the lab's mirrors: the main archive is the first plain-http source that carries `<suite>` itself (e.g.
 * `bookworm`); the security archive is the first http source carrying `<suite>-security`, else `<archive>-security`
 * when the archive path ends in `/debian`.
 */
export function pickMirrors(sources: readonly AptSource[], suite = LAB_SUITE): LabMirrors {
  const http = sources.filter((s) => s.uri.startsWith('http://') && isHttpUrl(s.uri));
  const trim = (uri: string) => uri.replace(/\/+$/, '');
  const archive = http.find((s) => s.suites.includes(suite));
  if (!archive) {
    throw new LabError(
      `found no http:// source for Debian ${suite} in /etc/apt/sources.list or /etc/apt/sources.list.d/; the lab builds its hosts from the machine's Debian mirror`,
    );
  }
  const security = http.find((s) => s.suites.includes(`${suite}-security`));
  const archiveUri = trim(archive.uri);
  let securityUri = security ? trim(security.uri) : undefined;
  if (!securityUri && archiveUri.endsWith('/debian')) securityUri = `${archiveUri}-security`;
  if (!securityUri) throw new LabError(`found no Debian security archive next to ${archiveUri} in the machine's apt sources`);
  return { archive: archiveUri, security: securityUri };
}

/** Read the machine's apt sources (`/etc/apt/sources.list`, `sources.list.d/*.list` and `*.sources`). */
export function readMachineSources(etcApt = '/etc/apt'): AptSource[] {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return '';
    }
  };
  const sources = parseSourcesList(read(join(etcApt, 'sources.list')));
  let entries: string[] = [];
  try {
    entries = readdirSync(join(etcApt, 'sources.list.d')).sort();
  } catch {
    // no sources.list.d
  }
  for (const entry of entries) {
    const path = join(etcApt, 'sources.list.d', entry);
    if (entry.endsWith('.list')) sources.push(...parseSourcesList(read(path)));
    else if (entry.endsWith('.sources')) sources.push(...parseDeb822Sources(read(path)));
  }
  return sources;
}

/** The machine's Debian mirrors. */
export function machineMirrors(): LabMirrors {
  return pickMirrors(readMachineSources());
}
