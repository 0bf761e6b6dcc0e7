import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostScript } from '../lib/shell.js';
import { fakeBinaries } from './fixtures.js';

/** Run `script` as a step body (CHANGED as given) with the host-wide package lock moved into `dir`. */
function runBody(script: string, env: NodeJS.ProcessEnv, dir: string, changed = 0) {
  const body = `set -euo pipefail\nCHANGED=${changed}\nHAKUBE_CLEANUP=()\n${script.replace('/var/lock/hakube-packages.lock', join(dir, 'lock'))}`;
  return spawnSync('bash', ['-c', body], { env, encoding: 'utf8' });
}

describe('the containerd script (lib/scripts/containerd.sh, run with fake dpkg, apt-get, systemctl and ctr)', () => {
  function host(cri = 'ok') {
    const f = fakeBinaries({
      'dpkg-query': `[ -f "${'$'}(dirname "$0")/../installed" ] && printf installed || printf not-installed`,
      // dpkg keeps hakube's config.toml only with DPKG_FORCE=confdef,confold
      'apt-get': `case " $* " in *" install "*) ;; *) exit 0 ;; esac; [ "$DPKG_FORCE" = confdef,confold ] || exit 9; touch "${'$'}(dirname "$0")/../installed"`,
      systemctl: `case $1 in is-active) [ -f "${'$'}(dirname "$0")/../active" ];; start|restart) touch "${'$'}(dirname "$0")/../active";; esac`,
      ctr: `[ "$1" = plugins ] && echo "io.containerd.grpc.v1  cri  linux/amd64  ${cri}"; true`,
      containerd: 'echo "containerd github.com/containerd/containerd 1.7.24"',
      timeout: 'shift; "$@"',
      journalctl: 'true',
    });
    const config = join(f.dir, 'config.toml');
    writeFileSync(config, 'version = 2\n');
    const script = hostScript(
      { os_family: 'debian', containerd_package: 'containerd', containerd_config: config, containerd_applied: join(f.dir, 'applied'), repo_file_url: '', repo_file: join(f.dir, 'x.repo'), proxy: '' },
      'packages.sh', 'services.sh', 'containerd.sh',
    );
    const run = () => {
      f.reset();
      const r = runBody(script, f.env, f.dir);
      return { ...r, calls: f.calls().filter((c) => /^(apt-get|systemctl (start|restart))/.test(c)) };
    };
    return { run, config };
  }

  it('installs containerd once (keeping the placed config), starts it, restarts it only when its config changed', () => {
    const h = host();
    const first = h.run();
    expect(first.stderr).toBe('');
    expect(first.calls).toEqual([
      'apt-get -q -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 update',
      'apt-get -q -y -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 install --no-install-recommends containerd',
      'systemctl start containerd.service',
    ]);
    expect(first.stdout).toContain('hakube: containerd github.com/containerd/containerd 1.7.24, CRI plugin ok\n');
    expect(h.run().calls).toEqual([]);
    writeFileSync(h.config, 'version = 2\n# changed\n');
    expect(h.run().calls).toEqual(['systemctl restart containerd.service']);
  });

  it('fails when the CRI plugin did not load (kubelet could not use containerd)', () => {
    const r = host('error').run();
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("hakube: containerd's CRI plugin is error, not ok: kubelet cannot use containerd\n");
  });
});

describe('the Kubernetes packages script (lib/scripts/kube-packages-debian.sh, run with fake dpkg, apt and curl)', () => {
  /** `installed`: package → version already installed. */
  function host(installed: Record<string, string> = {}) {
    const f = fakeBinaries({
      'dpkg-query': `s="${'$'}(dirname "$0")/../state-${'$'}{@: -1}"; [ -f "$s" ] && cat "$s"; true`,
      'apt-cache': `printf ' %s | 1.31.2-1.1 | http://mirror/x/ Packages\\n %s | 1.31.1-1.1 | http://mirror/x/ Packages\\n' "$2" "$2"`,
      // an install records each pkg=version as installed
      'apt-get': `for a in "$@"; do case $a in *=*) printf 'installed %s' "${'$'}{a#*=}" > "${'$'}(dirname "$0")/../state-${'$'}{a%%=*}";; esac; done`,
      'apt-mark': 'true',
      curl: 'while [ $# -gt 0 ]; do [ "$1" = -o ] && echo key > "$2"; shift; done',
      gpg: 'while [ $# -gt 0 ]; do [ "$1" = -o ] && echo keyring > "$2"; shift; done',
      crictl: 'echo "crictl version v1.34.0"',
      kubelet: 'echo "Kubernetes v1.31.2"',
      kubeadm: 'echo v1.31.2',
      systemctl: 'true',
      timeout: 'shift; "$@"',
    });
    for (const [pkg, version] of Object.entries(installed)) writeFileSync(join(f.dir, `state-${pkg}`), `installed ${version}`);
    const path = (name: string) => join(f.dir, name);
    const script = hostScript(
      {
        want: '1.31.2',
        packages: ['kubelet', 'kubeadm', 'kubectl'],
        repo_url: 'http://mirror/x/',
        keyring: path('keyrings/kubernetes.gpg'),
        source_list: path('kubernetes.list'),
        source_line: `deb [signed-by=${path('keyrings/kubernetes.gpg')}] http://mirror/x/ /`,
        proxy: '',
      },
      'packages.sh', 'kube-packages-debian.sh',
    );
    const run = () => {
      f.reset();
      const r = runBody(script, f.env, f.dir);
      return { ...r, calls: f.calls().filter((c) => /^(apt-get|apt-mark|curl)/.test(c)) };
    };
    return { run, path };
  }

  it('adds the repository, installs the pinned version of each package and holds them; a re-run changes nothing', () => {
    const h = host();
    const first = h.run();
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.calls).toEqual([
      'curl -fsSL --retry 3 -o ' + first.calls[0]!.split(' -o ')[1], // the key, into a temporary directory
      'apt-get -q -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 update',
      'apt-get -q -y -o DPkg::Lock::Timeout=600 install --no-install-recommends --allow-change-held-packages kubelet=1.31.2-1.1 kubeadm=1.31.2-1.1 kubectl=1.31.2-1.1',
      'apt-mark hold kubelet kubeadm kubectl',
    ]);
    expect(first.calls[0]).toMatch(/\/Release\.key http:\/\/mirror\/x\/Release\.key$/);
    expect(readFileSync(h.path('keyrings/kubernetes.gpg'), 'utf8')).toBe('keyring\n');
    expect(readFileSync(h.path('kubernetes.list'), 'utf8')).toBe(`deb [signed-by=${h.path('keyrings/kubernetes.gpg')}] http://mirror/x/ /\n`);
    const again = h.run();
    expect(again.calls).toEqual(['apt-mark hold kubelet kubeadm kubectl']);
    expect(again.stdout).toContain('hakube: kubelet kubeadm kubectl already at 1.31.2\n');
  });

  it('refuses to change the version of installed packages (an upgrade is kubeadm\'s job)', () => {
    const r = host({ kubelet: '1.30.4-1.1' }).run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('hakube: installed at another version than 1.31.2: kubelet 1.30.4-1.1\n');
    expect(r.calls).toEqual([]);
  });
});
