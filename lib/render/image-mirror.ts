import * as yaml from 'js-yaml';
import { ValidationError, isImageReference, isRegistryHost } from '../validate.js';

/**
 * One registry every image of a cluster is pulled from (air-gapped sites): kubeadm's images, the pod sandbox image
 * and the CNI's images. How an image is named in the mirror:
 * - kubeadm's own images follow kubeadm's naming for a custom repository: `<repository>/kube-apiserver:v1.34.2`,
 *   `<repository>/etcd:3.6.4-0`, `<repository>/coredns:v1.12.1` (no `coredns/` path, unlike on registry.k8s.io),
 *   `<repository>/pause:3.10.1`, `<repository>/kube-proxy:v1.34.2`;
 * - every other image keeps its path after the registry ({@link mirrorImage}):
 *   `docker.io/flannel/flannel:v0.26.1` → `<repository>/flannel/flannel:v0.26.1`, `busybox:1.36` →
 *   `<repository>/library/busybox:1.36`.
 */
export interface ImageMirror {
  /**
   * Where every image of the cluster is pulled from: a registry host (with port) and an optional path, e.g.
   * "10.77.0.1:5000/k8s" or "registry.example.com/k8s". No scheme: see `plainHttp`.
   */
  readonly repository: string;
  /** The registry speaks plain HTTP (no TLS). @default false (HTTPS) */
  readonly plainHttp?: boolean;
  /**
   * Path of a PEM file on the operator's machine with the CA certificate(s) that sign the registry's certificate;
   * copied to every node for containerd. Not with `plainHttp`.
   * @default the hosts' system CAs
   */
  readonly caCertificate?: string;
}

/** The registry host (with port) of a mirror repository: "10.77.0.1:5000/k8s" → "10.77.0.1:5000". */
export function mirrorRegistryHost(repository: string): string {
  return repository.split('/')[0]!;
}

/**
 * The name of `image` in the mirror `repository`: the registry is replaced by the repository and the path after it
 * kept, with the tag and digest. Names without a registry are Docker Hub's, as container runtimes read them
 * (`busybox:1.36` is docker.io/library/busybox:1.36 → `<repository>/library/busybox:1.36`). An image already in the
 * repository is returned as it is. Throws a ValidationError for something that is not an image reference.
 */
export function mirrorImage(image: string, repository: string): string {
  if (typeof image !== 'string' || !isImageReference(image)) throw new ValidationError(`${JSON.stringify(image)} is not a container image reference`);
  if (image.startsWith(`${repository}/`)) return image;
  const at = image.indexOf('@');
  const digest = at >= 0 ? image.slice(at) : '';
  const named = at >= 0 ? image.slice(0, at) : image;
  const colon = named.lastIndexOf(':');
  const tag = colon > named.lastIndexOf('/') ? named.slice(colon) : '';
  const name = tag ? named.slice(0, colon) : named;
  const [first, ...rest] = name.split('/');
  const hasRegistry = rest.length > 0 && isRegistryHost(first!);
  const registry = hasRegistry ? first! : 'docker.io';
  let path = hasRegistry ? rest.join('/') : name;
  if ((registry === 'docker.io' || registry === 'index.docker.io') && !path.includes('/')) path = `library/${path}`;
  return `${repository}/${path}${tag}${digest}`;
}

/**
 * `image: <reference>` on one line, in a list item or not, the reference quoted or not, a comment after it allowed
 * (not a block scalar, `|` or `>`: the check after the rewrite reports those).
 */
const IMAGE_LINE = /^(\s*(?:-\s+)?image:[ \t]+)(["']?)([^\s"'#|>][^\s"'#]*)\2([ \t]*(?:#.*)?\r?)$/;

/**
 * A Kubernetes manifest with every `image:` field pointed at the mirror `repository` ({@link mirrorImage}); every other
 * byte is kept, comments included. Throws a ValidationError when the text is not YAML, an image is not an image
 * reference, or an `image` field is written in a way this does not rewrite (flow style, several lines).
 */
export function rewriteManifestImages(manifest: string, repository: string): string {
  const out = manifest.split('\n').map((line, index) => {
    const match = IMAGE_LINE.exec(line);
    if (!match) return line;
    const [, head, quote, image, tail] = match;
    try {
      return `${head}${quote}${mirrorImage(image!, repository)}${quote}${tail}`;
    } catch (error) {
      throw new ValidationError(`line ${index + 1}: ${(error as Error).message}`);
    }
  }).join('\n');
  // every image the manifest names must now be in the mirror
  let docs: unknown[];
  try {
    docs = yaml.loadAll(out);
  } catch (error) {
    throw new ValidationError(`is not YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const missed = docs.flatMap((doc) => imageFields(doc)).filter((image) => !image.startsWith(`${repository}/`));
  if (missed.length > 0) {
    throw new ValidationError(`image ${JSON.stringify(missed[0])} is not written as "image: <reference>" on a line of its own, so it was not pointed at the mirror`);
  }
  return out;
}

/** The string values of every `image` key in a parsed YAML document. */
function imageFields(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(imageFields);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => (key === 'image' && typeof child === 'string' ? [child] : imageFields(child)));
}
