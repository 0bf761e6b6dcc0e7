import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, TerraformStack } from 'cdktf';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { HaCluster } from '../constructs/ha-cluster.js';
import { DEFAULT_SITE_VERSIONS } from '../lib/airgap/index.js';
import { FLANNEL_IMAGE_NAME } from '../lib/airgap/images.js';
import { FLANNEL_VERSION } from '../lib/build/flannel.js';
import { KUBERNETES_VERSION } from '../lib/build/kubernetes.js';
import { labInventory } from '../lib/lab/lab.js';
import { LAB_IMAGE_REPOSITORY, LAB_KUBERNETES_REPO_BASE_URL, labClusterSettings } from '../lib/lab/site.js';
import { Plan } from '../lib/plan/index.js';
import { tempDir } from './fixtures.js';

/** Seed 003 on six lab hosts with the lab's settings, as a lab cluster is declared. */
async function labCluster() {
  const projectDir = tempDir('hakube-lab-site-');
  const settings = labClusterSettings(projectDir);
  const hosts = labInventory(6, join(projectDir, 'id_ed25519')).hosts;
  const app = new App({ outdir: join(projectDir, 'cdktf.out') });
  const stack = new TerraformStack(app, 'lab');
  new HaCluster(stack, 'lab', {
    ...settings,
    controlPlaneHosts: hosts.slice(0, 3),
    workerHosts: hosts.slice(3),
    endpoint: { vip: '10.77.0.100/24' },
    secretsDir: join(projectDir, 'secrets'),
  });
  return { plan: await Plan.of(stack), settings, projectDir };
}

const fileOf = (plan: Plan, stepId: string, path: string) => {
  const file = plan.step(stepId).files.find((f) => f.path === path)!;
  return file.content ?? readFileSync(join(file.secret!.dir, file.secret!.file), 'utf8');
};

describe('lab cluster settings', () => {
  it('pin the version the lab builds, and the site it serves', () => {
    const settings = labClusterSettings(tempDir());
    expect(settings.kubernetesVersion).toBe(KUBERNETES_VERSION);
    expect(settings.nodePrep.kubernetesRepoBaseUrl).toBe('http://10.77.0.1:8080/core:/stable:');
    expect(settings.imageMirror).toEqual({ repository: '10.77.0.1:5000/k8s', plainHttp: true });
  });

  it('make a seed-003 cluster whose every flannel image is one the site pushes', async () => {
    const { plan } = await labCluster();
    const manifest = fileOf(plan, 'k8s-lab/cni', '/etc/kubernetes/hakube/cni.yaml');
    const images = [...manifest.matchAll(/image: (\S+)/g)].map((m) => m[1]);
    expect(images.length).toBeGreaterThan(0);
    // the site pushes <repository>/<FLANNEL_IMAGE_NAME>:<tag> built from the flannel the lab builds
    expect(DEFAULT_SITE_VERSIONS.flannel).toBe(`v${FLANNEL_VERSION}`);
    for (const image of images) expect(image).toBe(`${LAB_IMAGE_REPOSITORY}/${FLANNEL_IMAGE_NAME}:${DEFAULT_SITE_VERSIONS.flannel}`);
  });

  it('give every node the site repository, the registry over plain HTTP and no OOM score below containerd', async () => {
    const { plan } = await labCluster();
    for (const host of ['lab-1', 'lab-6']) {
      expect(plan.step(`k8s-lab/${host}/kube-packages`).script).toContain(`repo_url=${LAB_KUBERNETES_REPO_BASE_URL}/v1.34/deb/`);
      const containerd = fileOf(plan, `k8s-lab/${host}/containerd`, '/etc/containerd/config.toml');
      expect(containerd).toContain(`sandbox_image = "${LAB_IMAGE_REPOSITORY}/pause:3.10.1"`);
      expect(containerd).toContain('restrict_oom_score_adj = true');
      expect(fileOf(plan, `k8s-lab/${host}/containerd`, '/etc/containerd/certs.d/10.77.0.1:5000/hosts.toml')).toContain('server = "http://10.77.0.1:5000"');
    }
  });

  it('render kubeadm configuration with the mirror and the containerised-node settings', async () => {
    const { plan } = await labCluster();
    const docs = yaml.loadAll(fileOf(plan, 'k8s-lab/lab-1/init', '/etc/kubernetes/hakube/kubeadm-init.yaml')) as Array<Record<string, any>>;
    const byKind = (kind: string) => docs.find((d) => d.kind === kind)!;
    expect(byKind('ClusterConfiguration').imageRepository).toBe(LAB_IMAGE_REPOSITORY);
    expect(byKind('ClusterConfiguration').kubernetesVersion).toBe(`v${KUBERNETES_VERSION}`);
    expect(byKind('ClusterConfiguration').networking.podSubnet).toBe('10.244.0.0/16');
    expect(byKind('KubeletConfiguration')).toMatchObject({ failSwapOn: false, imageGCHighThresholdPercent: 100, evictionHard: { 'nodefs.available': '0%', 'imagefs.available': '0%' } });
    expect(byKind('KubeletConfiguration').cgroupRoot).toBeUndefined();
    expect(byKind('KubeProxyConfiguration').conntrack).toEqual({ maxPerCore: 0 });
  });
});
