import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  buildKubernetesDebs,
  debSources,
  installedSizeKiB,
  kubernetesDebSpecs,
  renderDebControl,
  renderKubeadmDropIn,
  renderKubeletDefaults,
  renderKubeletUnit,
} from '../lib/airgap/debs.js';
import { sha256 } from '../lib/airgap/exec.js';
import { HAVE_REAL_KUBERNETES, REAL_KUBERNETES_BIN, fakeArtifacts, parseStanza, parseUnit, sh } from './airgap-fixtures.js';
import { tempDir } from './fixtures.js';

const VERSIONS = { kubernetes: '1.34.12', criTools: '1.34.0', cni: '1.9.1' };
const SOURCES = { kubelet: '/b/kubelet', kubeadm: '/b/kubeadm', kubectl: '/b/kubectl', crictl: '/b/crictl', cniPlugins: { portmap: '/c/portmap', bridge: '/c/bridge' } };

/** Split a Depends value into package names with their constraints. */
function depends(value: string | undefined): string[] {
  return value ? value.split(',').map((dep) => dep.trim()) : [];
}

describe('Kubernetes Debian packages: control fields', () => {
  const specs = kubernetesDebSpecs(VERSIONS, SOURCES);
  const control = (name: string) => parseStanza(renderDebControl(specs.find((spec) => spec.name === name)!, 1234));

  it('has the five pkgs.k8s.io packages at pkgs.k8s.io versions (<upstream>-1.1), amd64', () => {
    expect(specs.map((spec) => spec.name)).toEqual(['cri-tools', 'kubeadm', 'kubectl', 'kubelet', 'kubernetes-cni']);
    expect(control('kubelet').Version).toBe('1.34.12-1.1');
    expect(control('kubeadm').Version).toBe('1.34.12-1.1');
    expect(control('kubectl').Version).toBe('1.34.12-1.1');
    expect(control('cri-tools').Version).toBe('1.34.0-1.1');
    expect(control('kubernetes-cni').Version).toBe('1.9.1-1.1');
    for (const spec of specs) {
      expect(control(spec.name).Architecture).toBe('amd64');
      expect(control(spec.name).Package).toBe(spec.name);
      expect(control(spec.name)['Installed-Size']).toBe('1234');
    }
  });

  it('kubelet depends on iptables, kubernetes-cni >= 1.2.0, mount and util-linux; kubeadm, kubectl and the tools on nothing', () => {
    expect(depends(control('kubelet').Depends).sort()).toEqual(['iptables (>= 1.4.21)', 'kubernetes-cni (>= 1.2.0)', 'mount', 'util-linux']);
    for (const name of ['kubeadm', 'kubectl', 'cri-tools', 'kubernetes-cni']) expect(control(name).Depends).toBeUndefined();
  });

  it('every kubelet dependency is a package Debian 12 has (or one of the site)', () => {
    const names = depends(control('kubelet').Depends).map((dep) => dep.split(' ')[0]);
    for (const name of names.filter((n) => n !== 'kubernetes-cni')) {
      const policy = sh('apt-cache', ['show', '--no-all-versions', name]);
      expect(policy.status, `${name}: ${policy.stderr}`).toBe(0);
      expect(policy.stdout).toContain(`Package: ${name}`);
    }
  });

  it('writes a Description with a summary line and indented continuation lines', () => {
    const text = renderDebControl(specs.find((spec) => spec.name === 'kubelet')!, 1);
    const lines = text.trimEnd().split('\n');
    const at = lines.findIndex((line) => line.startsWith('Description: '));
    expect(at).toBeGreaterThan(0);
    expect(lines.slice(at + 1).length).toBeGreaterThan(0);
    for (const line of lines.slice(at + 1)) expect(line).toMatch(/^ \S/);
    expect(text.endsWith('\n')).toBe(true);
  });

  it('installs binaries in /usr/bin, the CNI plugins in /opt/cni/bin, and the units where systemd looks', () => {
    const paths = (name: string) => specs.find((spec) => spec.name === name)!.files.map((file) => file.path);
    expect(paths('kubelet')).toEqual(expect.arrayContaining(['/usr/bin/kubelet', '/usr/lib/systemd/system/kubelet.service', '/etc/default/kubelet']));
    expect(paths('kubeadm')).toEqual(expect.arrayContaining(['/usr/bin/kubeadm', '/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf']));
    expect(paths('kubectl')).toEqual(['/usr/bin/kubectl']);
    expect(paths('cri-tools')).toEqual(['/usr/bin/crictl']);
    expect(paths('kubernetes-cni').sort()).toEqual(['/opt/cni/bin/bridge', '/opt/cni/bin/portmap']);
    expect(specs.find((spec) => spec.name === 'kubelet')!.conffiles).toEqual(['/etc/default/kubelet']);
  });

  it('rejects a version with a leading v and a plugin-less kubernetes-cni, naming the input', () => {
    expect(() => kubernetesDebSpecs({ ...VERSIONS, kubernetes: 'v1.34.12' }, SOURCES)).toThrow(/kubernetes "v1.34.12"/);
    expect(() => kubernetesDebSpecs(VERSIONS, { ...SOURCES, cniPlugins: {} })).toThrow(/cniPlugins is empty/);
  });

  it('counts Installed-Size as dpkg does: files rounded up to KiB, one per directory', () => {
    expect(installedSizeKiB([1, 1024, 1025], 3)).toBe(1 + 1 + 2 + 3);
    expect(installedSizeKiB([], 0)).toBe(0);
  });
});

describe('kubelet units', () => {
  it('kubelet.service runs /usr/bin/kubelet, restarts forever, after the network is online, wanted by multi-user', () => {
    const unit = parseUnit(renderKubeletUnit());
    expect(unit.Service.ExecStart).toEqual(['/usr/bin/kubelet']);
    expect(unit.Service.Restart).toEqual(['always']);
    expect(unit.Unit.After).toEqual(['network-online.target']);
    expect(unit.Unit.Wants).toEqual(['network-online.target']);
    expect(unit.Install.WantedBy).toEqual(['multi-user.target']);
    // no start limit: a kubelet that waits for kubeadm restarts for as long as it takes
    expect([...(unit.Unit.StartLimitIntervalSec ?? []), ...(unit.Service.StartLimitInterval ?? [])]).toContain('0');
  });

  it("kubeadm's drop-in reads kubeadm's flags and /etc/default/kubelet (both optional) and passes every flag", () => {
    const unit = parseUnit(renderKubeadmDropIn());
    expect(unit.Service.EnvironmentFile).toEqual(['-/var/lib/kubelet/kubeadm-flags.env', '-/etc/default/kubelet']);
    // ExecStart is reset first, then set once
    expect(unit.Service.ExecStart[0]).toBe('');
    expect(unit.Service.ExecStart).toHaveLength(2);
    const exec = unit.Service.ExecStart[1];
    expect(exec.startsWith('/usr/bin/kubelet ')).toBe(true);
    const env = Object.fromEntries(unit.Service.Environment.map((entry) => entry.replace(/^"|"$/g, '').split(/=(.*)/s).slice(0, 2)));
    // every flag kubeadm relies on reaches kubelet, directly or through a variable ExecStart expands
    const expanded = exec.replace(/\$(\w+)/g, (_, name: string) => env[name] ?? `$${name}`);
    expect(expanded).toContain('--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf');
    expect(expanded).toContain('--kubeconfig=/etc/kubernetes/kubelet.conf');
    expect(expanded).toContain('--config=/var/lib/kubelet/config.yaml');
    expect(expanded).toContain('$KUBELET_KUBEADM_ARGS');
    expect(expanded).toContain('$KUBELET_EXTRA_ARGS');
    expect(expanded.indexOf('$KUBELET_KUBEADM_ARGS')).toBeLessThan(expanded.indexOf('$KUBELET_EXTRA_ARGS'));
  });

  it('/etc/default/kubelet sets an empty KUBELET_EXTRA_ARGS', () => {
    expect(renderKubeletDefaults().split('\n').filter((line) => line && !line.startsWith('#'))).toEqual(['KUBELET_EXTRA_ARGS=']);
  });
});

describe('building the packages with dpkg-deb', () => {
  it('builds installable packages with the fields, paths and modes, byte-identical on a rebuild', async () => {
    const artifacts = fakeArtifacts();
    const first = await buildKubernetesDebs(artifacts, VERSIONS, tempDir('hakube-airgap-debs-'));
    expect(first.built).toBe(true);
    expect(first.debs.map((deb) => deb.slice(deb.lastIndexOf('/') + 1))).toEqual([
      'cri-tools_1.34.0-1.1_amd64.deb',
      'kubeadm_1.34.12-1.1_amd64.deb',
      'kubectl_1.34.12-1.1_amd64.deb',
      'kubelet_1.34.12-1.1_amd64.deb',
      'kubernetes-cni_1.9.1-1.1_amd64.deb',
    ]);
    const kubelet = first.debs.find((deb) => deb.includes('/kubelet_'))!;
    const fields = parseStanza(sh('dpkg-deb', ['-f', kubelet]).stdout);
    expect(fields.Depends).toContain('kubernetes-cni (>= 1.2.0)');
    const listing = sh('dpkg-deb', ['-c', kubelet]).stdout;
    expect(listing).toMatch(/-rwxr-xr-x root\/root .* \.\/usr\/bin\/kubelet\n/);
    expect(listing).toMatch(/-rw-r--r-- root\/root .* \.\/usr\/lib\/systemd\/system\/kubelet\.service\n/);
    expect(listing).toMatch(/ 1970-01-01 00:00 \.\/etc\/default\/kubelet\n/);
    expect(sh('dpkg-deb', ['-c', first.debs.find((deb) => deb.includes('kubernetes-cni'))!]).stdout).toMatch(/-rwxr-xr-x root\/root .* \.\/opt\/cni\/bin\/bridge\n/);
    // the package's binary is the artifact's
    const out = tempDir('hakube-airgap-x-');
    expect(sh('dpkg-deb', ['-x', kubelet, out]).status).toBe(0);
    expect(readFileSync(join(out, 'usr/bin/kubelet'), 'utf8')).toBe(readFileSync(join(artifacts.kubernetes, 'kubelet'), 'utf8'));
    // dpkg accepts the control data (as it would at install time)
    expect(sh('dpkg-deb', ['--info', kubelet, 'control']).stdout).toContain('Package: kubelet');
    expect(sh('dpkg-deb', ['--ctrl-tarfile', kubelet]).status).toBe(0);

    // a fresh cache gives the same bytes; the same cache is not rebuilt
    const second = await buildKubernetesDebs(artifacts, VERSIONS, tempDir('hakube-airgap-debs-'));
    expect(second.debs.map((deb) => sha256(readFileSync(deb)))).toEqual(first.debs.map((deb) => sha256(readFileSync(deb))));
    const again = await buildKubernetesDebs(artifacts, VERSIONS, first.dir.slice(0, first.dir.indexOf('/debs/')));
    expect(again.built).toBe(false);
  }, 60_000);

  it('names the artifact directory and binary that is missing', () => {
    const artifacts = fakeArtifacts();
    expect(() => debSources({ ...artifacts, crictl: '/nonexistent-crictl-dir' })).toThrow(/artifacts\.crictl: \/nonexistent-crictl-dir\/crictl is missing/);
  });

  it.skipIf(!HAVE_REAL_KUBERNETES)('packages the real v1.34.12 binaries: the packaged kubeadm reports v1.34.12', async () => {
    const cache = tempDir('hakube-airgap-debs-');
    const built = await buildKubernetesDebs(fakeArtifacts(REAL_KUBERNETES_BIN), VERSIONS, cache);
    const out = tempDir('hakube-airgap-x-');
    onTestFinished(() => {
      for (const dir of [cache, out]) rmSync(dir, { recursive: true, force: true });
    });
    expect(sh('dpkg-deb', ['-x', built.debs.find((deb) => deb.includes('/kubeadm_'))!, out]).status).toBe(0);
    expect(sh(join(out, 'usr/bin/kubeadm'), ['version', '-o', 'short']).stdout.trim()).toBe('v1.34.12');
    const size = Number(parseStanza(sh('dpkg-deb', ['-f', built.debs.find((deb) => deb.includes('/kubelet_'))!]).stdout)['Installed-Size']);
    // kubelet is ~60 MB: Installed-Size (KiB) must be in that range
    expect(size).toBeGreaterThan(40_000);
    expect(size).toBeLessThan(120_000);
  }, 120_000);
});
