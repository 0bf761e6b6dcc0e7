import { Construct } from 'constructs';
import { type Host, assertUniqueHosts } from '../lib/inventory.js';
import type { PlanContributor, StepSpec } from '../lib/plan/index.js';
import type { TaintInput } from '../lib/render/kubeadm-config.js';
import { checkNodeLabels, checkTaints, fail } from '../lib/validate.js';
import type { ControlPlane } from './control-plane.js';

/** A pool of workers, as `HaCluster.addWorkerPool` takes it: hosts, labels, taints. */
export interface WorkerPoolOptions {
  /** Worker hosts; they join in parallel as soon as the first control-plane host is up. */
  readonly hosts: Host[];
  /** Node labels the kubelet registers (not in the kubernetes.io / k8s.io namespaces, which NodeRestriction forbids). @default {} */
  readonly labels?: Record<string, string>;
  /** Node taints, e.g. `{ key: 'gpu', value: 'true', effect: 'NoSchedule' }`. @default none */
  readonly taints?: TaintInput[];
}

/** A pool of workers joined to `controlPlane`. */
export interface WorkerPoolProps extends WorkerPoolOptions {
  /** The control plane the workers join. */
  readonly controlPlane: ControlPlane;
}

/** A group of worker nodes with the same labels and taints, joined to a `ControlPlane`. */
export class WorkerPool extends Construct implements PlanContributor {
  /** The control plane the workers join. */
  readonly controlPlane: ControlPlane;
  /** The pool's hosts; they join in parallel. */
  readonly hosts: readonly Host[];
  /** Node labels every host of the pool registers with. */
  readonly labels: Readonly<Record<string, string>>;
  /** Taints every host of the pool registers with. */
  readonly taints: readonly TaintInput[];

  constructor(scope: Construct, id: string, props: WorkerPoolProps) {
    super(scope, id);
    const where = `WorkerPool ${this.node.path}`;
    const hosts = props.hosts ?? [];
    if (hosts.length === 0) fail(where, 'hosts', 0, 'is empty');
    assertUniqueHosts(where, hosts);
    checkNodeLabels(where, 'labels', props.labels);
    checkTaints(where, 'taints', props.taints);
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
