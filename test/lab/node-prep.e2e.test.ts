/**
 * End to end on the built-in lab: node preparation (preflight, OS settings, containerd) on a control-plane and a
 * worker host, deployed by Terraform from the synthesized plan; then idempotent re-runs, a containerd setting
 * change, and the kube-packages step against a signed local stand-in of the pkgs.k8s.io repository (the lab has no
 * route to pkgs.k8s.io itself).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { Construct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Host, type Inventory } from '../../lib/inventory.js';
import { LAB_GATEWAY, LAB_PROXY_URL, labDown } from '../../lib/lab/index.js';
import type { PlanContributor, StepSpec } from '../../lib/plan/index.js';
import { Plan } from '../../lib/plan/index.js';
import {
  NODE_PREP_PATHS,
  type NodePrepOptions,
  type NodeRole,
  nodePrepSteps,
  renderAptProxyConf,
  renderContainerdConfig,
  renderModulesLoadConf,
  renderSysctlConf,
} from '../../lib/render/node-prep.js';
import { sh } from '../../lib/shell.js';
import { tempDir } from '../fixtures.js';
import { acquireLab, figure, onHost, projectDir, synthStack, terraform } from './helpers.js';

const outdir = tempDir('hakube-lab-nodeprep-');
const ROLES: Record<string, NodeRole> = { 'lab-1': 'control-plane', 'lab-2': 'worker' };
const HOSTS = Object.keys(ROLES);
let inventory: Inventory;
let stackDir: string;
let startedLab = false;

/**
 * The node preparation steps of the lab hosts. `untilContainerd` drops kube-packages: the lab cannot reach
 * pkgs.k8s.io (the product always plans it).
 */
class LabNodePrep extends Construct implements PlanContributor {
  constructor(scope: Construct, id: string, private readonly options: NodePrepOptions, private readonly untilContainerd: boolean) {
    super(scope, id);
  }

  async planSteps(): Promise<StepSpec[]> {
    return HOSTS.flatMap((name) => {
      const steps = nodePrepSteps(inventory.get(name)[0]!, ROLES[name]!, this.options, 'k8s');
      return this.untilContainerd ? steps.filter((s) => !s.id.endsWith('/kube-packages')) : steps;
    });
  }
}

const mainOptions: NodePrepOptions = { kubernetesVersion: '1.31.2', packageProxy: LAB_PROXY_URL };

async function declare(options: NodePrepOptions, untilContainerd = true) {
  ({ stackDir } = await synthStack(outdir, (stack) => new LabNodePrep(stack, 'nodes', options, untilContainerd)));
}

async function on(host: string, command: string): Promise<string> {
  const r = await onHost(inventory, host, command);
  expect(r.ok, `${host}: ${command}\n${r.out}`).toBe(true);
  return r.out.trim();
}

const containerdPid = (host: string) => on(host, 'systemctl show -p MainPID --value containerd.service');

/** Resources a saved plan would create (replacements included), sorted. */
function planned(file: string): string[] {
  const show = JSON.parse(terraform(stackDir, 'show', '-json', file).stdout) as {
    resource_changes: Array<{ address: string; change: { actions: string[] } }>;
  };
  return show.resource_changes.filter((c) => c.change.actions.includes('create')).map((c) => c.address).sort();
}

beforeAll(async () => {
  // The lab is machine-wide: acquireLab waits for somebody else's to go down; never use or stop theirs.
  const up = await acquireLab(2);
  if (!up.started) throw new Error('another lab came up meanwhile; not using or touching it');
  startedLab = true;
  inventory = up.inventory;
  figure(`lab up (base build ${up.seconds.base.toFixed(1)} s, boot ${up.seconds.boot.toFixed(1)} s)`, up.seconds.total);
  await declare(mainOptions);
  expect(terraform(stackDir, 'init', '-input=false').status).toBe(0);
}, 1_500_000);

afterAll(async () => {
  if (!startedLab) return;
  const down = await labDown({ projectDir });
  figure('lab down', down.seconds);
  expect(down.leftovers).toEqual([]);
}, 300_000);

describe('node preparation on the lab', () => {
  it('runs preflight, OS preparation and containerd on a control-plane and a worker host', () => {
    const apply = terraform(stackDir, 'apply', '-auto-approve', '-input=false');
    figure('first apply: preflight + os + containerd on 2 hosts (packages through the apt proxy)', apply.seconds);
    expect(apply.status).toBe(0);
    expect(apply.output).toContain('hakube: preflight of lab-1 as a Kubernetes control-plane node');
    expect(apply.output).toContain('hakube: preflight of lab-2 as a Kubernetes worker node');
    expect(apply.output).toContain('hakube: preflight passed');
    // built into the lab machine's kernel: found, not modprobed (the hosts cannot load modules)
    expect(apply.output).toContain('hakube: kernel module overlay: present');
    expect(apply.output).toContain('hakube: kernel module br_netfilter: present');
    expect(apply.output).toContain('hakube: applied /etc/sysctl.d/99-kubernetes.conf');
    expect(apply.output).toMatch(/hakube: containerd github.com\/containerd\/containerd [^\n]*, CRI plugin ok/);
  }, 600_000);

  it('leaves every host with swap off, the sysctls at 1, the files in place and containerd running', async () => {
    for (const host of HOSTS) {
      expect(await on(host, 'awk "NR > 1" /proc/swaps | wc -l')).toBe('0');
      for (const key of ['net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables', 'net.ipv4.ip_forward']) {
        expect(await on(host, `sysctl -n ${key}`), `${host} ${key}`).toBe('1');
      }
      expect(`${await on(host, `cat ${NODE_PREP_PATHS.sysctl}`)}\n`).toBe(renderSysctlConf());
      expect(`${await on(host, `cat ${NODE_PREP_PATHS.modulesLoad}`)}\n`).toBe(renderModulesLoadConf());
      expect(`${await on(host, `cat ${NODE_PREP_PATHS.aptProxy}`)}\n`).toBe(renderAptProxyConf(LAB_PROXY_URL));
      expect(`${await on(host, `cat ${NODE_PREP_PATHS.containerdConfig}`)}\n`).toBe(renderContainerdConfig('registry.k8s.io/pause:3.10'));
      expect(await on(host, 'systemctl is-active containerd.service')).toBe('active');
      expect(await on(host, 'systemctl is-enabled containerd.service')).toBe('enabled');
      expect(await on(host, 'ctr version')).toMatch(/Server:\s+Version:\s+1\.6\./);
      const dump = await on(host, 'containerd config dump');
      expect(dump).toMatch(/\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.runc\.options\]\s+SystemdCgroup = true/);
      expect(dump).toContain('sandbox_image = "registry.k8s.io/pause:3.10"');
      expect(await on(host, 'ctr plugins ls | awk \'$2 == "cri" { print $NF }\'')).toBe('ok');
    }
  });

  it('applies again as a no-op: no changes and no remote command', () => {
    const apply = terraform(stackDir, 'apply', '-auto-approve', '-input=false');
    figure('no-op re-apply', apply.seconds);
    expect(apply.status).toBe(0);
    expect(apply.output).toContain('No changes.');
    expect(apply.output).not.toContain('Provisioning with');
  });

  it('re-runs every script on a prepared host without changing anything (containerd not restarted)', async () => {
    const pid = await containerdPid('lab-1');
    const replace = ['preflight', 'os', 'containerd'].map((a) => `-replace=terraform_data.k8s_lab-1_${a}`);
    const apply = terraform(stackDir, 'apply', '-auto-approve', '-input=false', ...replace);
    figure('forced re-run of preflight + os + containerd on one prepared host', apply.seconds);
    expect(apply.status).toBe(0);
    expect(apply.output).toContain('hakube: preflight passed');
    expect(apply.output).toContain('hakube: containerd.service unchanged and running');
    expect(apply.output).not.toContain('hakube: updated ');
    expect(apply.output).not.toContain('hakube: applied /etc/sysctl.d');
    expect(apply.output).not.toContain('restarting containerd');
    expect(await containerdPid('lab-1')).toBe(pid);
  }, 300_000);

  it('lists every problem of a host that does not qualify, and changes nothing', async () => {
    const [lab2] = inventory.get('lab-2');
    const impostor = new Host({ name: 'lab-9', address: lab2!.address });
    const script = new Plan(nodePrepSteps(impostor, 'worker', { kubernetesVersion: '1.31.2', minCpus: 64, requiredPorts: [22, 10250] }, 'k8s'))
      .step('k8s/lab-9/preflight').script;
    const r = await onHost(inventory, 'lab-2', `bash -c ${sh(script)}`);
    expect(r.ok).toBe(false);
    expect(r.out).toContain('hakube: lab-9 cannot become a Kubernetes worker node, 3 problem(s):');
    expect(r.out).toContain('  - hostname is lab-2, but the inventory calls this host lab-9');
    expect(r.out).toMatch(/ {2}- \d+ CPUs, at least 64 needed/);
    expect(r.out).toMatch(/ {2}- TCP port 22 is already in use by users:\(\("sshd"/);
    expect(r.out).not.toContain('TCP port 10250');
    expect(r.out).toMatch(/hakube: product_uuid: \S+/);
    expect(r.out).toMatch(/hakube: machine-id: [0-9a-f]{32}/);
    expect(r.out).toContain('hakube: MAC addresses: eth0=');
  });

  it('re-runs only the containerd steps after a containerd setting change, and restarts containerd', async () => {
    const pid = await containerdPid('lab-2');
    await declare({ ...mainOptions, sandboxImage: 'registry.k8s.io/pause:3.9' });
    expect(terraform(stackDir, 'plan', '-input=false', '-out=changed.tfplan').status).toBe(0);
    // (and the first wave: the hosts with work to do are checked before anything changes)
    expect(planned('changed.tfplan')).toEqual(['terraform_data.hosts_lab-1_reachable', 'terraform_data.hosts_lab-2_reachable', 'terraform_data.hosts_ready', 'terraform_data.k8s_lab-1_containerd', 'terraform_data.k8s_lab-2_containerd']);
    const apply = terraform(stackDir, 'apply', '-auto-approve', '-input=false', 'changed.tfplan');
    figure('containerd setting change on 2 hosts', apply.seconds);
    expect(apply.status).toBe(0);
    expect(apply.output).toContain('hakube: configuration changed, restarting containerd');
    expect(await containerdPid('lab-2')).not.toBe(pid);
    expect(await on('lab-2', 'containerd config dump | grep sandbox_image')).toBe('sandbox_image = "registry.k8s.io/pause:3.9"');
    expect(await on('lab-2', 'systemctl is-active containerd.service')).toBe('active');
  }, 300_000);
});

describe('kube-packages against a signed stand-in of pkgs.k8s.io on the lab machine', () => {
  let server: ChildProcess | undefined;
  let baseUrl: string;

  beforeAll(async () => {
    const root = tempDir('hakube-lab-k8s-repo-');
    const build = spawnSync('bash', ['-c', BUILD_REPO, 'build-repo', root], { encoding: 'utf8' });
    expect(build.status, build.stderr).toBe(0);
    server = spawn(process.execPath, ['-e', STATIC_SERVER, root, LAB_GATEWAY], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve, reject) => {
      server!.once('error', reject);
      server!.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    });
    baseUrl = `http://${LAB_GATEWAY}:${port}/core:/stable:`;
    // The lab's apt proxy only fetches from the Debian mirrors: reach the stand-in directly.
    for (const host of HOSTS) {
      await on(host, `echo 'Acquire::http::Proxy::${LAB_GATEWAY} "DIRECT";' > /etc/apt/apt.conf.d/95hakube-lab-k8s-repo`);
    }
  }, 120_000);

  afterAll(() => {
    server?.kill();
  });

  it('adds the repository with its keyring, installs the pinned 1.31.2 (not the newer 1.31.20), holds it and enables kubelet', async () => {
    // No package proxy this time (curl would ask the lab's apt proxy for the key): the os step removes its file.
    await declare({ kubernetesVersion: '1.31.2', kubernetesRepoBaseUrl: baseUrl }, false);
    expect(terraform(stackDir, 'plan', '-input=false', '-out=packages.tfplan').status).toBe(0);
    expect(planned('packages.tfplan')).toEqual([
      'terraform_data.hosts_lab-1_reachable', 'terraform_data.hosts_lab-2_reachable', 'terraform_data.hosts_ready',
      'terraform_data.k8s_lab-1_containerd', 'terraform_data.k8s_lab-1_kube-packages', 'terraform_data.k8s_lab-1_os',
      'terraform_data.k8s_lab-2_containerd', 'terraform_data.k8s_lab-2_kube-packages', 'terraform_data.k8s_lab-2_os',
    ]);
    const apply = terraform(stackDir, 'apply', '-auto-approve', '-input=false', 'packages.tfplan');
    figure('kube-packages (with curl and gpg installed) on 2 hosts', apply.seconds);
    expect(apply.status).toBe(0);
    expect(apply.output).toContain('hakube: removed the package proxy');
    expect(apply.output).toContain(`hakube: added the Kubernetes repository ${baseUrl}/v1.31/deb/`);
    expect(apply.output).toContain('hakube: installed kubelet=1.31.2-1.1 kubeadm=1.31.2-1.1 kubectl=1.31.2-1.1');
    for (const host of HOSTS) {
      expect(await on(host, 'dpkg-query -W kubelet kubeadm kubectl')).toBe('kubeadm\t1.31.2-1.1\nkubectl\t1.31.2-1.1\nkubelet\t1.31.2-1.1');
      expect((await on(host, 'apt-mark showhold')).split('\n').sort()).toEqual(['kubeadm', 'kubectl', 'kubelet']);
      expect(await on(host, 'systemctl is-enabled kubelet.service')).toBe('enabled');
      expect(await on(host, `cat ${NODE_PREP_PATHS.aptSource}`))
        .toBe(`deb [signed-by=${NODE_PREP_PATHS.aptKeyring}] ${baseUrl}/v1.31/deb/ /`);
      expect(await on(host, `test -s ${NODE_PREP_PATHS.aptKeyring} && echo ok`)).toBe('ok');
      expect(await on(host, `test -e ${NODE_PREP_PATHS.aptProxy} || echo gone`)).toBe('gone');
      // the upgrade a plain `apt-get upgrade` would do is held back
      expect(await on(host, 'apt-get -s upgrade | grep -c "^Inst kube" || true')).toBe('0');
    }
  }, 600_000);

  it('re-runs kube-packages as a no-op on a host that has the pinned version', () => {
    const apply = terraform(stackDir, 'apply', '-auto-approve', '-input=false', '-replace=terraform_data.k8s_lab-2_kube-packages');
    expect(apply.status).toBe(0);
    expect(apply.output).toContain('hakube: kubelet kubeadm kubectl already at 1.31.2');
    expect(apply.output).not.toContain('added the Kubernetes repository');
  }, 300_000);

  it('refuses to change the version of installed packages (that is an upgrade)', async () => {
    await declare({ kubernetesVersion: '1.31.20', kubernetesRepoBaseUrl: baseUrl }, false);
    expect(terraform(stackDir, 'plan', '-input=false', '-out=upgrade.tfplan').status).toBe(0);
    expect(planned('upgrade.tfplan')).toEqual(['terraform_data.hosts_lab-1_reachable', 'terraform_data.hosts_lab-2_reachable', 'terraform_data.hosts_ready', 'terraform_data.k8s_lab-1_kube-packages', 'terraform_data.k8s_lab-2_kube-packages']);
    const apply = terraform(stackDir, 'apply', '-auto-approve', '-input=false', 'upgrade.tfplan');
    expect(apply.status).not.toBe(0);
    expect(apply.output).toContain('hakube: installed at another version than 1.31.20: kubelet 1.31.2-1.1 kubeadm 1.31.2-1.1 kubectl 1.31.2-1.1');
    expect(await on('lab-1', 'dpkg-query -W -f="\\${Version}" kubelet')).toBe('1.31.2-1.1');
  }, 300_000);
});

/**
 * Build a flat apt repository with pkgs.k8s.io's layout under $1 (`core:/stable:/v1.31/deb/`): a fresh signing
 * key (`Release.key`), stand-in kubelet/kubeadm/kubectl packages at 1.31.1, 1.31.2 and 1.31.20, and a signed
 * InRelease.
 */
const BUILD_REPO = String.raw`set -euo pipefail
repo="$1/core:/stable:/v1.31/deb"
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
export GNUPGHOME="$work/gnupg"
mkdir -m 0700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'hakube lab repository <lab@hakube.invalid>' ed25519 sign never
mkdir -p "$repo"
gpg --batch --armor --export > "$repo/Release.key"
build() {
  local name=$1 version=$2 root="$work/$1_$2" upstream
  upstream=$(printf '%s' "$2" | sed 's/-.*//')
  mkdir -p "$root/DEBIAN" "$root/usr/bin"
  printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: hakube lab <lab@hakube.invalid>\nDescription: lab stand-in for %s\n' "$name" "$version" "$name" > "$root/DEBIAN/control"
  case $name in
    kubelet)
      printf '#!/bin/sh\n[ "$1" = --version ] && echo "Kubernetes v%s" && exit 0\necho "lab stand-in, not a kubelet" >&2\nexit 1\n' "$upstream" > "$root/usr/bin/kubelet"
      mkdir -p "$root/lib/systemd/system"
      printf '[Unit]\nDescription=kubelet (lab stand-in)\n[Service]\nExecStart=/usr/bin/kubelet\n[Install]\nWantedBy=multi-user.target\n' > "$root/lib/systemd/system/kubelet.service" ;;
    kubeadm) printf '#!/bin/sh\necho v%s\n' "$upstream" > "$root/usr/bin/kubeadm" ;;
    kubectl) printf '#!/bin/sh\necho "Client Version: v%s"\n' "$upstream" > "$root/usr/bin/kubectl" ;;
  esac
  chmod 0755 "$root/usr/bin/$name"
  dpkg-deb --root-owner-group -Zgzip --build "$root" "$repo/$name"_"$version"_all.deb >/dev/null
}
for version in 1.31.1-1.1 1.31.2-1.1 1.31.20-1.1; do
  for name in kubelet kubeadm kubectl; do build "$name" "$version"; done
done
cd "$repo"
dpkg-scanpackages --multiversion . /dev/null 2>/dev/null > Packages
{
  echo "Origin: hakube lab"
  echo "Label: hakube lab Kubernetes stand-in"
  echo "Date: $(LC_ALL=C date -u -R)"
  echo "SHA256:"
  printf ' %s %s Packages\n' "$(sha256sum Packages | cut -d' ' -f1)" "$(stat -c %s Packages)"
} > Release
gpg --batch --yes --clearsign -o InRelease Release
`;

/** A static file server (node, CommonJS): serves argv[1] on argv[2], prints its port. */
const STATIC_SERVER = `
const http = require('node:http'), fs = require('node:fs'), path = require('node:path');
const [root, address] = process.argv.slice(1);
const server = http.createServer((req, res) => {
  const file = path.join(root, decodeURIComponent(new URL(req.url, 'http://x').pathname));
  if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'content-length': fs.statSync(file).size });
  fs.createReadStream(file).pipe(res);
});
server.listen(0, address, () => process.stdout.write(server.address().port + '\\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;
