import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CNI_PLUGINS, CNI_PLUGINS_VERSION, cniPluginsRecipe } from '../lib/build/cni-plugins.js';
import { COREDNS_VERSION, corednsRecipe } from '../lib/build/coredns.js';
import { CRICTL_VERSION, crictlRecipe } from '../lib/build/cri-tools.js';
import { ETCD_VERSION, etcdRecipe } from '../lib/build/etcd.js';
import { FLANNEL_VERSION, flannelRecipe } from '../lib/build/flannel.js';
import type { GoRecipe } from '../lib/build/go-module.js';
import { cachedLabArtifacts } from '../lib/build/lab-artifacts.js';
import { PAUSE_CFLAGS, PAUSE_VERSION, type PauseRecipe, buildPause, pauseArtifactDir, pauseHash, pauseRecipe } from '../lib/build/pause.js';
import { buildCommand } from '../lib/cli/build.js';
import { tempDir } from './fixtures.js';

/** The parts of a go.mod the builds depend on. */
function parseGoMod(text: string): { requires: Map<string, string>; tools: Set<string> } {
  const requires = new Map<string, string>();
  const tools = new Set<string>();
  let block: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\/\/.*$/, '').trim();
    if (!line) continue;
    if (block && line === ')') {
      block = undefined;
      continue;
    }
    const open = /^(require|tool|replace|exclude|retract|godebug) \($/.exec(line);
    if (open) {
      block = open[1];
      continue;
    }
    const [directive, rest] = block ? [block, line] : [line.split(/\s+/)[0], line.split(/\s+/).slice(1).join(' ')];
    const fields = rest.split(/\s+/);
    if (directive === 'require') requires.set(fields[0], fields[1]);
    if (directive === 'tool') tools.add(fields[0]);
  }
  return { requires, tools };
}

const gomod = (recipe: GoRecipe) => parseGoMod(readFileSync(join(recipe.moduleDir, 'go.mod'), 'utf8'));

/** Each wrapper module, the module it pins, the version constant it must pin, and the version its stamps carry. */
const MODULES: readonly { recipe: () => GoRecipe; module: string; version: string; stamp: string; commands: readonly string[] }[] = [
  { recipe: etcdRecipe, module: 'go.etcd.io/etcd/server/v3', version: ETCD_VERSION, stamp: 'version.GitSHA=', commands: ['etcd', 'etcdctl', 'etcdutl'] },
  { recipe: corednsRecipe, module: 'github.com/coredns/coredns', version: COREDNS_VERSION, stamp: 'coremain.GitCommit=', commands: ['coredns'] },
  { recipe: cniPluginsRecipe, module: 'github.com/containernetworking/plugins', version: CNI_PLUGINS_VERSION, stamp: `buildversion.BuildVersion=v${CNI_PLUGINS_VERSION}`, commands: Object.keys(CNI_PLUGINS) },
  { recipe: crictlRecipe, module: 'sigs.k8s.io/cri-tools', version: CRICTL_VERSION, stamp: `pkg/version.Version=${CRICTL_VERSION}`, commands: ['crictl'] },
  { recipe: flannelRecipe, module: 'github.com/flannel-io/flannel', version: FLANNEL_VERSION, stamp: `pkg/version.Version=v${FLANNEL_VERSION}`, commands: ['flanneld'] },
];

describe('the lab artifacts\' wrapper modules', () => {
  it.each(MODULES.map((m) => [m.recipe().name, m] as const))('%s pins the version of its recipe, lists every command as a tool and stamps the version', (_name, m) => {
    const recipe = m.recipe();
    const { requires, tools } = gomod(recipe);
    expect(requires.get(m.module), `${m.module} in ${recipe.moduleDir}/go.mod`).toBe(`v${m.version}`);
    expect(recipe.name).toBe(`${recipe.name.split('-v')[0]}-v${m.version}`);
    expect(recipe.commands.map((c) => c.name)).toEqual(m.commands);
    for (const command of recipe.commands) {
      // -mod=readonly only builds packages the module's requirements provide; the tool lines keep them required
      expect(tools, command.pkg).toContain(command.pkg);
      expect(command.ldflags).toMatch(/^-s -w /);
      expect(command.ldflags).toContain(m.stamp);
    }
    expect(readFileSync(join(recipe.moduleDir, 'go.sum'), 'utf8')).toContain(`${m.module} v${m.version} h1:`);
  });

  it('etcd: its three release modules at the same version', () => {
    const { requires } = gomod(etcdRecipe());
    for (const module of ['server', 'etcdctl', 'etcdutl', 'api', 'client', 'pkg']) {
      const path = module === 'client' ? 'go.etcd.io/etcd/client/v3' : `go.etcd.io/etcd/${module}/v3`;
      expect(requires.get(path), path).toBe(`v${ETCD_VERSION}`);
    }
  });

  it('flannel: keeps the tencentcloud common module raised to a version the proxy serves', () => {
    expect(gomod(flannelRecipe()).requires.get('github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common')).toBe('v1.3.103');
  });

  it('flannel: builds with cgo (its amd64 UDP backend is C), linked statically', () => {
    const [flanneld] = flannelRecipe().commands;
    expect(flanneld.cgo).toBe(true);
    expect(flanneld.ldflags).toContain('-linkmode external -extldflags "-static"');
    expect(flanneld.tags).toBe('netgo,osusergo');
    for (const m of MODULES.filter((m) => m.recipe !== flannelRecipe)) expect(m.recipe().commands.some((c) => c.cgo)).toBe(false);
  });
});

describe('pause', () => {
  const gcc = (() => {
    try {
      execFileSync('gcc', ['--version']);
      return true;
    } catch {
      return false;
    }
  })();

  function fakeRecipe(): PauseRecipe {
    const source = join(tempDir('hakube-pause-'), 'pause.c');
    writeFileSync(source, '#include <stdio.h>\n#define S(x) #x\n#define V(x) S(x)\nint main(void) { puts(V(VERSION)); return 0; }\n');
    return { source, cflags: PAUSE_CFLAGS, toolchain: 'gcc (test) 1.0' };
  }

  it('uses upstream build/pause flags with the pinned version', () => {
    expect(PAUSE_CFLAGS.slice(0, 4)).toEqual(['-Os', '-Wall', '-Werror', '-static']);
    expect(PAUSE_CFLAGS[4]).toMatch(new RegExp(`^-DVERSION=v${PAUSE_VERSION.replace(/\./g, '\\.')}-`));
  });

  it('hashes the source file\'s content, the flags and the toolchain', () => {
    const recipe = fakeRecipe();
    const base = pauseHash(recipe);
    expect(pauseHash({ ...recipe })).toBe(base);
    expect(pauseHash({ ...recipe, cflags: [...recipe.cflags, '-g'] })).not.toBe(base);
    expect(pauseHash({ ...recipe, toolchain: 'gcc (test) 2.0' })).not.toBe(base);
    writeFileSync(recipe.source, `${readFileSync(recipe.source, 'utf8')}\n`);
    expect(pauseHash(recipe)).not.toBe(base);
    expect(pauseArtifactDir(recipe)).toMatch(new RegExp(`/pause-${PAUSE_VERSION.replace(/\./g, '\\.')}-[0-9a-f]{16}$`));
  });

  it.skipIf(!gcc)('compiles a static, stripped binary into the cache once', async () => {
    const recipe = { ...fakeRecipe(), toolchain: `test ${Date.now()}` };
    const dir = pauseArtifactDir(recipe);
    try {
      const built = await buildPause(recipe);
      expect(built).toMatchObject({ dir, built: true });
      expect(execFileSync(built.bin.pause, { encoding: 'utf8' })).toBe(`${PAUSE_CFLAGS[4].slice('-DVERSION='.length)}\n`);
      const file = execFileSync('file', [built.bin.pause], { encoding: 'utf8' });
      expect(file).toContain('statically linked');
      expect(file).toMatch(/, stripped$/m);
      expect(await buildPause(recipe)).toMatchObject({ dir, built: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!gcc)('leaves nothing in the cache when gcc fails', async () => {
    const recipe = { ...fakeRecipe(), toolchain: `test ${Date.now()}` };
    writeFileSync(recipe.source, 'int main(void) { unused: return 0; }\n');
    await expect(buildPause(recipe)).rejects.toThrow(/gcc for pause failed/);
    expect(existsSync(pauseArtifactDir(recipe))).toBe(false);
  });

  it.skipIf(!gcc)('finds pause.c in the pinned k8s.io/kubernetes module', () => {
    const recipe = pauseRecipe(true);
    if (!recipe) return; // the module is not in this machine's Go module cache (nothing is downloaded here)
    expect(recipe.source).toMatch(/k8s\.io\/kubernetes@v[\d.]+\/build\/pause\/linux\/pause\.c$/);
    expect(readFileSync(recipe.source, 'utf8')).toContain('VERSION_STRING(VERSION)');
  });
});

describe('hakube build', () => {
  it('names every artifact it can build when given another', async () => {
    await expect(buildCommand(['nothing'])).rejects.toThrow(/opentofu, kubernetes, etcd, coredns, cni-plugins, crictl, flannel, pause, all/);
  });

  const artifacts = cachedLabArtifacts();
  it.skipIf(!artifacts)('finds every lab artifact in the cache with its binaries by name', () => {
    const expected: Record<string, readonly string[]> = {
      kubernetes: ['kubeadm', 'kubelet', 'kubectl', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy'],
      etcd: ['etcd', 'etcdctl', 'etcdutl'],
      coredns: ['coredns'],
      cniPlugins: Object.keys(CNI_PLUGINS),
      crictl: ['crictl'],
      flannel: ['flanneld'],
      pause: ['pause'],
    };
    expect(Object.keys(artifacts ?? {}).sort()).toEqual(Object.keys(expected).sort());
    for (const [key, names] of Object.entries(expected)) {
      for (const name of names) expect(existsSync(join((artifacts as unknown as Record<string, string>)[key], name)), `${key}/${name}`).toBe(true);
    }
  });
});
