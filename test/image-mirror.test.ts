import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { mirrorImage, rewriteManifestImages } from '../lib/render/image-mirror.js';

const REPO = '10.77.0.1:5000/k8s';
const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('mirrorImage', () => {
  it.each([
    ['docker.io/flannel/flannel:v0.26.1', '10.77.0.1:5000/k8s/flannel/flannel:v0.26.1'],
    ['ghcr.io/flannel-io/flannel-cni-plugin:v1.5.1-flannel2', '10.77.0.1:5000/k8s/flannel-io/flannel-cni-plugin:v1.5.1-flannel2'],
    ['quay.io/tigera/operator:v1.34.5', '10.77.0.1:5000/k8s/tigera/operator:v1.34.5'],
    ['registry.k8s.io/pause:3.10', '10.77.0.1:5000/k8s/pause:3.10'],
    // no registry: Docker Hub, and a single name is in its "library" namespace
    ['busybox:1.36', '10.77.0.1:5000/k8s/library/busybox:1.36'],
    ['busybox', '10.77.0.1:5000/k8s/library/busybox'],
    ['docker.io/busybox:1.36', '10.77.0.1:5000/k8s/library/busybox:1.36'],
    ['calico/node:v3.28.2', '10.77.0.1:5000/k8s/calico/node:v3.28.2'],
    // a registry with a port, and localhost
    ['registry.example.com:5000/team/app:1.0', '10.77.0.1:5000/k8s/team/app:1.0'],
    ['localhost/app:1', '10.77.0.1:5000/k8s/app:1'],
    // digests, with and without a tag
    [`quay.io/tigera/operator@${DIGEST}`, `10.77.0.1:5000/k8s/tigera/operator@${DIGEST}`],
    [`docker.io/flannel/flannel:v0.26.1@${DIGEST}`, `10.77.0.1:5000/k8s/flannel/flannel:v0.26.1@${DIGEST}`],
    [`busybox@${DIGEST}`, `10.77.0.1:5000/k8s/library/busybox@${DIGEST}`],
    // already in the mirror: unchanged
    ['10.77.0.1:5000/k8s/flannel/flannel:v0.26.1', '10.77.0.1:5000/k8s/flannel/flannel:v0.26.1'],
  ])('%s → %s', (image, mirrored) => {
    expect(mirrorImage(image, REPO)).toBe(mirrored);
  });

  it('works with a repository that is only a registry host', () => {
    expect(mirrorImage('docker.io/flannel/flannel:v0.26.1', 'mirror.internal')).toBe('mirror.internal/flannel/flannel:v0.26.1');
    expect(mirrorImage('busybox:1.36', 'mirror.internal')).toBe('mirror.internal/library/busybox:1.36');
  });

  it('refuses what is not an image reference', () => {
    expect(() => mirrorImage('${FLANNEL_IMAGE}', REPO)).toThrow(/"\$\{FLANNEL_IMAGE\}" is not a container image reference/);
    expect(() => mirrorImage('Docker.io/Flannel:v1', REPO)).toThrow(/is not a container image reference/);
  });
});

describe('rewriteManifestImages', () => {
  // the shape of flannel's release manifest (kube-flannel.yml), trimmed
  const flannel = `---
kind: Namespace
apiVersion: v1
metadata:
  name: kube-flannel
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kube-flannel-ds
  namespace: kube-flannel
spec:
  template:
    spec:
      initContainers:
      - name: install-cni-plugin
        image: docker.io/flannel/flannel-cni-plugin:v1.5.1-flannel2
        command:
        - cp
      - name: install-cni
        image: docker.io/flannel/flannel:v0.26.1
      containers:
      - name: kube-flannel
        image: docker.io/flannel/flannel:v0.26.1 # the daemon
        env:
        - name: POD_NAME
`;

  it('points flannel\'s images at the mirror and keeps every other byte', () => {
    const out = rewriteManifestImages(flannel, REPO);
    expect(out).toBe(flannel
      .replace('image: docker.io/flannel/flannel-cni-plugin:v1.5.1-flannel2', 'image: 10.77.0.1:5000/k8s/flannel/flannel-cni-plugin:v1.5.1-flannel2')
      .replace('image: docker.io/flannel/flannel:v0.26.1\n', 'image: 10.77.0.1:5000/k8s/flannel/flannel:v0.26.1\n')
      .replace('image: docker.io/flannel/flannel:v0.26.1 # the daemon', 'image: 10.77.0.1:5000/k8s/flannel/flannel:v0.26.1 # the daemon'));
    const ds = (yaml.loadAll(out) as any[])[1];
    expect(ds.spec.template.spec.initContainers.map((c: any) => c.image)).toEqual([
      '10.77.0.1:5000/k8s/flannel/flannel-cni-plugin:v1.5.1-flannel2',
      '10.77.0.1:5000/k8s/flannel/flannel:v0.26.1',
    ]);
    expect(ds.spec.template.spec.containers[0].image).toBe('10.77.0.1:5000/k8s/flannel/flannel:v0.26.1');
  });

  it('rewrites calico-style quoted images, list items and digests, and leaves schema properties named "image" alone', () => {
    const calico = [
      'apiVersion: apiextensions.k8s.io/v1',
      'kind: CustomResourceDefinition',
      'spec:',
      '  versions:',
      '  - schema:',
      '      openAPIV3Schema:',
      '        properties:',
      '          image:',
      '            description: the image to use',
      '            type: string',
      '---',
      'apiVersion: apps/v1',
      'kind: Deployment',
      'spec:',
      '  template:',
      '    spec:',
      '      containers:',
      '        - image: "quay.io/tigera/operator:v1.34.5"',
      '          name: tigera-operator',
      `        - image: 'busybox@${DIGEST}'`,
      '          name: helper',
      '',
    ].join('\r\n');
    const out = rewriteManifestImages(calico, REPO);
    expect(out).toContain('        - image: "10.77.0.1:5000/k8s/tigera/operator:v1.34.5"\r\n');
    expect(out).toContain(`        - image: '10.77.0.1:5000/k8s/library/busybox@${DIGEST}'\r\n`);
    expect(out).toContain('          image:\r\n            description: the image to use');
    expect(out.split('\r\n')).toHaveLength(calico.split('\r\n').length);
  });

  it('is idempotent and leaves a manifest without images as it is', () => {
    const once = rewriteManifestImages(flannel, REPO);
    expect(rewriteManifestImages(once, REPO)).toBe(once);
    const plain = 'apiVersion: v1\nkind: ConfigMap\ndata:\n  image: "not a field of a pod"\n';
    expect(() => rewriteManifestImages(plain, REPO)).toThrow(/image "not a field of a pod" is not written as "image: <reference>"/);
    expect(rewriteManifestImages('apiVersion: v1\nkind: Namespace\n', REPO)).toBe('apiVersion: v1\nkind: Namespace\n');
  });

  it('refuses images it cannot point at the mirror, naming them', () => {
    expect(() => rewriteManifestImages('spec:\n  containers:\n  - image: ${IMAGE}\n', REPO)).toThrow(/line 3: "\$\{IMAGE\}" is not a container image reference/);
    expect(() => rewriteManifestImages('spec:\n  containers: [{ name: a, image: "quay.io/x/y:1" }]\n', REPO)).toThrow(/image "quay.io\/x\/y:1" is not written as "image: <reference>" on a line of its own/);
    expect(() => rewriteManifestImages('spec:\n  containers:\n  - image: >-\n      quay.io/x/y:1\n', REPO)).toThrow(/image "quay.io\/x\/y:1" is not written/);
    expect(() => rewriteManifestImages('a: [\n', REPO)).toThrow(/is not YAML/);
  });
});
