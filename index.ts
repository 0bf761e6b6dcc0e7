// The public API of hakube.
export * from './constructs/etcd-cluster.js';
export * from './constructs/load-balancer-vip.js';
export * from './lib/inventory.js';
export * from './lib/plan/index.js';
export { PLACEHOLDER_SECRETS_CONTEXT, SecretStore, type SecretStoreOptions, randomToken, usePlaceholderSecrets } from './lib/pki/index.js';
export { type Engine, findEngine } from './lib/engine.js';
export { type StepResource, TerraformProvisioner, type TerraformProvisionerProps } from './lib/backends/cdktf.js';
export { ValidationError } from './lib/validate.js';
export * from './constructs/control-plane.js';
export * from './constructs/worker-pool.js';
export * from './constructs/ha-cluster.js';
export type { KubeProxyConfigInput, KubeletConfigInput, TaintEffect, TaintInput } from './lib/render/kubeadm-config.js';
export { type ImageMirror, mirrorImage, rewriteManifestImages } from './lib/render/image-mirror.js';
export type { NodePrepOptions, NodePrepSettings, OsFamily } from './lib/render/node-prep-options.js';
