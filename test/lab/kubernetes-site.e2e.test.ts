/**
 * End to end on the built-in lab served as an air-gapped Kubernetes site (`lab up --kubernetes`): Kubernetes built
 * from source modules, its packages in a signed pkgs.k8s.io-shaped repository and its images in a registry on the
 * bridge. Node preparation installs the packages through the product's own options (`kubernetesRepoBaseUrl`,
 * `imageMirror`); containerd pulls from the registry through the hosts.toml the product writes; kubelet from the
 * site's package runs on a lab host with a static pod whose images come from the mirror.
 */
import { Construct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_HTTPD_NAME, TEST_HTTPD_PORT } from '../../lib/airgap/images.js';
import type { Inventory } from '../../lib/inventory.js';
import { LAB_IMAGE_REPOSITORY, LAB_KUBERNETES_REPO_BASE_URL, LAB_KUBERNETES_VERSION, labClusterSettings, labDown, readState } from '../../lib/lab/index.js';
import { procAlive } from '../../lib/lab/proc.js';
import type { PlanContributor, StepSpec } from '../../lib/plan/index.js';
import { nodePrepSteps } from '../../lib/render/node-prep.js';
import { type NodePrepOptions, type NodeRole } from '../../lib/render/node-prep-options.js';
import { tempDir } from '../fixtures.js';
import { acquireLab, figure, onHost, projectDir, synthStack, terraform, until } from './helpers.js';

const outdir = tempDir('hakube-lab-k8s-site-');
const ROLES: Record<string, NodeRole> = { 'lab-1': 'control-plane', 'lab-2': 'worker' };
const HOSTS = Object.keys(ROLES);
let inventory: Inventory;
let stackDir: string;
let startedLab = false;
let testImage: string;

class LabNodes extends Construct implements PlanContributor {
  constructor(scope: Construct, id: string, private readonly options: NodePrepOptions) {
    super(scope, id);
  }

  async planSteps(): Promise<StepSpec[]> {
    return HOSTS.flatMap((name) => nodePrepSteps(inventory.get(name)[0]!, ROLES[name]!, this.options, 'k8s'));
  }
}

/** What a user of the lab site sets: the lab's package repository and image mirror, nothing lab-specific besides. */
function siteOptions(kubernetesVersion = LAB_KUBERNETES_VERSION): NodePrepOptions {
  const settings = labClusterSettings(projectDir);
  return { kubernetesVersion, ...settings.nodePrep, imageMirror: settings.imageMirror };
}

async function declare(options: NodePrepOptions) {
  ({ stackDir } = await synthStack(outdir, (stack) => new LabNodes(stack, 'nodes', options)));
}

async function on(host: string, command: string, timeoutMs = 60_000): Promise<string> {
  const r = await onHost(inventory, host, command, timeoutMs);
  expect(r.ok, `${host}: ${command}\n${r.out}`).toBe(true);
  return r.out.trim();
}

beforeAll(async () => {
  const up = await acquireLab(2, { kubernetes: true });
  if (!up.started) throw new Error('another lab came up meanwhile; not using or touching it');
  startedLab = true;
  inventory = up.inventory;
  figure(`lab up --kubernetes, 2 hosts (base ${up.seconds.base.toFixed(1)} s, boot ${up.seconds.boot.toFixed(1)} s)`, up.seconds.total);
  const site = readState()!.site!;
  testImage = site.images.find((i) => i.includes(`/${TEST_HTTPD_NAME}:`))!;
  expect(testImage).toBeDefined();
  await declare(siteOptions());
  expect(terraform(stackDir, 'init', '-input=false').status).toBe(0);
}, 90 * 60_000);

afterAll(async () => {
  // HAKUBE_LAB_KEEP=1 leaves the lab up for a look at a failure (`hakube lab down` afterwards)
  if (!startedLab || process.env.HAKUBE_LAB_KEEP === '1') return;
  const site = readState()!.site!;
  const down = await labDown({ projectDir });
  figure('lab down', down.seconds);
  expect(down.leftovers).toEqual([]);
  // the site's servers are gone too (and the ports free for the next lab)
  for (const pid of [site.registryServer.pid, site.aptServer.pid]) expect(procAlive(pid), `pid ${pid}`).toBe(false);
}, 300_000);

describe('the lab as an air-gapped Kubernetes site', () => {
  it('serves the images kubeadm wants for the pinned version and the signed repository', async () => {
    const site = readState()!.site!;
    expect(site.kubernetesRepoBaseUrl).toBe(LAB_KUBERNETES_REPO_BASE_URL);
    expect(site.imageRepository).toBe(LAB_IMAGE_REPOSITORY);
    // the real kubeadm, on a host, lists what it will pull from the mirror: every one of them is in the registry
    const release = await (await fetch(`${LAB_KUBERNETES_REPO_BASE_URL}/v1.34/deb/InRelease`)).text();
    expect(release).toContain('-----BEGIN PGP SIGNED MESSAGE-----');
    for (const name of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy']) {
      expect(site.images).toContain(`${LAB_IMAGE_REPOSITORY}/${name}:v${LAB_KUBERNETES_VERSION}`);
    }
    const tags = (await (await fetch(`http://${LAB_IMAGE_REPOSITORY.split('/')[0]}/v2/k8s/pause/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toContain('3.10.1');
  });

  it('installs kubelet, kubeadm and kubectl from the site through node preparation, and holds them', async () => {
    const apply = terraform(stackDir, 'apply', '-auto-approve', '-input=false');
    figure('node preparation on 2 hosts from the site (preflight, os, containerd, kube-packages)', apply.seconds);
    expect(apply.status).toBe(0);
    expect(apply.output).toContain(`hakube: added the Kubernetes repository ${LAB_KUBERNETES_REPO_BASE_URL}/v1.34/deb/`);
    expect(apply.output).toContain(`hakube: installed kubelet=${LAB_KUBERNETES_VERSION}-1.1 kubeadm=${LAB_KUBERNETES_VERSION}-1.1 kubectl=${LAB_KUBERNETES_VERSION}-1.1`);
    for (const host of HOSTS) {
      expect(await on(host, 'dpkg-query -W kubelet kubeadm kubectl')).toBe(
        ['kubeadm', 'kubectl', 'kubelet'].map((p) => `${p}\t${LAB_KUBERNETES_VERSION}-1.1`).join('\n'),
      );
      expect((await on(host, 'apt-mark showhold')).split('\n').sort()).toEqual(['kubeadm', 'kubectl', 'kubelet']);
      // real binaries, with the version stamps kubeadm's preflight checks
      expect(await on(host, 'kubelet --version')).toBe(`Kubernetes v${LAB_KUBERNETES_VERSION}`);
      expect(await on(host, 'kubeadm version -o short')).toBe(`v${LAB_KUBERNETES_VERSION}`);
      // kubelet's dependency brought the CNI plugins
      expect(await on(host, 'test -x /opt/cni/bin/bridge && test -x /opt/cni/bin/host-local && echo ok')).toBe('ok');
    }
  }, 900_000);

  it('re-runs kube-packages as a no-op, and refuses another version (that is an upgrade)', async () => {
    const again = terraform(stackDir, 'apply', '-auto-approve', '-input=false', '-replace=terraform_data.k8s_lab-2_kube-packages');
    expect(again.status).toBe(0);
    expect(again.output).toContain(`hakube: kubelet kubeadm kubectl already at ${LAB_KUBERNETES_VERSION}`);
    await declare(siteOptions('1.34.11'));
    const other = terraform(stackDir, 'apply', '-auto-approve', '-input=false');
    expect(other.status).not.toBe(0);
    expect(other.output).toContain(`hakube: installed at another version than 1.34.11: kubelet ${LAB_KUBERNETES_VERSION}-1.1`);
    await declare(siteOptions());
  }, 600_000);

  it('pulls an image from the registry through the hosts.toml node preparation wrote, and runs it', async () => {
    const pulled = await on('lab-2', `ctr -n hakube-test images pull --hosts-dir /etc/containerd/certs.d ${testImage} >/dev/null && echo pulled`, 120_000);
    expect(pulled).toBe('pulled');
    const out = await on('lab-2', `ctr -n hakube-test run --rm ${testImage} hakube-probe /bin/busybox cat /www/index.html`);
    expect(out).toBe('hakube air-gapped test server');
    // and through the CRI, as kubelet pulls: the sandbox image from the mirror
    expect(await on('lab-2', `crictl --timeout 60s pull ${LAB_IMAGE_REPOSITORY}/pause:3.10.1 >/dev/null && crictl inspecti -o go-template --template '{{.status.id}}' ${LAB_IMAGE_REPOSITORY}/pause:3.10.1`)).toMatch(/^sha256:[0-9a-f]{64}$/);
  }, 300_000);

  it('runs kubelet from the site package with a static pod from the mirror, and it stays running', async () => {
    const settings = labClusterSettings(projectDir);
    // kubelet alone, without a control plane: the package's unit with a config file and no kubeconfig
    const config = [
      'apiVersion: kubelet.config.k8s.io/v1beta1',
      'kind: KubeletConfiguration',
      'cgroupDriver: systemd',
      `failSwapOn: ${settings.kubelet.failSwapOn}`,
      `imageGCHighThresholdPercent: ${settings.kubelet.imageGCHighThresholdPercent}`,
      `evictionHard: ${JSON.stringify(settings.kubelet.evictionHard)}`,
      'containerRuntimeEndpoint: unix:///run/containerd/containerd.sock',
      'staticPodPath: /etc/kubernetes/manifests',
      'authentication: {anonymous: {enabled: false}, webhook: {enabled: false}}',
      'authorization: {mode: AlwaysAllow}',
    ].join('\n');
    const pod = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'hakube-probe', namespace: 'default' },
      spec: { hostNetwork: true, containers: [{ name: 'httpd', image: testImage }] },
    });
    await on('lab-1', [
      'mkdir -p /etc/kubernetes/manifests /var/lib/kubelet /etc/systemd/system/kubelet.service.d',
      `cat > /var/lib/kubelet/standalone.yaml <<'EOF'\n${config}\nEOF`,
      `cat > /etc/kubernetes/manifests/hakube-probe.json <<'EOF'\n${pod}\nEOF`,
      "printf '[Service]\\nExecStart=\\nExecStart=/usr/bin/kubelet --config=/var/lib/kubelet/standalone.yaml\\n' > /etc/systemd/system/kubelet.service.d/90-hakube-lab-standalone.conf",
      'systemctl daemon-reload',
      'systemctl restart kubelet',
    ].join('\n'));
    const started = Date.now();
    const answer = await until('the static pod to answer on lab-1', 180_000, async () => {
      try {
        const r = await fetch(`http://${inventory.get('lab-1')[0]!.address}:${TEST_HTTPD_PORT}/`, { signal: AbortSignal.timeout(2000) });
        return r.ok ? await r.text() : undefined;
      } catch {
        return undefined;
      }
    });
    figure('kubelet start until its static pod (pulled from the mirror) answers', (Date.now() - started) / 1000);
    expect(answer).toBe('hakube air-gapped test server\n');
    const restarts = await on('lab-1', 'systemctl show -p NRestarts --value kubelet');
    await new Promise((r) => setTimeout(r, 30_000));
    expect(await on('lab-1', 'systemctl is-active kubelet')).toBe('active');
    expect(await on('lab-1', 'systemctl show -p NRestarts --value kubelet')).toBe(restarts);
    // its pods live in the host's own cgroup tree, in every controller, with the sandbox image from the mirror
    expect(await on('lab-1', 'ls -d /sys/fs/cgroup/memory/kubepods.slice /sys/fs/cgroup/cpu/kubepods.slice | wc -l')).toBe('2');
    expect(await on('lab-1', 'crictl pods --name hakube-probe-lab-1 --state ready -q | wc -l')).toBe('1');
    expect(await on('lab-1', 'crictl images -o json')).toContain(`${LAB_IMAGE_REPOSITORY}/pause:3.10.1`);
  }, 600_000);
});
