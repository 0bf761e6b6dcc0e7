import { Construct } from 'constructs';
import type { Host } from '../lib/inventory.js';
import { type ControlPlaneOptions, ControlPlane } from './control-plane.js';
import { type EtcdClusterOptions, EtcdCluster } from './etcd-cluster.js';
import { type LoadBalancerVipOptions, LoadBalancerVip } from './load-balancer-vip.js';
import { type WorkerPoolOptions, WorkerPool } from './worker-pool.js';

/** The API endpoint: a VIP held by keepalived, with haproxy in front of the API servers. */
export interface HaClusterEndpointProps extends LoadBalancerVipOptions {
  /** The virtual IP in CIDR form, e.g. "192.168.0.244/24". */
  readonly vip: string;
  /** Hosts that carry haproxy + keepalived. @default the control-plane hosts (seed 003) */
  readonly hosts?: Host[];
}

/** The whole cluster: its hosts, endpoint and etcd, and the control plane's settings (`ControlPlaneOptions`). */
export interface HaClusterProps extends ControlPlaneOptions {
  /** The control-plane hosts (3 for HA); the first runs `kubeadm init`. */
  readonly controlPlaneHosts: Host[];
  /** The hosts of the default worker pool, `workers`. @default none (add pools with `addWorkerPool`) */
  readonly workerHosts?: Host[];
  /** The API endpoint's VIP and load-balancer settings (haproxy listens on 8443 by default). */
  readonly endpoint: HaClusterEndpointProps;
  /**
   * `"stacked"`: etcd runs on the control-plane hosts (kubeadm local etcd). An object: an external `EtcdCluster` on
   * these hosts (seed 001's external topology; they may be the control-plane hosts themselves, as Kubespray does).
   * @default "stacked"
   */
  readonly etcd?: 'stacked' | (EtcdClusterOptions & { readonly hosts: Host[] });
  /** Operator-side directory for every secret of the cluster. @default ".hakube/<construct id>" */
  readonly secretsDir?: string;
}

/**
 * The common HA topology in one construct: a VIP (keepalived) with haproxy in front of an odd number of
 * control-plane hosts, stacked or external etcd, and worker pools — all wired: the control plane is the load
 * balancer's backend, `kubeadm init` waits for the VIP (and for etcd), joins target the VIP.
 */
export class HaCluster extends Construct {
  /** The control plane (kubeadm init and joins, the cluster PKI, the operator's admin kubeconfig). */
  readonly controlPlane: ControlPlane;
  /** haproxy + keepalived holding the API's VIP, with the control plane as its backends. */
  readonly loadBalancer: LoadBalancerVip;
  /** The external etcd cluster, when `etcd` is not stacked. */
  readonly etcd?: EtcdCluster;
  /** The worker pools: `workers` (from `workerHosts`) and those added with `addWorkerPool`. */
  readonly workerPools: WorkerPool[] = [];

  constructor(scope: Construct, id: string, props: HaClusterProps) {
    super(scope, id);
    const { controlPlaneHosts, workerHosts, endpoint, etcd, secretsDir = `.hakube/${id}`, ...rest } = props;
    const { hosts: lbHosts, vip, ...lbRest } = endpoint;
    this.loadBalancer = new LoadBalancerVip(this, 'api-lb', {
      name: `${id}-api`,
      hosts: lbHosts ?? controlPlaneHosts,
      vip,
      backendCheck: 'https-healthz',
      secretsDir,
      ...lbRest,
    });
    if (etcd && etcd !== 'stacked') {
      const { hosts: etcdHosts, ...etcdRest } = etcd;
      this.etcd = new EtcdCluster(this, 'etcd', { clusterName: id, members: etcdHosts, secretsDir, ...etcdRest });
    }
    this.controlPlane = new ControlPlane(this, 'control-plane', {
      ...rest,
      hosts: controlPlaneHosts,
      endpoint: this.loadBalancer,
      etcd: this.etcd ?? 'stacked',
      clusterName: id,
      secretsDir,
    });
    if (workerHosts && workerHosts.length > 0) this.addWorkerPool('workers', { hosts: workerHosts });
  }

  /** Add a pool of workers with their own labels and taints, e.g. `cluster.addWorkerPool('gpu', { hosts, taints })`. */
  addWorkerPool(id: string, options: WorkerPoolOptions): WorkerPool {
    const pool = new WorkerPool(this, id, { ...options, controlPlane: this.controlPlane });
    this.workerPools.push(pool);
    return pool;
  }
}
