import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, LocalBackend, TerraformStack, Testing } from 'cdktf';
import { describe, expect, it } from 'vitest';
import { EtcdCluster } from '../constructs/etcd-cluster.js';
import { TerraformProvisioner, type TerraformProvisionerProps, escapeTemplate, unescapeTemplate } from '../lib/backends/cdktf.js';
import { Host } from '../lib/inventory.js';
import { quietEnv } from '../lib/engine.js';
import { Plan, renderGroupRunner } from '../lib/plan/index.js';
import { PLACEHOLDER_SECRETS_CONTEXT } from '../lib/pki/index.js';
import { engineBinary, expectShellcheckClean, hosts, projectRoot, readTree, secretMarkers, tempDir } from './fixtures.js';

async function synth(options: { resourceType?: 'terraform_data' | 'null_resource'; members?: Host[] } = {}) {
  const secretsDir = tempDir();
  const outdir = tempDir('hakube-cdktf-');
  const app = new App({ outdir });
  const stack = new TerraformStack(app, 'etcd');
  new EtcdCluster(stack, 'etcd', { clusterName: 'lab', members: options.members ?? hosts(3), secretsDir });
  const plan = await Plan.of(stack);
  new TerraformProvisioner(stack, 'provision', { plan, resourceType: options.resourceType });
  app.synth();
  const json = JSON.parse(Testing.synth(stack)) as { resource: Record<string, Record<string, any>> };
  return { plan, json, outdir, secretsDir, stackDir: join(outdir, 'stacks', 'etcd') };
}

describe('TerraformProvisioner (cdktf)', () => {
  it('renders one terraform_data per step with connection, provisioners, depends_on and the hash trigger', async () => {
    const { plan, json, secretsDir } = await synth();
    const resources = json.resource.terraform_data;
    expect(Object.keys(resources).sort()).toEqual(plan.steps.map((s) => s.id.replace(/\//g, '_')).sort());
    const configure = resources['etcd-lab_node-2_configure'];
    const step = plan.step('etcd-lab/node-2/configure');
    expect(configure.triggers_replace).toBe(step.hash);
    expect(configure.depends_on).toEqual(['terraform_data.etcd-lab_node-1_configure', 'terraform_data.etcd-lab_node-2_install']);
    expect(configure.connection).toEqual({
      type: 'ssh', host: '10.77.0.12', port: 22, user: 'root', timeout: '5m', agent: 'false',
      private_key: '${file(pathexpand(var.ssh_private_key_1))}', host_key: hosts(3)[1].hostKey,
    });
    // the first wave gives up on a host within 30 s; the health check re-runs whenever a configure step is replaced
    expect(resources['hosts_node-2_reachable'].connection.timeout).toBe('30s');
    expect(resources['etcd-lab_node-1_install'].depends_on).toEqual(['terraform_data.hosts_ready']);
    expect(resources['etcd-lab_health'].lifecycle).toEqual({
      replace_triggered_by: ['terraform_data.etcd-lab_node-1_configure', 'terraform_data.etcd-lab_node-2_configure', 'terraform_data.etcd-lab_node-3_configure'],
    });
    // one variable per key path, whose default is the path: the key itself is read only when a step connects
    expect((json as any).variable).toEqual({ ssh_private_key_1: expect.objectContaining({ type: 'string', default: '/keys/id_ed25519' }) });
    const provisioners = configure.provisioner as Array<Record<string, any>>;
    expect(provisioners.map((p) => Object.keys(p)[0])).toEqual(['remote-exec', ...step.files.map(() => 'file'), 'file', 'remote-exec']);
    expect(provisioners[0]['remote-exec'].inline).toEqual(['umask 077 && mkdir -p /root/.hakube-stage && rm -rf /root/.hakube-stage/etcd-lab_node-2_configure && mkdir /root/.hakube-stage/etcd-lab_node-2_configure']);
    const key = provisioners.find((p) => p.file?.destination === step.files.find((f) => f.path === '/etc/etcd/pki/server.key')!.stagedAt)!.file;
    expect(key).toEqual({ source: join(secretsDir, 'etcd/node-2-server.key'), destination: '/root/.hakube-stage/etcd-lab_node-2_configure/4' });
    expect(provisioners.at(-1)!['remote-exec'].inline).toEqual(['bash /root/.hakube-stage/etcd-lab_node-2_configure/run.sh']);
    expect(resources['hosts_node-1_reachable'].depends_on).toBeUndefined();
  });

  it('pins host keys, uses the agent without a key file, and goes through a bastion', async () => {
    const members = [
      new Host({ name: 'a', address: '10.0.0.1', hostKey: 'ssh-ed25519 AAAAC3Nza', bastion: { address: '10.0.0.254', user: 'jump', privateKeyPath: '~/.ssh/jump' } }),
    ];
    const { json } = await synth({ members });
    expect(json.resource.terraform_data['etcd-lab_a_install'].connection).toEqual({
      type: 'ssh', host: '10.0.0.1', port: 22, user: 'root', timeout: '5m', agent: 'true', host_key: 'ssh-ed25519 AAAAC3Nza',
      bastion_host: '10.0.0.254', bastion_port: 22, bastion_user: 'jump', bastion_private_key: '${file(pathexpand(var.ssh_private_key_1))}',
    });
    expect((json as any).variable.ssh_private_key_1.default).toBe('~/.ssh/jump');
  });

  it('escapes Terraform template syntax in scripts and files', () => {
    expect(escapeTemplate('a ${x} %{ if } $y')).toBe('a $${x} %%{ if } $y');
    for (const text of ['a ${x} %{ if } $y', '$${already} %%{twice} $$$${x}', 'plain']) expect(unescapeTemplate(escapeTemplate(text))).toBe(text);
  });

  it('renders null_resource with the null provider when asked', async () => {
    const { json, plan } = await synth({ resourceType: 'null_resource' });
    expect(Object.keys(json.resource)).toEqual(['null_resource']);
    const r = json.resource.null_resource['etcd-lab_health'];
    expect(r.triggers).toEqual({ hash: plan.step('etcd-lab/health').hash });
    expect((json as any).terraform.required_providers.null.source).toBe('null');
  });

  it('validates and plans without the SSH key file (a CI job that only checks infrastructure code)', async () => {
    const keyPath = join(tempDir(), 'absent', 'id_ed25519');
    const members = hosts(3).map((h) => new Host({ name: h.name, address: h.address, privateKeyPath: keyPath }));
    const { stackDir, plan } = await synth({ members });
    const env = { ...quietEnv(), TF_IN_AUTOMATION: '1' };
    execFileSync(engineBinary(), ['init', '-input=false', '-no-color'], { cwd: stackDir, env, stdio: 'pipe' });
    const out = JSON.parse(execFileSync(engineBinary(), ['validate', '-json', '-no-color'], { cwd: stackDir, env, encoding: 'utf8' }));
    expect(out).toMatchObject({ valid: true, error_count: 0 });
    const planned = execFileSync(engineBinary(), ['plan', '-input=false', '-no-color', '-out=tfplan'], { cwd: stackDir, env, encoding: 'utf8' });
    expect(planned).toContain(`Plan: ${plan.steps.length} to add, 0 to change, 0 to destroy`);
  });

  it('names secrets inside the project relative to the stack directory, and others as given', async () => {
    const project = tempDir('hakube-project-');
    const cwd = process.cwd();
    process.chdir(project);
    try {
      const app = new App({ outdir: 'cdktf.out' });
      const stack = new TerraformStack(app, 'etcd');
      const outside = tempDir();
      new EtcdCluster(stack, 'in', { members: hosts(1), secretsDir: '.hakube/in' });
      new EtcdCluster(stack, 'out', { members: hosts(1, 'far', 51), secretsDir: outside });
      new TerraformProvisioner(stack, 'provision', { plan: await Plan.of(stack) });
      const json = JSON.parse(Testing.synth(stack));
      const sources = (id: string) => (json.resource.terraform_data[id].provisioner as Array<Record<string, any>>).flatMap((p) => (p.file?.source ? [p.file.source] : []));
      expect(sources('etcd-in_node-1_configure')).toContain('../../../.hakube/in/etcd/ca.crt');
      expect(sources('etcd-out_far-1_configure')).toContain(join(outside, 'etcd/ca.crt'));
      expect(JSON.stringify(json)).not.toContain(project);
    } finally {
      process.chdir(cwd);
    }
  });

  it('never writes key material or tokens into cdktf.out', async () => {
    const { outdir, secretsDir } = await synth();
    const markers = [...secretMarkers(secretsDir)];
    expect(markers.length).toBeGreaterThan(8);
    for (const file of readTree(outdir)) {
      for (const marker of markers) expect(file.text.includes(marker), `${marker.slice(0, 12)}… in ${file.path}`).toBe(false);
    }
  });

  it('snapshot of the synthesized stack (placeholder secrets: the same in every clone)', () => {
    const json = synthExample(cloneProject(tempDir('hakube-clone-')));
    expect(json).toContain('"source": "../../../.hakube/onprem/kubernetes/ca.key"');
    expect(json).toMatchSnapshot();
  });

  it('gives byte-identical output in two clones in different directories with empty secret dirs', () => {
    const clones = [tempDir('hakube-clone-a-'), join(tempDir('hakube-clone-b-'), 'deeper', 'checkout')].map(cloneProject);
    const outputs = clones.map(synthExample);
    expect(outputs[0]).toBe(outputs[1]);
    expect(outputs[0]).toContain('kubeadm');
    for (const dir of clones) expect(existsSync(join(dir, '.hakube'))).toBe(false); // no secrets were made
  });
});

/** A copy of the checkout's files (what a clone has, plus uncommitted work) in `dir`, sharing node_modules. */
function cloneProject(dir: string): string {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: projectRoot, encoding: 'utf8' }).split('\0');
  for (const file of files) if (file && file !== 'node_modules' && existsSync(join(projectRoot, file))) cpSync(join(projectRoot, file), join(dir, file), { recursive: true });
  symlinkSync(join(projectRoot, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/** Seed 003's example app synthesized in `dir` with placeholder secrets (as a user's CI would): its cdk.tf.json. */
function synthExample(dir: string): string {
  const out = join(dir, 'cdktf.out');
  execFileSync(join(projectRoot, 'node_modules/.bin/tsx'), [join(dir, 'examples/seed-003-stacked.ts')], {
    cwd: dir,
    env: { ...process.env, CDKTF_OUTDIR: out, HAKUBE_HOSTS: 'examples/hosts.example.yaml', CDKTF_CONTEXT_JSON: JSON.stringify({ [PLACEHOLDER_SECRETS_CONTEXT]: true }) },
    stdio: 'pipe',
  });
  return readFileSync(join(out, 'stacks', 'seed-003', 'cdk.tf.json'), 'utf8');
}

describe('TerraformProvisioner: stacks and per-host groups', () => {
  /** Seed 003's shape: 3 masters with a VIP, `workers` workers, in an app of its own. */
  async function cluster(workers: number, props: Partial<Omit<TerraformProvisionerProps, 'plan'>> = {}) {
    const { HaCluster } = await import('../constructs/ha-cluster.js');
    const outdir = tempDir('hakube-cdktf-');
    const app = new App({ outdir });
    const stack = new TerraformStack(app, 'prod');
    new HaCluster(stack, 'prod', { kubernetesVersion: '1.31.2', controlPlaneHosts: hosts(3, 'master', 21), workerHosts: hosts(workers, 'node', 31), endpoint: { vip: '10.77.0.244/24' }, secretsDir: tempDir() });
    const plan = await Plan.of(stack);
    const provisioner = new TerraformProvisioner(stack, 'provision', { plan, ...props });
    app.synth();
    const stackJson = (name: string) => JSON.parse(readFileSync(join(outdir, 'stacks', name, 'cdk.tf.json'), 'utf8'));
    return { plan, provisioner, outdir, stackJson, manifest: JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8')) };
  }

  it('keeps a cluster of at most maxHostsPerStack hosts in one stack', async () => {
    const { plan, provisioner, manifest } = await cluster(3);
    expect(Object.keys(manifest.stacks)).toEqual(['prod']);
    expect(provisioner.stacks.map((s) => s.node.id)).toEqual(['prod']);
    expect(new Set([...provisioner.resources.values()].map((r) => r.stack))).toEqual(new Set(['prod']));
    expect(provisioner.resources.size).toBe(plan.steps.length);
  });

  it('spreads workers over stacks that depend on the core stack; each stack validates and applies in that order', async () => {
    const { plan, provisioner, manifest, outdir, stackJson } = await cluster(5, { maxHostsPerStack: 2 });
    expect(Object.keys(manifest.stacks)).toEqual(['prod', 'prod-workers-1', 'prod-workers-2', 'prod-workers-3']);
    for (const name of ['prod-workers-1', 'prod-workers-2', 'prod-workers-3']) expect(manifest.stacks[name].dependencies).toEqual(['prod']);
    const core = stackJson('prod').resource.terraform_data;
    const w1 = stackJson('prod-workers-1').resource.terraform_data;
    expect(Object.keys(core).filter((k) => k.includes('_node-'))).toEqual([]);
    expect(Object.keys(w1).filter((k) => k.startsWith('k8s-prod_')).map((k) => k.split('_')[1])).toEqual(expect.arrayContaining(['node-1', 'node-2']));
    // the join runs after its own host's steps only; the core stack gives the order across stacks
    expect(w1['k8s-prod_node-1_join'].depends_on).toEqual(['terraform_data.k8s-prod_node-1_kube-packages']);
    // the core's members change together or not at all; a worker waits for its own check only
    expect(w1.hosts_ready).toBeUndefined();
    expect(w1['k8s-prod_node-2_preflight'].depends_on).toEqual(['terraform_data.hosts_node-2_reachable']);
    expect(core.hosts_ready.depends_on).toEqual(['terraform_data.hosts_master-1_reachable', 'terraform_data.hosts_master-2_reachable', 'terraform_data.hosts_master-3_reachable']);
    // the same steps and hashes as in one stack
    expect(provisioner.resources.get('k8s-prod/node-5/join')).toEqual({ stack: 'prod-workers-3', address: 'terraform_data.k8s-prod_node-5_join' });
    expect(w1['k8s-prod_node-2_join'].triggers_replace).toBe(plan.step('k8s-prod/node-2/join').hash);
    // Terraform accepts every stack and applies them in the order cdktf deploys them (provisioners stripped)
    const env = { ...quietEnv(), TF_IN_AUTOMATION: '1' };
    for (const name of Object.keys(manifest.stacks)) {
      const dir = join(outdir, 'stacks', name);
      const json = stackJson(name);
      for (const r of Object.values(json.resource.terraform_data) as any[]) delete r.provisioner;
      json.terraform.backend.local.path = join(dir, 'terraform.tfstate');
      writeFileSync(join(dir, 'cdk.tf.json'), JSON.stringify(json));
      execFileSync(engineBinary(), ['init', '-input=false', '-no-color'], { cwd: dir, env, stdio: 'pipe' });
      expect(execFileSync(engineBinary(), ['apply', '-input=false', '-auto-approve', '-no-color'], { cwd: dir, env, encoding: 'utf8' })).toContain(`Apply complete! Resources: ${Object.keys(json.resource.terraform_data).length} added`);
    }
  });

  it('gives each worker stack the backend the user asks for; without one, local state named after the stack', async () => {
    const { stackJson } = await cluster(3, { maxHostsPerStack: 2, workerStackBackend: (stack) => new LocalBackend(stack, { path: `/srv/state/${stack.node.id}.tfstate` }) });
    expect(stackJson('prod-workers-1').terraform.backend).toEqual({ local: { path: '/srv/state/prod-workers-1.tfstate' } });
    expect(stackJson('prod-workers-2').terraform.backend).toEqual({ local: { path: '/srv/state/prod-workers-2.tfstate' } });
    const plain = await cluster(3, { maxHostsPerStack: 2 });
    expect(plain.stackJson('prod-workers-2').terraform.backend.local.path).toMatch(/\/terraform\.prod-workers-2\.tfstate$/);
  });

  it('refuses HCL output, naming the construct, since the steps synthesize as JSON', async () => {
    const app = new App({ outdir: tempDir(), hclOutput: true });
    const stack = new TerraformStack(app, 'etcd');
    new EtcdCluster(stack, 'etcd', { members: hosts(1), secretsDir: tempDir() });
    const plan = await Plan.of(stack);
    expect(() => new TerraformProvisioner(stack, 'provision', { plan })).toThrow(/etcd\/provision: the app's hclOutput true is not supported/);
  });

  it('refuses a maxHostsPerStack that is not a whole number of hosts, naming the construct', async () => {
    await expect(cluster(1, { maxHostsPerStack: 0 })).rejects.toThrow(/prod\/provision: maxHostsPerStack 0 must be a whole number of hosts/);
  });

  it('per-host: a worker is its check and one group that runs its steps in plan order', async () => {
    const { plan, provisioner, stackJson } = await cluster(2, { maxHostsPerStack: 2, combine: 'per-host' });
    const w = stackJson('prod-workers-1').resource.terraform_data;
    expect(Object.keys(w).sort()).toEqual(['hosts_node-1_reachable', 'hosts_node-2_reachable', 'k8s-prod_node-1_preflight', 'k8s-prod_node-2_preflight']);
    const group = w['k8s-prod_node-1_preflight'];
    const ids = ['preflight', 'os', 'containerd', 'kube-packages', 'join'].map((a) => `k8s-prod/node-1/${a}`);
    expect(group['//'].hakube).toEqual({ steps: ids, host: 'node-1' });
    for (const id of ids) expect(provisioner.resources.get(id)!.address).toBe('terraform_data.k8s-prod_node-1_preflight');
    expect(group.depends_on).toEqual(['terraform_data.hosts_node-1_reachable']);
    const provisioners = group.provisioner as Array<Record<string, any>>;
    // every step's stage prepared, its files and script uploaded, then the runner runs them
    expect(provisioners[0]['remote-exec'].inline[0]).toContain(plan.step(ids[4]).stageCommand);
    const uploaded = provisioners.filter((p) => p.file).map((p) => p.file.destination);
    for (const id of ids) expect(uploaded).toContain(plan.step(id).scriptPath);
    const runner = unescapeTemplate(provisioners.filter((p) => p.file).at(-1)!.file.content);
    expect(ids.map((id) => runner.indexOf(plan.step(id).scriptPath))).toEqual([...ids.map((id) => runner.indexOf(plan.step(id).scriptPath))].sort((a, b) => a - b));
    for (const id of ids) expect(runner).toContain(plan.step(id).hash);
    expect(provisioners.at(-1)!['remote-exec'].inline).toEqual(['bash /root/.hakube-stage/k8s-prod_node-1_preflight.group/run.sh']);
    // checks stay their own resources, where `hakube status` finds them
    expect(stackJson('prod').resource.terraform_data['lb-prod-api_ready']['//'].hakube).toEqual({ step: 'lb-prod-api/ready', host: 'master-1', check: true });
  });
});

describe('generated scripts', () => {
  it('pass shellcheck', async () => {
    const { plan } = await synth();
    const release = await synth({ members: hosts(1) }); // distro
    const scripts: Array<{ script: string }> = [...plan.steps, ...release.plan.steps];
    const { EtcdCluster: E } = await import('../constructs/etcd-cluster.js');
    const app = new App({ outdir: tempDir() });
    const stack = new TerraformStack(app, 's');
    new E(stack, 'rel', { members: hosts(3), secretsDir: tempDir(), install: { from: 'release', version: '3.5.17', sha256: 'c'.repeat(64) } });
    scripts.push(...(await Plan.of(stack)).steps);
    // the runner of a per-host group
    scripts.push(renderGroupRunner(plan.steps.slice(0, 3), 'a'.repeat(64)));
    expectShellcheckClean(scripts.map((s) => s.script));
  });
});
