import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUILD_CACHE_DIR, type GoRecipe, artifactDir, buildGoRecipe, cachedArtifact, recipeHash } from '../lib/build/go-module.js';
import { KUBERNETES_COMMANDS, KUBERNETES_VERSION, kubernetesRecipe } from '../lib/build/kubernetes.js';
import { opentofuRecipe } from '../lib/build/opentofu.js';
import { tempDir } from './fixtures.js';

/** A wrapper module of its own with one tiny command, so a real `go build` takes a second. */
function tinyRecipe(): GoRecipe {
  const dir = tempDir('hakube-go-');
  writeFileSync(join(dir, 'go.mod'), `module hakube.test/tiny${Date.now()}\n\ngo 1.22\n`);
  writeFileSync(join(dir, 'go.sum'), '');
  mkdirSync(join(dir, 'hello'));
  writeFileSync(join(dir, 'hello', 'main.go'), 'package main\n\nimport "fmt"\n\nvar greeting = "unset"\n\nfunc main() { fmt.Println(greeting) }\n');
  const module = execFileSync('sed', ['-n', 's/^module //p', join(dir, 'go.mod')], { encoding: 'utf8' }).trim();
  return { name: 'test-tiny', moduleDir: dir, commands: [{ name: 'hello', pkg: `${module}/hello`, ldflags: '-s -w -X main.greeting=pinned' }] };
}

describe('Go builds from wrapper modules', () => {
  it('hashes the recipe: go.mod, go.sum, commands and flags, and the Go version', () => {
    const recipe = tinyRecipe();
    const base = recipeHash(recipe, 'go1.26.8 linux/amd64');
    expect(recipeHash(recipe, 'go1.26.8 linux/amd64')).toBe(base);
    expect(recipeHash(recipe, 'go1.27.3 linux/amd64')).not.toBe(base);
    expect(recipeHash({ ...recipe, commands: [{ ...recipe.commands[0], ldflags: '-X main.greeting=other' }] }, 'go1.26.8 linux/amd64')).not.toBe(base);
    writeFileSync(join(recipe.moduleDir, 'go.sum'), 'example.com/x v1.0.0 h1:abc=\n');
    expect(recipeHash(recipe, 'go1.26.8 linux/amd64')).not.toBe(base);
  });

  it('hashes the C toolchain only for a recipe with a cgo command', () => {
    const recipe = tinyRecipe();
    const go = 'go1.26.8 linux/amd64';
    expect(recipeHash(recipe, go, 'gcc 12')).toBe(recipeHash(recipe, go, 'gcc 13'));
    const cgo = { ...recipe, commands: [{ ...recipe.commands[0], cgo: true }] };
    expect(recipeHash(cgo, go, 'gcc 12')).not.toBe(recipeHash(recipe, go, 'gcc 12'));
    expect(recipeHash(cgo, go, 'gcc 12')).not.toBe(recipeHash(cgo, go, 'gcc 13'));
  });

  it('builds static binaries with the flags into the machine-wide cache once, then reuses them', async () => {
    const recipe = tinyRecipe();
    const dir = artifactDir(recipe);
    expect(dir.startsWith(`${BUILD_CACHE_DIR}/test-tiny-`)).toBe(true);
    try {
      expect(cachedArtifact(recipe)).toBeUndefined();
      const built = await buildGoRecipe(recipe);
      expect(built.built).toBe(true);
      expect(execFileSync(built.bin.hello, { encoding: 'utf8' })).toBe('pinned\n');
      expect(execFileSync('file', [built.bin.hello], { encoding: 'utf8' })).toMatch(/statically linked/);
      const again = await buildGoRecipe(recipe);
      expect(again).toMatchObject({ built: false, dir });
      expect(readdirSync(BUILD_CACHE_DIR).filter((d) => d.startsWith(`${basename(dir)}.partial-`))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('clears partial builds of processes that are gone, not those of running ones', async () => {
    const recipe = tinyRecipe();
    const dir = artifactDir(recipe);
    const abandoned = `${dir}.partial-999999999`; // above the kernel's pid limit: never a running process
    const running = `${dir}.partial-${process.ppid}`;
    try {
      for (const partial of [abandoned, running]) mkdirSync(join(partial, 'bin'), { recursive: true });
      await buildGoRecipe(recipe);
      expect(existsSync(abandoned)).toBe(false);
      expect(existsSync(running)).toBe(true);
    } finally {
      for (const path of [dir, abandoned, running]) rmSync(path, { recursive: true, force: true });
    }
  }, 120_000);

  it('leaves nothing in the cache when a build fails', async () => {
    const recipe = tinyRecipe();
    writeFileSync(join(recipe.moduleDir, 'hello', 'main.go'), 'package main\n\nfunc main() { undefined() }\n');
    await expect(buildGoRecipe(recipe)).rejects.toThrow(/go build of .*hello .*failed[\s\S]*undefined/);
    expect(existsSync(artifactDir(recipe))).toBe(false);
    expect(readdirSync(BUILD_CACHE_DIR).filter((d) => d.startsWith('test-tiny-'))).toEqual([]);
  }, 120_000);

  it('pins OpenTofu with the replace line its own go.mod needs', () => {
    const gomod = execFileSync('cat', [join(opentofuRecipe().moduleDir, 'go.mod')], { encoding: 'utf8' });
    expect(gomod).toMatch(/^require github.com\/opentofu\/opentofu v1\.12\.6$|\tgithub.com\/opentofu\/opentofu v1\.12\.6/m);
    expect(gomod).toMatch(/^replace github.com\/hashicorp\/hcl\/v2 v2\.20\.1 => github.com\/opentofu\/hcl\/v2 /m);
    expect(gomod).toMatch(/^tool github.com\/opentofu\/opentofu\/cmd\/tofu$/m);
  });
});

describe('the Kubernetes wrapper module', () => {
  const gomod = () => readFileSync(join(kubernetesRecipe().moduleDir, 'go.mod'), 'utf8');

  it('requires the pinned k8s.io/kubernetes and replaces every staging module with the matching v0 release', () => {
    expect(gomod()).toMatch(new RegExp(`^\\tk8s\\.io/kubernetes v${KUBERNETES_VERSION.replace(/\./g, '\\.')}( |$)`, 'm'));
    const replaces = [...gomod().matchAll(/^\t(k8s\.io\/\S+) => (k8s\.io\/\S+) (v\S+)$/gm)];
    expect(replaces.length).toBeGreaterThanOrEqual(25);
    const v0 = `v0.${KUBERNETES_VERSION.split('.').slice(1).join('.')}`;
    for (const [, from, to, version] of replaces) {
      expect(to, from).toBe(from);
      expect(version, from).toBe(v0);
    }
    for (const name of KUBERNETES_COMMANDS) expect(gomod()).toContain(`\tk8s.io/kubernetes/cmd/${name}\n`);
  });

  it('replaces every staging module it requires (required as v0.0.0 or the matching v0 release)', () => {
    const v0 = `v0.${KUBERNETES_VERSION.split('.').slice(1).join('.')}`;
    const replaced = new Set([...gomod().matchAll(/^\t(k8s\.io\/\S+) => /gm)].map((m) => m[1]));
    const staging = [...gomod().matchAll(/^\t(k8s\.io\/\S+) (v\S+)( |$)/gm)].filter(([, , version]) => version === 'v0.0.0' || version === v0).map((m) => m[1]);
    expect(staging.length).toBeGreaterThanOrEqual(25);
    for (const module of staging) expect(replaced, module).toContain(module);
  });

  it('stamps the version kubeadm compares into every command', () => {
    const recipe = kubernetesRecipe();
    expect(recipe.commands.map((c) => c.name)).toEqual([...KUBERNETES_COMMANDS]);
    for (const command of recipe.commands) {
      for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
        expect(command.ldflags).toContain(`-X ${pkg}.gitVersion=v${KUBERNETES_VERSION}`);
        expect(command.ldflags).toContain(`-X ${pkg}.gitMajor=1`);
        expect(command.ldflags).toContain(`-X ${pkg}.gitMinor=${KUBERNETES_VERSION.split('.')[1]}`);
      }
    }
  });
});
