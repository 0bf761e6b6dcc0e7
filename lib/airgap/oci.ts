import { createHash } from 'node:crypto';
import { AirgapError } from './exec.js';

/**
 * OCI image documents (image-spec v1.0): image config, manifest, index and the layout marker. Pure: content in,
 * canonical JSON bytes and their digests out. The same input gives the same bytes, so the same digests.
 */

export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** The annotation naming a manifest in an OCI layout's index.json (what `oci:<dir>:<tag>` selects). */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** A blob: its media type, bytes' digest and size. */
export interface Descriptor {
  readonly mediaType: string;
  /** `sha256:<hex>`. */
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A JSON document with its canonical bytes and descriptor. */
export interface Blob {
  readonly bytes: Buffer;
  readonly descriptor: Descriptor;
}

/** `sha256:<hex>` of bytes. */
export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A layer as built: the gzip blob's digest and size, and the digest of the uncompressed tar (its diff id). */
export interface LayerInfo {
  readonly digest: string;
  readonly size: number;
  readonly diffId: string;
  /** What made the layer, for the config's history. */
  readonly createdBy: string;
}

/** The runtime settings of an image (the config's `config` object). */
export interface ImageRuntime {
  /** Command run when a container starts; a pod's `command` replaces it. */
  readonly entrypoint: readonly string[];
  /** Default arguments. @default none */
  readonly cmd?: readonly string[];
  /** Environment, `NAME=value`; must set PATH. */
  readonly env: readonly string[];
  /** `uid[:gid]` or a user name. @default root */
  readonly user?: string;
  /** @default "/" */
  readonly workingDir?: string;
  /** Ports, e.g. "53/udp". @default none */
  readonly exposedPorts?: readonly string[];
  /** @default none */
  readonly labels?: Readonly<Record<string, string>>;
}

/** Every image is built for linux/amd64, created at the epoch (layers carry no real time either). */
export const IMAGE_PLATFORM = { architecture: 'amd64', os: 'linux' } as const;
export const IMAGE_CREATED = '1970-01-01T00:00:00Z';

function assertDigest(what: string, digest: string): void {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new AirgapError(`${what}: ${JSON.stringify(digest)} is not a sha256 digest`);
}

function jsonBlob(mediaType: string, value: unknown, annotations?: Record<string, string>): Blob {
  const bytes = Buffer.from(JSON.stringify(value));
  return { bytes, descriptor: { mediaType, digest: digestOf(bytes), size: bytes.length, ...(annotations ? { annotations } : {}) } };
}

/** The image config of an image made of `layers` (bottom first). Pure. */
export function renderImageConfig(runtime: ImageRuntime, layers: readonly LayerInfo[]): Blob {
  if (runtime.entrypoint.length === 0 || !runtime.entrypoint[0].startsWith('/')) {
    throw new AirgapError(`image config: entrypoint ${JSON.stringify(runtime.entrypoint)} must start with an absolute path`);
  }
  if (!runtime.env.some((entry) => entry.startsWith('PATH='))) throw new AirgapError(`image config: env ${JSON.stringify(runtime.env)} sets no PATH`);
  if (runtime.user !== undefined && !/^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$/.test(runtime.user)) throw new AirgapError(`image config: user ${JSON.stringify(runtime.user)} is not uid[:gid]`);
  if (layers.length === 0) throw new AirgapError('image config: an image needs at least one layer');
  for (const layer of layers) assertDigest('image config: layer diff id', layer.diffId);
  const config: Record<string, unknown> = {
    Env: [...runtime.env],
    Entrypoint: [...runtime.entrypoint],
    WorkingDir: runtime.workingDir ?? '/',
  };
  if (runtime.cmd?.length) config.Cmd = [...runtime.cmd];
  if (runtime.user) config.User = runtime.user;
  if (runtime.exposedPorts?.length) config.ExposedPorts = Object.fromEntries([...runtime.exposedPorts].sort().map((port) => [port, {}]));
  if (runtime.labels && Object.keys(runtime.labels).length) config.Labels = Object.fromEntries(Object.entries(runtime.labels).sort(([a], [b]) => a.localeCompare(b)));
  return jsonBlob(MEDIA_TYPES.config, {
    created: IMAGE_CREATED,
    ...IMAGE_PLATFORM,
    config,
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
    history: layers.map((layer) => ({ created: IMAGE_CREATED, created_by: layer.createdBy })),
  });
}

/** The image manifest of a config and its layers (bottom first). Pure. */
export function renderManifest(config: Descriptor, layers: readonly LayerInfo[]): Blob {
  assertDigest('manifest: config', config.digest);
  for (const layer of layers) assertDigest('manifest: layer', layer.digest);
  return jsonBlob(MEDIA_TYPES.manifest, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((layer) => ({ mediaType: MEDIA_TYPES.layerGzip, digest: layer.digest, size: layer.size })),
  });
}

/** index.json of an OCI layout holding one manifest, named `tag`. Pure. */
export function renderLayoutIndex(manifest: Descriptor, tag: string): Blob {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) throw new AirgapError(`OCI layout: tag ${JSON.stringify(tag)} is not a valid image tag`);
  return jsonBlob(MEDIA_TYPES.index, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: [{ mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size, annotations: { [REF_NAME_ANNOTATION]: tag } }],
  });
}

/** The `oci-layout` marker file. Pure. */
export function renderLayoutMarker(): string {
  return JSON.stringify({ imageLayoutVersion: '1.0.0' });
}
