import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { App, TerraformStack, Testing } from 'cdktf';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EtcdCluster } from '../constructs/etcd-cluster.js';
import { TerraformProvisioner, escapeTemplate } from '../lib/backends/cdktf.js';
import {
  PROVISIONER_TYPE,
  PulumiProvisioner,
  type PulumiProvisionerArgs,
  STDIN_WRITER,
  encodeStdin,
  expandHome,
  pulumiConnection,
} from '../lib/backends/pulumi.js';
import { Host } from '../lib/inventory.js';
import { Plan, type StepSpec, groupHash, groupSteps, renderGroupRunner, stepSlug } from '../lib/plan/index.js';
import { secretMarkers, tempDir } from './fixtures.js';

// The wire format of the Pulumi SDK: secrets and assets are objects tagged with these signatures.
const SIG = '4dabf18193072939515e22adb298388d';
const SECRET_SIG = '1b47061264138c4ac30d75fd1eb44270';
const ASSET_SIG = 'c44067f5952c0a294b673a41bacd8c17';

const COMMAND = 'command:remote:Command';
const COPY = 'command:remote:CopyToRemote';
/** A throw-away key made for this run (no key text is committed). */
const KEY_TEXT = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'hakube-pulumi-key-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')]);
  return readFileSync(join(dir, 'id'), 'utf8');
})();

/** A RegisterResource request as the mock monitor received it. */
interface Registration {
  type: string;
  name: string;
  parent: string;
  /** Names of the resources this one depends on (explicit dependsOn and input dependencies). */
  deps: string[];
  /** Inputs as serialized for the engine: secrets and assets still wrapped in their signatures. */
  object: Record<string, any>;
  replaceOnChanges: string[];
  replaceWith: string[];
}

let registrations: Registration[] = [];

const nameOf = (urn: string) => urn.slice(urn.lastIndexOf('::') + 2);

/** Fresh mocks whose monitor records every RegisterResource request into `registrations`. */
async function installMocks(project = 'hakube', stack = 'test', preview = false) {
  registrations = [];
  await pulumi.runtime.setMocks(
    { newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }), call: (args) => args.inputs },
    project,
    stack,
    preview,
  );
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: any, cb: unknown): Promise<void> };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, cb: unknown) => {
    registrations.push({
      type: req.getType(),
      name: req.getName(),
      parent: req.getParent(),
      deps: (req.getDependenciesList() as string[]).map(nameOf).sort(),
      object: req.getObject()?.toJavaScript() ?? {},
      replaceOnChanges: req.getReplaceonchangesList(),
      replaceWith: (req.getReplaceWithList() as string[]).map(nameOf),
    });
    return register(req, cb);
  };
}

beforeEach(() => installMocks());

// Let the last test's registrations (and the component's automatic output registration) finish on its own monitor.
afterEach(async () => {
  await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
});

function keyFile(): string {
  const path = join(tempDir(), 'id_ed25519');
  writeFileSync(path, KEY_TEXT, { mode: 0o600 });
  return path;
}

/** `count` hosts whose key file exists (the Pulumi backend reads it). */
function keyedHosts(count: number, keyPath = keyFile()): Host[] {
  return Array.from({ length: count }, (_, i) => new Host({ name: `node-${i + 1}`, address: `10.77.0.${11 + i}`, privateKeyPath: keyPath }));
}

/** An EtcdCluster plan in a cdktf stack (so the same plan can also be rendered by the cdktf backend). */
async function etcdPlan(members: Host[] = keyedHosts(3)) {
  const secretsDir = tempDir();
  const app = new App({ outdir: tempDir('hakube-cdktf-') });
  const stack = new TerraformStack(app, 'etcd');
  new EtcdCluster(stack, 'etcd', { clusterName: 'lab', members, secretsDir });
  const plan = await Plan.of(stack);
  return { plan, stack, secretsDir };
}

async function render(plan: Plan, args: Omit<PulumiProvisionerArgs, 'plan'> = {}) {
  const provisioner = new PulumiProvisioner('provision', { plan, ...args });
  await provisioner.registered;
  const byName = new Map(registrations.filter((r) => r.type !== PROVISIONER_TYPE).map((r) => [r.name, r]));
  const get = (name: string) => {
    const r = byName.get(name);
    if (!r) throw new Error(`no resource ${name}; have ${[...byName.keys()].join(', ')}`);
    return r;
  };
  return { provisioner, byName, get };
}

/** Every string in a serialized value, except those inside a secret. */
function plainStrings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) plainStrings(v, out);
  else if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (record[SIG] === SECRET_SIG) return out;
    for (const v of Object.values(record)) plainStrings(v, out);
  }
  return out;
}

const secret = (value: unknown) => ({ [SIG]: SECRET_SIG, value });
const unsecret = (value: any) => (value && value[SIG] === SECRET_SIG ? value.value : value);

describe('PulumiProvisioner', () => {
  it('is a hakube:index:Provisioner component that parents every resource', async () => {
    const { plan } = await etcdPlan();
    const { provisioner } = await render(plan);
    expect(registrations[0]).toMatchObject({ type: PROVISIONER_TYPE, name: 'provision' });
    const componentUrn = await new Promise((resolve) => provisioner.urn.apply(resolve));
    const children = registrations.slice(1);
    expect(children.every((r) => r.parent === componentUrn)).toBe(true);
    expect(new Set(children.map((r) => r.type))).toEqual(new Set([COMMAND, COPY]));
    expect(provisioner.combine).toBe('per-step');
  });

  it('renders each step as stage command → one upload per file → script upload → run command, named after the step', async () => {
    const { plan } = await etcdPlan();
    const { get, byName, provisioner } = await render(plan);
    const step = plan.step('etcd-lab/node-2/configure');
    const slug = 'etcd-lab_node-2_configure';
    const fileNames = step.files.map((_, i) => `${slug}-file-${i}`);
    // every resource of every step, and nothing else
    const expected = plan.steps.flatMap((s) => {
      const n = stepSlug(s.id);
      return [`${n}-stage`, ...s.files.map((_, i) => `${n}-file-${i}`), `${n}-script`, n];
    });
    expect([...byName.keys()].sort()).toEqual(expected.sort());

    const stage = get(`${slug}-stage`);
    expect(stage.type).toBe(COMMAND);
    expect(stage.object.create).toBe(
      'umask 077 && mkdir -p /root/.hakube-stage && rm -rf /root/.hakube-stage/etcd-lab_node-2_configure && mkdir /root/.hakube-stage/etcd-lab_node-2_configure',
    );
    // the stage command runs after the run commands of the step's `after`
    expect(stage.deps).toEqual(['etcd-lab_node-1_configure', 'etcd-lab_node-2_install']);
    for (const [i, name] of fileNames.entries()) {
      const upload = get(name);
      expect(upload.type).toBe(COPY);
      expect(upload.object.remotePath).toBe(step.files[i]!.stagedAt);
      expect(upload.deps).toEqual([`${slug}-stage`]);
      expect(upload.replaceWith).toEqual([`${slug}-stage`]);
    }
    const script = get(`${slug}-script`);
    expect(script.object.remotePath).toBe('/root/.hakube-stage/etcd-lab_node-2_configure/run.sh');
    expect(script.object.source).toMatchObject({ [SIG]: ASSET_SIG, text: step.script });
    expect(script.deps).toEqual([`${slug}-stage`]);
    const run = get(slug);
    expect(run.type).toBe(COMMAND);
    expect(run.object.create).toBe('bash /root/.hakube-stage/etcd-lab_node-2_configure/run.sh');
    expect(run.deps).toEqual([...fileNames, `${slug}-script`, `${slug}-stage`].sort());
    expect(run.object.addPreviousOutputInEnv).toBe(false);
    // the handles the component exposes are the same resources
    const handles = provisioner.steps.get(step.id)!;
    expect(handles.uploads).toHaveLength(step.files.length + 1);
    expect(handles.group).toEqual([step.id]);
  });

  it('depends exactly on the plan: each stage command on the run commands of its `after` steps', async () => {
    const { plan } = await etcdPlan();
    const { get } = await render(plan);
    for (const step of plan.steps) {
      expect(get(`${stepSlug(step.id)}-stage`).deps, step.id).toEqual(step.after.map(stepSlug).sort());
    }
    expect(get('etcd-lab_health-stage').deps).toEqual(['etcd-lab_node-1_configure', 'etcd-lab_node-2_configure', 'etcd-lab_node-3_configure']);
  });

  it('uses the step hash as triggers on every resource, and replaces (never updates) on any change', async () => {
    const { plan } = await etcdPlan();
    const { byName } = await render(plan);
    for (const step of plan.steps) {
      const slug = stepSlug(step.id);
      const own = [...byName.values()].filter((r) => r.name === slug || r.name.startsWith(`${slug}-`));
      expect(own.length).toBe(step.files.length + 3);
      for (const r of own) {
        expect(r.object.triggers, r.name).toEqual([step.hash]);
        expect(r.replaceOnChanges, r.name).toContain('*');
      }
    }
  });

  it('passes the private key as a secret only, and never puts key material or tokens into plain inputs', async () => {
    const { plan, secretsDir } = await etcdPlan();
    const { get, provisioner } = await render(plan);
    // @pulumi/command lifts the connection into one output, so the whole connection travels (and is stored) as a secret
    const connection = get('etcd-lab_node-1_install').object.connection;
    expect(connection).toEqual(secret({ host: '10.77.0.11', port: 22, user: 'root', dialErrorLimit: 30, perDialTimeout: 15, privateKey: KEY_TEXT }));
    const markers = [KEY_TEXT.split('\n')[1]!, ...secretMarkers(secretsDir)];
    expect(markers.length).toBeGreaterThan(8);
    const token = readFileSync(join(secretsDir, 'etcd/cluster-token'), 'utf8').trim();
    for (const r of registrations) {
      const plain = plainStrings(r.object).join('\n');
      for (const marker of markers) expect(plain.includes(marker), `${marker.slice(0, 12)}… in ${r.name}`).toBe(false);
      if (!r.name.endsWith('_configure-script') && !r.name.endsWith('_configure-file-0')) {
        // the cluster token is inline in the env file (as in the cdktf backend), nowhere else
        expect(plain.includes(token), r.name).toBe(false);
      }
    }
    // the key is a secret of its own before @pulumi/command wraps the connection, and the resource output stays secret
    const own = pulumiConnection(plan.host('node-1'));
    expect(await pulumi.isSecret(pulumi.output(own.privateKey!))).toBe(true);
    expect(await new Promise((resolve) => pulumi.output(own.privateKey!).apply(resolve))).toBe(KEY_TEXT);
    const run = provisioner.steps.get('etcd-lab/node-1/install')!.run;
    expect(await pulumi.isSecret(run.connection)).toBe(true);
  });

  it('uploads secret files as FileAssets by path, never their content', async () => {
    const { plan, secretsDir } = await etcdPlan();
    const { get } = await render(plan);
    const step = plan.step('etcd-lab/node-2/configure');
    const index = step.files.findIndex((f) => f.path === '/etc/etcd/pki/server.key');
    const upload = get(`etcd-lab_node-2_configure-file-${index}`);
    expect(upload.object.source).toMatchObject({ [SIG]: ASSET_SIG, path: join(secretsDir, 'etcd/node-2-server.key') });
    expect(upload.object.source.text).toBeUndefined();
    expect(upload.object.remotePath).toBe('/root/.hakube-stage/etcd-lab_node-2_configure/4');
    for (const [i, file] of step.files.entries()) {
      const source = get(`etcd-lab_node-2_configure-file-${i}`).object.source;
      if (file.secret) {
        expect(source.path).toBe(`${file.secret.dir}/${file.secret.file}`);
        expect(source.text).toBeUndefined();
      } else {
        expect(source.text).toBe(file.content);
      }
    }
  });

  it('connects with the agent without a key file, pins host keys, and goes through a bastion as proxy', async () => {
    const jumpKey = keyFile();
    const members = [
      new Host({ name: 'a', address: '10.0.0.1', user: 'ops', port: 2222, hostKey: 'ssh-ed25519 AAAAC3Nza', bastion: { address: '10.0.0.254', user: 'jump', privateKeyPath: jumpKey } }),
      new Host({ name: 'b', address: '10.0.0.2' }),
      new Host({ name: 'c', address: '10.0.0.3' }),
    ];
    const { plan } = await etcdPlan(members);
    const { get } = await render(plan, { dialErrorLimit: -1, perDialTimeout: 5 });
    expect(get('etcd-lab_a_install').object.connection).toEqual(secret({
      host: '10.0.0.1', port: 2222, user: 'ops', hostKey: 'ssh-ed25519 AAAAC3Nza', dialErrorLimit: -1, perDialTimeout: 5,
      proxy: { host: '10.0.0.254', port: 22, user: 'jump', privateKey: KEY_TEXT, dialErrorLimit: -1, perDialTimeout: 5 },
    }));
    // no key: nothing set, the provider uses the agent at $SSH_AUTH_SOCK
    expect(get('etcd-lab_b_install').object.connection).toEqual(secret({ host: '10.0.0.2', port: 22, user: 'root', dialErrorLimit: -1, perDialTimeout: 5 }));
    // a non-root user runs the script through sudo, from a stage dir in its home
    expect(get('etcd-lab_a_install').object.create).toBe('sudo -n bash /home/ops/.hakube-stage/etcd-lab_a_install/run.sh');
    expect(get('etcd-lab_a_install-stage').object.create).toContain('mkdir /home/ops/.hakube-stage/etcd-lab_a_install');
  });

  it('leaves replaceWith out when asked (for a Pulumi CLI without the option)', async () => {
    const { plan } = await etcdPlan();
    await render(plan, { replaceWithStage: false });
    expect(registrations.every((r) => r.replaceWith.length === 0)).toBe(true);
  });

  it('fails before registering anything when a key file cannot be read, naming host and path', async () => {
    const members = [new Host({ name: 'solo', address: '10.0.0.9', privateKeyPath: '/nonexistent/id_ed25519' })];
    const { plan } = await etcdPlan(members);
    expect(() => new PulumiProvisioner('p', { plan })).toThrow(/cannot read the SSH private key "\/nonexistent\/id_ed25519" of host solo/);
  });

  it('rejects two steps whose resource names collide', () => {
    const host = keyedHosts(1)[0]!;
    const plan = new Plan([
      { id: 'a/x', host, title: 'x', script: 'true' },
      { id: 'a/x-stage', host, title: 'x-stage', script: 'true' },
    ]);
    expect(() => new PulumiProvisioner('p', { plan })).toThrow(/steps "a\/x" and "a\/x-stage" both need resource name a_x-stage/);
  });

  it('expands ~ in key paths like Terraform pathexpand', () => {
    expect(expandHome('~/.ssh/id')).toMatch(/^\/.*\/\.ssh\/id$/);
    expect(expandHome('/abs/key')).toBe('/abs/key');
  });
});

describe('parity with the cdktf backend', () => {
  it('renders the same steps, edges, hashes, connection, uploads and commands', async () => {
    const { plan, stack } = await etcdPlan();
    new TerraformProvisioner(stack, 'provision', { plan });
    const tf = JSON.parse(Testing.synth(stack)).resource.terraform_data as Record<string, any>;
    const { get, byName } = await render(plan, { combine: 'per-step' });

    // the same steps: one terraform_data per step, one run command per step, with the same names
    const runs = [...byName.values()].filter((r) => r.type === COMMAND && !r.name.endsWith('-stage')).map((r) => r.name);
    expect(runs.sort()).toEqual(Object.keys(tf).sort());
    expect(runs.length).toBe(plan.steps.length);

    for (const step of plan.steps) {
      const slug = stepSlug(step.id);
      const resource = tf[slug];
      const provisioners = resource.provisioner as Array<Record<string, any>>;
      // the same dependency edges
      const tfDeps = ((resource.depends_on ?? []) as string[]).map((d) => d.replace('terraform_data.', '')).sort();
      expect(get(`${slug}-stage`).deps, step.id).toEqual(tfDeps);
      // the same content hash
      expect(get(slug).object.triggers).toEqual([resource.triggers_replace]);
      // the same connection target
      const connection = unsecret(get(slug).object.connection);
      expect([connection.host, connection.port, connection.user]).toEqual([resource.connection.host, resource.connection.port, resource.connection.user]);
      // the same stage preparation
      expect(get(`${slug}-stage`).object.create).toBe(provisioners[0]!['remote-exec'].inline[0]);
      // the same uploads, in the same order, to the same destinations, with the same sources
      const tfUploads = provisioners.filter((p) => p.file).map((p) => p.file);
      const uploads = [...step.files.map((_, i) => get(`${slug}-file-${i}`)), get(`${slug}-script`)].map((r) => r.object);
      expect(uploads.map((u) => u.remotePath)).toEqual(tfUploads.map((u: any) => u.destination));
      uploads.forEach((u, i) => {
        const f = tfUploads[i];
        if (f.source) expect(u.source.path).toBe(f.source);
        else expect(escapeTemplate(u.source.text)).toBe(f.content);
      });
      // the same run command, last
      expect(get(slug).object.create).toBe(provisioners.at(-1)!['remote-exec'].inline[0]);
      expect(provisioners.map((p) => Object.keys(p)[0])).toEqual(['remote-exec', ...uploads.map(() => 'file'), 'remote-exec']);
    }
  });

  it('per-host mode carries the same steps, order, hashes, files and commands in fewer resources', async () => {
    const { plan } = await etcdPlan();
    const { provisioner, byName, get } = await render(plan, { combine: 'per-host' });
    expect(provisioner.combine).toBe('per-host');
    const groups = groupSteps(plan.steps);
    const perHost = groups.reduce((n, g) => {
      const secrets = g.flatMap((s) => s.files.filter((f) => f.secret)).length;
      return n + (secrets ? secrets + 2 : 1);
    }, 0);
    expect(byName.size).toBe(perHost);
    expect(perHost).toBeLessThan(plan.steps.reduce((n, s) => n + s.files.length + 3, 0));
    // every step in exactly one group, in plan order within the group
    expect(groups.flat().map((s) => s.id).sort()).toEqual(plan.steps.map((s) => s.id).sort());
    const position = new Map(plan.steps.map((s, i) => [s.id, i]));
    for (const group of groups) {
      expect(new Set(group.map((s) => s.host)).size).toBe(1);
      const ids = group.map((s) => position.get(s.id)!);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      const handles = provisioner.steps.get(group[0]!.id)!;
      expect(handles.group).toEqual(group.map((s) => s.id));
      const slug = stepSlug(group[0]!.id);
      const run = get(slug);
      expect(run.object.triggers).toEqual(group.map((s) => s.hash));
      // several steps run through the group runner (each only when it changed), one step directly
      const runner = group.length > 1 ? renderGroupRunner(group, groupHash(group)) : undefined;
      const secrets = group.flatMap((s) => s.files.filter((f) => f.secret));
      const writer = secrets.length ? get(`${slug}-stage`) : run;
      // stage directories prepared, inline files and scripts written from stdin, then the steps run in order
      expect(writer.object.create.startsWith([...group.map((s) => s.stageCommand), ...(runner ? [runner.stageCommand] : []), STDIN_WRITER].join(' && '))).toBe(true);
      expect(run.object.create.endsWith(runner ? runner.command : group[0]!.command)).toBe(true);
      const written = (writer.object.stdin as string).trim().split('\n').map((line) => line.split(' '));
      const inline = group.flatMap((s) => [...s.files.filter((f) => !f.secret).map((f) => [f.stagedAt, f.content!]), [s.scriptPath, s.script]]);
      if (runner) inline.push([runner.scriptPath, runner.script]);
      expect(written.map(([path, b64]) => [path, Buffer.from(b64!, 'base64').toString()])).toEqual(inline);
      secrets.forEach((file, i) => {
        const upload = get(`${slug}-file-${i}`);
        expect(upload.object.remotePath).toBe(file.stagedAt);
        expect(upload.object.source.path).toBe(`${file.secret!.dir}/${file.secret!.file}`);
        expect(upload.deps).toEqual([`${slug}-stage`]);
      });
      // a group runs after the groups of every step outside it that its steps run after
      const first = secrets.length ? get(`${slug}-stage`) : run;
      const outside = [...new Set(group.flatMap((s) => s.after).filter((d) => !group.some((s) => s.id === d)))];
      expect(first.deps).toEqual([...new Set(outside.map((d) => stepSlug(provisioner.steps.get(d)!.group[0]!)))].sort());
    }
    // etcd: each member's install + configure run in one group only where that adds no wait (member 1)
    // the first wave stays apart: a group ends with a step another host waits for (hosts/ready), so no member's
    // install waits for member 1's
    expect(groups.map((g) => g.map((s) => s.id))).toEqual([
      ['hosts/node-1/reachable'],
      ['hosts/node-2/reachable'],
      ['hosts/node-3/reachable'],
      ['hosts/ready'],
      ['etcd-lab/node-1/install', 'etcd-lab/node-1/configure'],
      ['etcd-lab/node-2/install'],
      ['etcd-lab/node-3/install'],
      ['etcd-lab/node-2/configure'],
      ['etcd-lab/node-3/configure'],
      ['etcd-lab/health'],
    ]);
  });

  it('the per-host stdin writer reproduces every file byte for byte', () => {
    const dir = tempDir('hakube-stdin-');
    const files = [
      { path: join(dir, 'a'), content: 'plain\n' },
      { path: join(dir, 'b'), content: "quotes ' \" $HOME `x` \\ ${y} %{z}\n\tünïcode ✓\n" },
      { path: join(dir, 'empty'), content: '' },
      { path: join(dir, 'big'), content: 'x'.repeat(300_000) },
    ];
    execFileSync('sh', ['-c', `umask 077 && ${STDIN_WRITER}`], { input: encodeStdin(files) });
    for (const file of files) expect(readFileSync(file.path, 'utf8')).toBe(file.content);
  });

  it('auto renders per-step up to the threshold and per-host above', async () => {
    const { plan } = await etcdPlan();
    expect(new PulumiProvisioner('small', { plan }).combine).toBe('per-step');
    expect(new PulumiProvisioner('large', { plan, autoThreshold: 3 }).combine).toBe('per-host');
  });
});

describe('large plans', () => {
  it('registers in windows of maxPending resources, with the same resources and edges', async () => {
    const host = (n: number) => new Host({ name: `w-${n}`, address: `10.1.0.${n}`, privateKeyPath: keyFile() });
    const specs: StepSpec[] = [];
    for (let n = 1; n <= 12; n++) {
      const h = host(n);
      specs.push(
        { id: `w/w-${n}/install`, host: h, title: 'install', script: 'true', files: [{ path: '/etc/a', mode: '0644', content: `${n}` }] },
        { id: `w/w-${n}/join`, host: h, title: 'join', script: 'true', after: [`w/w-${n}/install`, ...(n > 1 ? ['w/w-1/join'] : [])] },
      );
    }
    const plan = new Plan(specs);
    const provisioner = new PulumiProvisioner('provision', { plan, combine: 'per-step', maxPending: 7 });
    // only the first window is registered when the constructor returns
    expect(provisioner.steps.size).toBeLessThan(plan.steps.length);
    const last = provisioner.resourcesOf('w/w-12/join');
    await provisioner.registered;
    expect(provisioner.steps.size).toBe(plan.steps.length);
    expect((await last).group).toEqual(['w/w-12/join']);
    await expect(provisioner.resourcesOf('w/nope')).rejects.toThrow(/no step "w\/nope"/);
    const stages = registrations.filter((r) => r.name.endsWith('-stage'));
    expect(stages).toHaveLength(plan.steps.length);
    for (const step of plan.steps) {
      expect(stages.find((r) => r.name === `${stepSlug(step.id)}-stage`)!.deps).toEqual(step.after.map(stepSlug).sort());
    }
  });
});

describe('examples/pulumi', () => {
  /** A scratch dir with a hosts.yaml of these entries (all with a throw-away key); returns the dir and the file. */
  function hostsYaml(entries: string[]) {
    const dir = tempDir('hakube-pulumi-example-');
    const hostsFile = join(dir, 'hosts.yaml');
    writeFileSync(hostsFile, [`defaults: { privateKeyPath: ${keyFile()} }`, 'hosts:', ...entries.map((e) => `  - ${e}`)].join('\n'));
    return { dir, hostsFile };
  }

  it('deploys the root app topology (etcd behind a VIP) from hosts.yaml, every step of the plan', async () => {
    const { dir, hostsFile } = hostsYaml([1, 2, 3, 4].map((n) => `{ name: node-${n}, address: 10.77.0.${10 + n} }`));
    await installMocks('hakube-demo', 'lab', true);
    pulumi.runtime.setConfig('hakube-demo:hosts', hostsFile);
    pulumi.runtime.setConfig('hakube-demo:secretsDir', join(dir, 'secrets'));
    const program = (await import('../examples/pulumi/index.js')) as { default: () => Promise<Record<string, unknown>> };
    const outputs = await program.default();
    expect(outputs).toMatchObject({ hosts: ['node-1 10.77.0.11', 'node-2 10.77.0.12', 'node-3 10.77.0.13'], combine: 'per-step' });
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
    const runs = registrations.filter((r) => r.type === COMMAND && !r.name.endsWith('-stage')).map((r) => r.name);
    expect(runs).toHaveLength(outputs.steps as number);
    expect(runs).toContain('etcd-demo_health');
    expect(runs.some((n) => n.startsWith('lb-vip_'))).toBe(true);
    const key2 = registrations.find((r) => r.name === 'etcd-demo_node-2_configure-file-4')!.object.source.path as string;
    expect(key2.startsWith(join(dir, 'secrets', 'demo'))).toBe(true);
  });

  it('deploys the seed-003 HaCluster of the cdktf example with `topology: seed-003`', async () => {
    const { hostsFile } = hostsYaml([
      ...[1, 2, 3].map((n) => `{ name: master-${n}, address: 192.168.0.${20 + n}, labels: { role: control-plane } }`),
      ...[1, 2].map((n) => `{ name: node-${n}, address: 192.168.0.${30 + n}, labels: { role: worker } }`),
    ]);
    await installMocks('hakube-demo', 'lab', true);
    pulumi.runtime.setConfig('hakube-demo:hosts', hostsFile);
    pulumi.runtime.setConfig('hakube-demo:topology', 'seed-003');
    const program = (await import('../examples/pulumi/index.js')) as { default: () => Promise<Record<string, unknown>> };
    const outputs = await program.default();
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
    const runs = registrations.filter((r) => r.type === COMMAND && !r.name.endsWith('-stage')).map((r) => r.name);
    expect(runs).toHaveLength(outputs.steps as number);
    expect(runs).toEqual(expect.arrayContaining(['k8s-onprem_master-1_init', 'k8s-onprem_master-3_join', 'k8s-onprem_node-2_join', 'lb-onprem-api_ready']));
  });
});
