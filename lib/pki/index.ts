/** Operator-side secrets: the store (keys, certificates, tokens; `secret-store.ts`) and Kubernetes' PKI on it. */
export * from './secret-store.js';
export * from './kubernetes.js';
