import { Construct } from 'constructs';
import { type Host, assertUniqueHosts } from '../lib/inventory.js';
import type { PlanContributor, StepSpec } from '../lib/plan/index.js';
import type { TaintEffect, TaintInput } from '../lib/render/kubeadm.js';
import { fail } from '../lib/validate.js';
import type { ControlPlane } from './control-plane.js';

export interface WorkerPoolProps {
  /** The control plane the workers join. */
  readonly controlPlane: ControlPlane;
  /** Worker hosts; they join in parallel as soon as the first control-plane host is up. */
  readonly hosts: Host[];
  /** Node labels the kubelet registers (not in the kubernetes.io / k8s.io namespaces, which NodeRestriction forbids). @default {} */
  readonly labels?: Record<string, string>;
  /** Node taints, e.g. `{ key: 'gpu', value: 'true', effect: 'NoSchedule' }`. @default none */
  readonly taints?: TaintInput[];
}

const LABEL_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const LABEL_PREFIX = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
const EFFECTS: readonly TaintEffect[] = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];
/** Namespaces under kubernetes.io / k8s.io a kubelet may still set on its own node (NodeRestriction). */
const KUBELET_ALLOWED = ['kubelet.kubernetes.io', 'node.kubernetes.io'];

/** A group of worker nodes with the same labels and taints, joined to a `ControlPlane`. */
export class WorkerPool extends Construct implements PlanContributor {
  readonly controlPlane: ControlPlane;
  readonly hosts: readonly Host[];
  readonly labels: Readonly<Record<string, string>>;
  readonly taints: readonly TaintInput[];

  constructor(scope: Construct, id: string, props: WorkerPoolProps) {
    super(scope, id);
    const where = `WorkerPool ${this.node.path}`;
    const hosts = props.hosts ?? [];
    if (hosts.length === 0) fail(where, 'hosts', 0, 'is empty');
    assertUniqueHosts(where, hosts);
    for (const [key, value] of Object.entries(props.labels ?? {})) checkLabel(where, key, value);
    for (const taint of props.taints ?? []) checkTaint(where, taint);
    this.controlPlane = props.controlPlane;
    this.hosts = Object.freeze([...hosts]);
    this.labels = Object.freeze({ ...(props.labels ?? {}) });
    this.taints = Object.freeze([...(props.taints ?? [])]);
    props.controlPlane.registerWorkers(id, hosts);
  }

  async planSteps(): Promise<StepSpec[]> {
    const steps: StepSpec[] = [];
    for (const host of this.hosts) {
      steps.push(...this.controlPlane.nodePrepSteps(host, 'worker'));
      steps.push(
        await this.controlPlane.joinStep(host, {
          controlPlane: false,
          after: [this.controlPlane.joinReadyStepId],
          taints: [...this.taints],
          labels: { ...this.labels },
        }),
      );
    }
    return steps;
  }
}

function checkLabel(where: string, key: string, value: string): void {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : '';
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (!LABEL_NAME.test(name) || (prefix && (!LABEL_PREFIX.test(prefix) || prefix.length > 253))) {
    fail(where, 'labels', key, 'is not a Kubernetes label key ([prefix/]name, name ≤ 63 characters)');
  }
  if (typeof value !== 'string' || !LABEL_VALUE.test(value)) fail(where, `labels.${key}`, value, 'is not a Kubernetes label value (≤ 63 characters)');
  const reserved = /(^|\.)(kubernetes\.io|k8s\.io)$/.test(prefix);
  if (reserved && !KUBELET_ALLOWED.some((ok) => prefix === ok || prefix.endsWith(`.${ok}`))) {
    fail(where, 'labels', key, `is in a namespace the kubelet may not set on its own node (NodeRestriction would refuse it at join); label the node with kubectl after it joined, or use a prefix of your own`);
  }
}

function checkTaint(where: string, taint: TaintInput): void {
  if (!taint || typeof taint.key !== 'string' || !/^([a-z0-9.-]+\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/.test(taint.key)) {
    fail(where, 'taints', taint?.key, 'is not a taint key');
  }
  if (taint.value !== undefined && !LABEL_VALUE.test(taint.value)) fail(where, `taints.${taint.key}`, taint.value, 'is not a taint value');
  if (!EFFECTS.includes(taint.effect)) fail(where, `taints.${taint.key}.effect`, taint.effect, `must be one of ${EFFECTS.join(', ')}`);
}
