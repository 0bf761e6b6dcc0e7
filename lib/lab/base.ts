import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LAB_BASE_DIR, LAB_BASE_MARKER, LAB_CACHE_DIR, LAB_PROXY_URL, LAB_SUITE } from './config.js';
import { LabError, run, runAsync } from './exec.js';
import type { LabMirrors } from './mirror.js';
import { currentMounts, unmountUnder } from './mounts.js';
import { step } from './progress.js';

/** Packages debootstrap adds to the minbase variant. */
export const BASE_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'iproute2', 'ca-certificates', 'procps', 'iputils-ping'];

/** Bump when the base recipe changes so cached bases are rebuilt. */
const BASE_RECIPE = 2;

/** Files (path inside the root → content) that configure the base for the lab. Pure. */
export function baseFiles(mirrors: LabMirrors): Record<string, string> {
  return {
    '/etc/apt/apt.conf.d/01hakube-proxy': `// hakube lab: every package comes through the machine's apt-cacher-ng\nAcquire::http::Proxy "${LAB_PROXY_URL}";\n`,
    '/etc/apt/sources.list.d/debian.sources': [
      'Types: deb',
      `URIs: ${mirrors.archive}`,
      `Suites: ${LAB_SUITE} ${LAB_SUITE}-updates`,
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
      'Types: deb',
      `URIs: ${mirrors.security}`,
      `Suites: ${LAB_SUITE}-security`,
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
    ].join('\n'),
    '/etc/ssh/sshd_config.d/hakube-lab.conf': [
      '# hakube lab: key-only root login, one ed25519 host key per host',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'HostKey /etc/ssh/ssh_host_ed25519_key',
      'UseDNS no',
      '',
    ].join('\n'),
    '/etc/resolv.conf': '# hakube lab: hosts have no DNS; lab hosts are in /etc/hosts\n',
    '/etc/machine-id': '',
    '/etc/hostname': 'localhost\n',
  };
}

/** Content of the completion marker: changes whenever the recipe or the mirrors change. */
export function baseVersion(mirrors: LabMirrors): string {
  const recipe = JSON.stringify({ BASE_RECIPE, BASE_PACKAGES, suite: LAB_SUITE, files: baseFiles(mirrors) });
  return `${createHash('sha256').update(recipe).digest('hex')}\n`;
}

/** True when the cached base exists and was completed with the current recipe. */
export function baseIsReady(mirrors: LabMirrors): boolean {
  try {
    return existsSync(join(LAB_BASE_DIR, 'etc', 'os-release')) && readFileSync(LAB_BASE_MARKER, 'utf8') === baseVersion(mirrors);
  } catch {
    return false;
  }
}

/** Build the base root filesystem unless a complete one is cached. Returns seconds spent (0 when cached). */
export async function ensureBase(mirrors: LabMirrors): Promise<number> {
  if (baseIsReady(mirrors)) return 0;
  mkdirSync(LAB_CACHE_DIR, { recursive: true, mode: 0o755 });
  removeStaleBases();
  const tmp = `${LAB_BASE_DIR}.tmp-${process.pid}`;
  const logPath = `${LAB_BASE_DIR}.log`;
  const started = Date.now();
  await step(
    `building the base root filesystem (debootstrap ${LAB_SUITE}, usually 50–100 s)`,
    async (progress) => {
      const args = ['--variant=minbase', `--include=${BASE_PACKAGES.join(',')}`, LAB_SUITE, tmp, mirrors.archive];
      const result = await runAsync('debootstrap', args, {
        env: { DEBIAN_FRONTEND: 'noninteractive' },
        onLine: (line) => {
          const m = /^I: (Retrieving|Validating|Extracting|Unpacking|Configuring|Installing)\b(.*)$/.exec(line);
          if (m) progress.update(`${m[1]}${m[2]}`.slice(0, 60));
        },
      });
      writeFileSync(logPath, `${result.stdout}\n${result.stderr}`);
      if (!result.ok) {
        unmountUnder(tmp);
        throw new LabError(`debootstrap failed (exit ${result.code}); log: ${logPath}\n${tail(result.stdout + result.stderr, 15)}`);
      }
      configureBase(tmp, mirrors);
      renameSync(tmp, LAB_BASE_DIR);
      writeFileSync(LAB_BASE_MARKER, baseVersion(mirrors));
    },
  );
  return (Date.now() - started) / 1000;
}

/** Apply the lab configuration to a freshly bootstrapped root. */
function configureBase(root: string, mirrors: LabMirrors): void {
  rmSync(join(root, 'etc/apt/sources.list'), { force: true });
  for (const [path, content] of Object.entries(baseFiles(mirrors))) {
    const target = join(root, path);
    mkdirSync(dirname(target), { recursive: true });
    rmSync(target, { force: true });
    writeFileSync(target, content, { mode: 0o644 });
  }
  // Every host gets its own host key; none may come from the base.
  for (const entry of readdirSync(join(root, 'etc/ssh'))) {
    if (entry.startsWith('ssh_host_')) rmSync(join(root, 'etc/ssh', entry), { force: true });
  }
  rmSync(join(root, 'var/lib/dbus/machine-id'), { force: true });
  symlinkSync('/etc/machine-id', join(root, 'var/lib/dbus/machine-id'));
  enableUnit(root, 'ssh.service', 'multi-user.target');
  rmSync(join(root, 'var/cache/apt/archives'), { recursive: true, force: true });
  mkdirSync(join(root, 'var/cache/apt/archives/partial'), { recursive: true });
  rmSync(join(root, 'var/lib/apt/lists'), { recursive: true, force: true });
  mkdirSync(join(root, 'var/lib/apt/lists/partial'), { recursive: true });
}

/** Enable a unit the way `systemctl enable` would (the package normally did already). */
function enableUnit(root: string, unit: string, target: string): void {
  const wants = join(root, 'etc/systemd/system', `${target}.wants`);
  const link = join(wants, unit);
  if (isSymlink(link)) return;
  if (!existsSync(join(root, 'lib/systemd/system', unit))) throw new LabError(`base root filesystem has no ${unit}`);
  mkdirSync(wants, { recursive: true });
  symlinkSync(`/lib/systemd/system/${unit}`, link);
}

/** Remove half-built bases (interrupted builds and a base without its completion marker). */
function removeStaleBases(): void {
  const parent = dirname(LAB_BASE_DIR);
  const prefix = `${LAB_BASE_DIR.slice(parent.length + 1)}.tmp-`;
  const stale = readdirSync(parent)
    .filter((entry) => entry.startsWith(prefix))
    .map((entry) => join(parent, entry));
  if (existsSync(LAB_BASE_DIR)) {
    const inUse = currentMounts().some((m) => m.fstype === 'overlay' && m.options.includes(`lowerdir=${LAB_BASE_DIR}`));
    if (inUse) throw new LabError(`the base ${LAB_BASE_DIR} needs a rebuild but lab hosts still use it: run \`hakube lab down\` first`);
    stale.push(LAB_BASE_DIR);
  }
  rmSync(LAB_BASE_MARKER, { force: true });
  for (const dir of stale) {
    const left = unmountUnder(dir);
    if (left.length) throw new LabError(`cannot remove the half-built base ${dir}: still mounted: ${left.join(', ')}`);
    run('rm', ['-rf', '--one-file-system', dir]);
  }
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function tail(text: string, lines: number): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
