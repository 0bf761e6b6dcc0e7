import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, TerraformStack, Testing } from 'cdktf';
import { describe, expect, it } from 'vitest';
import { EtcdCluster } from '../constructs/etcd-cluster.js';
import { TerraformProvisioner, escapeTemplate } from '../lib/backends/cdktf.js';
import { Host } from '../lib/inventory.js';
import { Plan } from '../lib/plan/index.js';
import { hosts, readTree, secretMarkers, tempDir } from './fixtures.js';

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
      private_key: '${file(pathexpand("/keys/id_ed25519"))}',
    });
    const provisioners = configure.provisioner as Array<Record<string, any>>;
    expect(provisioners.map((p) => Object.keys(p)[0])).toEqual(['remote-exec', ...step.files.map(() => 'file'), 'file', 'remote-exec']);
    expect(provisioners[0]['remote-exec'].inline).toEqual(['umask 077 && mkdir -p /root/.hakube-stage && rm -rf /root/.hakube-stage/etcd-lab_node-2_configure && mkdir /root/.hakube-stage/etcd-lab_node-2_configure']);
    const key = provisioners.find((p) => p.file?.destination === step.files.find((f) => f.path === '/etc/etcd/pki/server.key')!.stagedAt)!.file;
    expect(key).toEqual({ source: join(secretsDir, 'etcd/node-2-server.key'), destination: '/root/.hakube-stage/etcd-lab_node-2_configure/4' });
    expect(provisioners.at(-1)!['remote-exec'].inline).toEqual(['bash /root/.hakube-stage/etcd-lab_node-2_configure/run.sh']);
    expect(resources['etcd-lab_node-1_install'].depends_on).toBeUndefined();
  });

  it('pins host keys, uses the agent without a key file, and goes through a bastion', async () => {
    const members = [
      new Host({ name: 'a', address: '10.0.0.1', hostKey: 'ssh-ed25519 AAAAC3Nza', bastion: { address: '10.0.0.254', user: 'jump', privateKeyPath: '~/.ssh/jump' } }),
    ];
    const { json } = await synth({ members });
    expect(json.resource.terraform_data['etcd-lab_a_install'].connection).toEqual({
      type: 'ssh', host: '10.0.0.1', port: 22, user: 'root', timeout: '5m', agent: 'true', host_key: 'ssh-ed25519 AAAAC3Nza',
      bastion_host: '10.0.0.254', bastion_port: 22, bastion_user: 'jump', bastion_private_key: '${file(pathexpand("~/.ssh/jump"))}',
    });
  });

  it('escapes Terraform template syntax in scripts and files', () => {
    expect(escapeTemplate('a ${x} %{ if } $y')).toBe('a $${x} %%{ if } $y');
  });

  it('renders null_resource with the null provider when asked', async () => {
    const { json, plan } = await synth({ resourceType: 'null_resource' });
    expect(Object.keys(json.resource)).toEqual(['null_resource']);
    const r = json.resource.null_resource['etcd-lab_health'];
    expect(r.triggers).toEqual({ hash: plan.step('etcd-lab/health').hash });
    expect((json as any).terraform.required_providers.null.source).toBe('null');
  });

  it('passes terraform validate (terraform_data needs no provider download)', async () => {
    const keyPath = join(tempDir(), 'id_ed25519');
    writeFileSync(keyPath, 'not a real key: terraform validate only checks that the file exists\n');
    const members = hosts(3).map((h) => new Host({ name: h.name, address: h.address, privateKeyPath: keyPath }));
    const { stackDir } = await synth({ members });
    const env = { ...process.env, CHECKPOINT_DISABLE: '1', TF_IN_AUTOMATION: '1' };
    execFileSync('terraform', ['init', '-backend=false', '-input=false', '-no-color'], { cwd: stackDir, env, stdio: 'pipe' });
    const out = JSON.parse(execFileSync('terraform', ['validate', '-json', '-no-color'], { cwd: stackDir, env, encoding: 'utf8' }));
    expect(out.valid).toBe(true);
    expect(out.error_count).toBe(0);
  });

  it('never writes key material or tokens into cdktf.out', async () => {
    const { outdir, secretsDir } = await synth();
    const markers = [...secretMarkers(secretsDir)];
    expect(markers.length).toBeGreaterThan(8);
    for (const file of readTree(outdir)) {
      for (const marker of markers) expect(file.text.includes(marker), `${marker.slice(0, 12)}… in ${file.path}`).toBe(false);
    }
  });

  it('snapshot of the synthesized stack', async () => {
    const { json, secretsDir } = await synth();
    // machine-specific paths (the secrets dir, the state file next to the checkout) are not behaviour
    const text = JSON.stringify(json, null, 2).replaceAll(secretsDir, '<secrets>').replaceAll(process.cwd(), '<project>').replace(/[0-9a-f]{64}/g, '<hash>')
      .replace(/TOKEN=lab-[a-z0-9]{16}/g, 'TOKEN=lab-<random>');
    expect(text).toMatchSnapshot();
  });
});

describe('generated scripts', () => {
  it('pass shellcheck', async () => {
    const { plan } = await synth();
    const release = await synth({ members: hosts(1) }); // distro
    const dir = tempDir('hakube-sc-');
    const scripts = [...plan.steps, ...release.plan.steps];
    const { EtcdCluster: E } = await import('../constructs/etcd-cluster.js');
    const app = new App({ outdir: tempDir() });
    const stack = new TerraformStack(app, 's');
    new E(stack, 'rel', { members: hosts(3), secretsDir: tempDir(), install: { from: 'release', version: '3.5.17', sha256: 'c'.repeat(64) } });
    scripts.push(...(await Plan.of(stack)).steps);
    const files = scripts.map((s, i) => {
      const path = join(dir, `${i}.sh`);
      writeFileSync(path, s.script);
      return path;
    });
    execFileSync('shellcheck', ['--shell=bash', '--severity=style', ...files], { encoding: 'utf8' });
  });
});
