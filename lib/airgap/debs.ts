import { chmodSync, copyFileSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type SiteArtifacts, artifactBinary } from './artifacts.js';
import { fillCache } from '../build/cache.js';
import { AirgapError, fileDigest, run, sha256 } from './exec.js';

/**
 * Kubernetes' Debian packages as pkgs.k8s.io ships them for 1.32 and later: kubelet, kubeadm, kubectl, cri-tools and
 * kubernetes-cni, built here from binaries with `dpkg-deb`. Package names, versions (`<upstream>-1.1`), file paths,
 * dependencies and the kubelet units behave as upstream's; the unit text, descriptions and maintainer scripts are
 * hakube's.
 */

/** The Debian revision pkgs.k8s.io gives its packages (the repository's build counter included). */
export const DEB_REVISION = '1.1';
/** Every package is built for this architecture. */
export const DEB_ARCHITECTURE = 'amd64';
/** The mtime of every file in the packages and their `ar` members, so the same inputs give the same bytes. */
export const DEB_EPOCH = 0;
/** Who built the packages (they are not upstream's). */
export const DEB_MAINTAINER = 'hakube air-gapped site <airgap@hakube.invalid>';

/** One file a package installs. */
export interface DebFile {
  /** Absolute install path. */
  readonly path: string;
  /** Permission bits. */
  readonly mode: number;
  /** Host file copied into the package (a binary). Exactly one of `source` and `text`. */
  readonly source?: string;
  /** Content written into the package. */
  readonly text?: string;
}

/** Everything that makes one package: pure data, rendered and built by `buildDeb`. */
export interface DebSpec {
  readonly name: string;
  /** Full Debian version, e.g. "1.34.12-1.1". */
  readonly version: string;
  readonly section: string;
  readonly depends: readonly string[];
  /** One-line summary (the Description's first line). */
  readonly summary: string;
  /** Longer description, one paragraph. */
  readonly description: string;
  readonly files: readonly DebFile[];
  /** Directories the package owns even when empty (absolute). @default none */
  readonly dirs?: readonly string[];
  /** Files under /etc the admin may edit: dpkg keeps their changes on upgrade. @default none */
  readonly conffiles?: readonly string[];
  /** Maintainer scripts by name (postinst, prerm, postrm). @default none */
  readonly scripts?: Readonly<Partial<Record<'postinst' | 'prerm' | 'postrm', string>>>;
}

/** Upstream versions of the packages (no leading v, no revision). */
export interface DebVersions {
  /** kubelet, kubeadm and kubectl, e.g. "1.34.12". */
  readonly kubernetes: string;
  /** cri-tools (crictl), e.g. "1.34.0". */
  readonly criTools: string;
  /** kubernetes-cni (the containernetworking plugins), e.g. "1.9.1". */
  readonly cni: string;
}

/** Host paths of the binaries the packages are made of. */
export interface DebSources {
  readonly kubelet: string;
  readonly kubeadm: string;
  readonly kubectl: string;
  readonly crictl: string;
  /** CNI plugins by name, installed into /opt/cni/bin. */
  readonly cniPlugins: Readonly<Record<string, string>>;
}

export const KUBELET_UNIT_PATH = '/usr/lib/systemd/system/kubelet.service';
export const KUBEADM_DROP_IN_PATH = '/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf';
export const KUBELET_DEFAULTS_PATH = '/etc/default/kubelet';

/** kubelet.service: the bare kubelet, restarted forever (it crash-loops until kubeadm has written its config). Pure. */
export function renderKubeletUnit(): string {
  return `# Installed by the kubelet package. kubeadm's drop-in (kubelet.service.d/10-kubeadm.conf) adds the flags.
[Unit]
Description=kubelet, the Kubernetes node agent
Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/kubelet/
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
RestartSec=10

[Install]
WantedBy=multi-user.target
`;
}

/**
 * kubeadm's drop-in for kubelet.service: the kubeconfig and config flags of a kubeadm node, the flags kubeadm
 * writes at init/join (`KUBELET_KUBEADM_ARGS` in /var/lib/kubelet/kubeadm-flags.env) and the admin's
 * `KUBELET_EXTRA_ARGS` from /etc/default/kubelet, in that order. Both files may be missing. Pure.
 */
export function renderKubeadmDropIn(): string {
  return `# Installed by the kubeadm package: runs kubelet the way kubeadm configures it.
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# Written by kubeadm init and kubeadm join: KUBELET_KUBEADM_ARGS
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# The admin's last-resort overrides: KUBELET_EXTRA_ARGS (prefer the kubelet settings of kubeadm's configuration)
EnvironmentFile=-${KUBELET_DEFAULTS_PATH}
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`;
}

/** /etc/default/kubelet, a conffile: extra kubelet flags, empty by default. Pure. */
export function renderKubeletDefaults(): string {
  return `# Extra kubelet flags, read by kubeadm's kubelet.service drop-in. Kept across package upgrades.
KUBELET_EXTRA_ARGS=
`;
}

/** Run `systemctl` only when systemd runs (not in a chroot or image build). */
const SYSTEMD_RUNNING = '[ -d /run/systemd/system ]';

/** The five packages of one Kubernetes release, sorted by name. Pure. */
export function kubernetesDebSpecs(versions: DebVersions, sources: DebSources): DebSpec[] {
  for (const [key, value] of Object.entries(versions)) {
    if (!/^\d+\.\d+\.\d+$/.test(value)) throw new AirgapError(`deb versions: ${key} ${JSON.stringify(value)} must be a version like "1.34.12" (no leading v)`);
  }
  const plugins = Object.keys(sources.cniPlugins).sort();
  if (plugins.length === 0) throw new AirgapError('deb sources: cniPlugins is empty: kubernetes-cni needs at least one plugin');
  const kube = `${versions.kubernetes}-${DEB_REVISION}`;
  return [
    {
      name: 'cri-tools',
      version: `${versions.criTools}-${DEB_REVISION}`,
      section: 'admin',
      depends: [],
      summary: 'crictl, a command-line client for CRI container runtimes',
      description: 'crictl inspects and debugs container runtimes that implement the Kubernetes Container Runtime Interface, such as containerd.',
      files: [{ path: '/usr/bin/crictl', mode: 0o755, source: sources.crictl }],
    },
    {
      name: 'kubeadm',
      version: kube,
      section: 'admin',
      // kubeadm 1.32 and later need neither crictl nor the other packages (pkgs.k8s.io dropped them too)
      depends: [],
      summary: 'kubeadm, which bootstraps and upgrades Kubernetes clusters',
      description: 'kubeadm sets up a control plane, joins nodes to it and upgrades the cluster. The package also configures kubelet.service the way kubeadm runs the kubelet.',
      files: [
        { path: '/usr/bin/kubeadm', mode: 0o755, source: sources.kubeadm },
        { path: KUBEADM_DROP_IN_PATH, mode: 0o644, text: renderKubeadmDropIn() },
      ],
      dirs: ['/usr/lib/systemd/system/kubelet.service.d'],
      scripts: {
        postinst: `#!/bin/sh
set -e
# the drop-in changes kubelet.service
if [ "$1" = configure ] && ${SYSTEMD_RUNNING}; then
  systemctl daemon-reload || true
fi
`,
        postrm: `#!/bin/sh
set -e
if ${SYSTEMD_RUNNING}; then
  systemctl daemon-reload || true
fi
`,
      },
    },
    {
      name: 'kubectl',
      version: kube,
      section: 'admin',
      depends: [],
      summary: 'kubectl, the command-line client of Kubernetes',
      description: 'kubectl runs commands against Kubernetes clusters: it creates, inspects, updates and deletes their resources.',
      files: [{ path: '/usr/bin/kubectl', mode: 0o755, source: sources.kubectl }],
    },
    {
      name: 'kubelet',
      version: kube,
      section: 'net',
      // what pkgs.k8s.io's kubelet requires since 1.28 (conntrack, iproute2 and ethtool were dropped in 2025)
      depends: ['iptables (>= 1.4.21)', 'kubernetes-cni (>= 1.2.0)', 'mount', 'util-linux'],
      summary: 'kubelet, the Kubernetes node agent',
      description: 'The kubelet runs on every node of a Kubernetes cluster: it starts the pods assigned to the node through the container runtime and reports their state.',
      files: [
        { path: '/usr/bin/kubelet', mode: 0o755, source: sources.kubelet },
        { path: KUBELET_UNIT_PATH, mode: 0o644, text: renderKubeletUnit() },
        { path: KUBELET_DEFAULTS_PATH, mode: 0o644, text: renderKubeletDefaults() },
      ],
      dirs: ['/etc/kubernetes', '/etc/kubernetes/manifests', '/var/lib/kubelet'],
      conffiles: [KUBELET_DEFAULTS_PATH],
      scripts: {
        postinst: `#!/bin/sh
set -e
# enabled and started as upstream's package does; it restarts until kubeadm init or join configures it
if [ "$1" = configure ] && ${SYSTEMD_RUNNING}; then
  systemctl daemon-reload || true
  systemctl enable kubelet.service >/dev/null 2>&1 || true
  systemctl restart kubelet.service >/dev/null 2>&1 || true
fi
`,
        prerm: `#!/bin/sh
set -e
if [ "$1" = remove ] && ${SYSTEMD_RUNNING}; then
  systemctl stop kubelet.service >/dev/null 2>&1 || true
fi
`,
        postrm: `#!/bin/sh
set -e
if [ "$1" = purge ] || [ "$1" = remove ]; then
  if ${SYSTEMD_RUNNING}; then
    systemctl disable kubelet.service >/dev/null 2>&1 || true
    systemctl daemon-reload || true
  fi
fi
`,
      },
    },
    {
      name: 'kubernetes-cni',
      version: `${versions.cni}-${DEB_REVISION}`,
      section: 'net',
      depends: [],
      summary: 'CNI plugins the kubelet uses to set up pod networking',
      description: `The reference plugins of the Container Network Interface project, installed in /opt/cni/bin: ${plugins.join(', ')}.`,
      files: plugins.map((name) => ({ path: `/opt/cni/bin/${name}`, mode: 0o755, source: sources.cniPlugins[name] })),
      dirs: ['/etc/cni', '/etc/cni/net.d', '/opt/cni', '/opt/cni/bin'],
    },
  ];
}

/** The `.deb` file name of a package: `<name>_<version>_<arch>.deb`. */
export function debFileName(spec: Pick<DebSpec, 'name' | 'version'>): string {
  return `${spec.name}_${spec.version}_${DEB_ARCHITECTURE}.deb`;
}

/** DEBIAN/control of a package; `installedSizeKiB` as dpkg-gencontrol counts it. Pure. */
export function renderDebControl(spec: DebSpec, installedSizeKiB: number): string {
  if (!/^[a-z0-9][a-z0-9+.-]+$/.test(spec.name)) throw new AirgapError(`deb: package name ${JSON.stringify(spec.name)} is not a Debian package name`);
  if (!/^[0-9][A-Za-z0-9.+~-]*-[A-Za-z0-9.+~]+$/.test(spec.version)) throw new AirgapError(`deb ${spec.name}: version ${JSON.stringify(spec.version)} is not <upstream>-<revision>`);
  if (/[\n]/.test(spec.summary) || /\n/.test(spec.description)) throw new AirgapError(`deb ${spec.name}: summary and description must be one line each`);
  const lines = [
    `Package: ${spec.name}`,
    `Version: ${spec.version}`,
    `Architecture: ${DEB_ARCHITECTURE}`,
    `Maintainer: ${DEB_MAINTAINER}`,
    `Installed-Size: ${installedSizeKiB}`,
    ...(spec.depends.length ? [`Depends: ${spec.depends.join(', ')}`] : []),
    `Section: ${spec.section}`,
    'Priority: optional',
    'Homepage: https://kubernetes.io',
    `Description: ${spec.summary}`,
    ...wrap(spec.description, 78).map((line) => ` ${line}`),
  ];
  return `${lines.join('\n')}\n`;
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

/** Installed-Size the way dpkg-gencontrol computes it: each file rounded up to a KiB, each directory one KiB. */
export function installedSizeKiB(fileSizes: readonly number[], dirCount: number): number {
  return fileSizes.reduce((sum, size) => sum + Math.ceil(size / 1024), 0) + dirCount;
}

/**
 * Stage a package's tree in `workDir` and build it with `dpkg-deb --root-owner-group` into `outDir`; every mtime is
 * DEB_EPOCH so the same inputs give the same bytes. Returns the .deb's path.
 */
export function buildDeb(spec: DebSpec, workDir: string, outDir: string): string {
  const root = join(workDir, `${spec.name}_${spec.version}`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  const sizes: number[] = [];
  for (const file of spec.files) {
    if ((file.source === undefined) === (file.text === undefined)) throw new AirgapError(`deb ${spec.name}: ${file.path} needs exactly one of source and text`);
    const target = join(root, file.path);
    mkdirSync(dirname(target), { recursive: true });
    if (file.source !== undefined) copyFileSync(file.source, target);
    else writeFileSync(target, file.text!);
    chmodSync(target, file.mode);
    sizes.push(statSync(target).size);
  }
  for (const dir of spec.dirs ?? []) mkdirSync(join(root, dir), { recursive: true });
  const dirs = countDirs(root) - 1; // DEBIAN/ is not installed
  writeFileSync(join(root, 'DEBIAN', 'control'), renderDebControl(spec, installedSizeKiB(sizes, dirs)));
  if (spec.conffiles?.length) writeFileSync(join(root, 'DEBIAN', 'conffiles'), `${spec.conffiles.join('\n')}\n`);
  for (const [name, text] of Object.entries(spec.scripts ?? {})) {
    writeFileSync(join(root, 'DEBIAN', name), text);
    chmodSync(join(root, 'DEBIAN', name), 0o755);
  }
  for (const dir of walk(root)) chmodSync(dir, 0o755);
  setMtimes(root);
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, debFileName(spec));
  // gzip: every dpkg reads it, and it packs 60 MB binaries in seconds where xz takes a minute
  run('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z6', '--build', root, out], { env: { SOURCE_DATE_EPOCH: String(DEB_EPOCH) } });
  rmSync(root, { recursive: true, force: true });
  return out;
}

function walk(dir: string): string[] {
  const dirs = [dir];
  for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) dirs.push(...walk(join(dir, entry.name)));
  return dirs;
}

function countDirs(root: string): number {
  return walk(root).length - 1; // not the root itself
}

function setMtimes(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) setMtimes(path);
    utimesSync(path, DEB_EPOCH, DEB_EPOCH);
  }
  utimesSync(dir, DEB_EPOCH, DEB_EPOCH);
}

/** The binaries of `artifacts` the packages are made of. */
export function debSources(artifacts: SiteArtifacts): DebSources {
  const pluginNames = readdirSync(artifacts.cniPlugins).filter((name) => !name.startsWith('.')).sort();
  return {
    kubelet: artifactBinary(artifacts, 'kubernetes', 'kubelet'),
    kubeadm: artifactBinary(artifacts, 'kubernetes', 'kubeadm'),
    kubectl: artifactBinary(artifacts, 'kubernetes', 'kubectl'),
    crictl: artifactBinary(artifacts, 'crictl', 'crictl'),
    cniPlugins: Object.fromEntries(pluginNames.map((name) => [name, artifactBinary(artifacts, 'cniPlugins', name)])),
  };
}

/** Built packages: the cache dir holding them and each .deb's path. */
export interface BuiltDebs {
  readonly dir: string;
  readonly debs: readonly string[];
  /** Whether this call built them (false: taken from the cache). */
  readonly built: boolean;
}

/** Bump when the packages change in a way their inputs do not show. */
const DEBS_RECIPE = 'debs-1';

/**
 * Build the five packages into `<cacheDir>/debs/<hash>/` (the hash covers the specs and every binary's sha256), or
 * take them from there.
 */
export async function buildKubernetesDebs(artifacts: SiteArtifacts, versions: DebVersions, cacheDir: string): Promise<BuiltDebs> {
  const specs = kubernetesDebSpecs(versions, debSources(artifacts));
  const inputs = await Promise.all(
    specs.map(async (spec) => ({
      ...spec,
      files: await Promise.all(spec.files.map(async (file) => ({ ...file, source: file.source && (await fileDigest(file.source)) }))),
    })),
  );
  const hash = sha256(JSON.stringify({ recipe: DEBS_RECIPE, inputs })).slice(0, 16);
  const dir = join(cacheDir, 'debs', `kubernetes-${versions.kubernetes}-${hash}`);
  const built = await fillCache(dir, { recipe: DEBS_RECIPE, versions, packages: specs.map(debFileName) }, (into) => {
    const work = join(into, '.work');
    for (const spec of specs) buildDeb(spec, work, into);
    rmSync(work, { recursive: true, force: true });
  });
  return { dir, debs: specs.map((spec) => join(dir, debFileName(spec))), built };
}
