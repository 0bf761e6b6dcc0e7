/**
 * End to end on the built-in lab: node preparation (preflight, OS settings, containerd) on a control-plane and a
 * worker host, deployed by Terraform from the synthesized plan; then idempotent re-runs, a containerd setting
 * change. (The kube-packages step runs against the lab's own Kubernetes site: kubernetes-site.e2e.test.ts.)
 */
import { Construct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Host, type Inventory } from '../../lib/inventory.js';
import { LAB_PROXY_URL, labDown } from '../../lib/lab/index.js';
import type { PlanContributor, StepSpec } from '../../lib/plan/index.js';
import { Plan } from '../../lib/plan/index.js';
import { nodePrepSteps } from '../../lib/render/node-prep.js';
import { NODE_PREP_PATHS, type NodePrepOptions, type NodeRole } from '../../lib/render/node-prep-options.js';
import { renderAptProxyConf, renderContainerdConfig, renderModulesLoadConf, renderSysctlConf } from '../../lib/render/node-prep-files.js';
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
 * The node preparation steps of the lab hosts up to containerd (this suite runs without the lab's Kubernetes site;
 * kube-packages is tested against it in kubernetes-site.e2e.test.ts).
 */
class LabNodePrep extends Construct implements PlanContributor {
  constructor(scope: Construct, id: string, private readonly options: NodePrepOptions) {
    super(scope, id);
  }

  async planSteps(): Promise<StepSpec[]> {
    return HOSTS.flatMap((name) => nodePrepSteps(inventory.get(name)[0]!, ROLES[name]!, this.options, 'k8s').filter((s) => !s.id.endsWith('/kube-packages')));
  }
}

const mainOptions: NodePrepOptions = { kubernetesVersion: '1.31.2', packageProxy: LAB_PROXY_URL };

async function declare(options: NodePrepOptions) {
  ({ stackDir } = await synthStack(outdir, (stack) => new LabNodePrep(stack, 'nodes', options)));
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
      expect(`${await on(host, `cat ${NODE_PREP_PATHS.containerdConfig}`)}\n`).toBe(renderContainerdConfig({ sandboxImage: 'registry.k8s.io/pause:3.10' }));
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
