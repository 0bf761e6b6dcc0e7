import { Construct, type IValidation } from 'constructs';
import type { Host } from '../lib/inventory.js';
import { assertUniqueHosts } from '../lib/inventory.js';
import { type PlanContributor, type StepSpec, addWarning } from '../lib/plan/index.js';
import { type SecretStore, secretStoreFor } from '../lib/pki/index.js';
import { HAPROXY_PATHS, type HaproxyBackendCheck, type HaproxyCheckTiming, renderHaproxyConfig } from '../lib/render/haproxy.js';
import {
  KEEPALIVED_PATHS,
  type KeepalivedTrackScript,
  parseKeepalivedAuth,
  renderKeepalivedAuth,
  renderKeepalivedConfig,
} from '../lib/render/keepalived.js';
import { renderHaproxyCheckScript, renderLbConfigureScript, renderLbInstallScript, renderLbReadyScript } from '../lib/render/load-balancer-scripts.js';
import {
  type Ipv4Cidr,
  ValidationError,
  fail,
  isHostname,
  isHostnameLabel,
  isInterfaceName,
  isIpAddress,
  isIpv4InSubnet,
  ipv4SubnetRange,
  isPort,
  joinHostPort,
  ipv4CidrsOverlap,
  problem,
  parseIpv4Cidr,
} from '../lib/validate.js';

export type { HaproxyBackendCheck, HaproxyCheckTiming } from '../lib/render/haproxy.js';

/** A server haproxy forwards to. */
export interface LoadBalancerBackend {
  /** Server name in haproxy.cfg: lowercase letters, digits, "-" and ".", unique within the load balancer. */
  readonly name: string;
  /** IPv4 or IPv6 address (host names are not resolved: haproxy would need them at every start). */
  readonly address: string;
  /** TCP port of the backend (6443 for an API server). */
  readonly port: number;
}

/**
 * A load balancer's settings apart from its hosts, VIP and backends: what `HaCluster` passes through for its API
 * endpoint (`HaClusterEndpointProps`).
 */
export interface LoadBalancerVipOptions {
  /** Name used in step ids (`lb-<name>/…`), the haproxy sections and the vrrp_instance. @default the construct id */
  readonly name?: string;
  /** Port haproxy listens on, on every address of every host. @default 8443 */
  readonly port?: number;
  /**
   * How fast haproxy takes a dead backend out. `"fast"`: checks every second, a backend is down after 2 failed
   * checks or 2 failed client connections (within about 3 s of a power-off), connects time out after 1 s and are
   * retried on another backend. `"seed-003"`: seed 003's timings, as hakube had them before (`tcp`: `inter 10s
   * downinter 5s rise 2 fall 2`; `https-healthz`: haproxy's `inter 2s fall 3`; 5 s connects, one retry): a dead
   * backend keeps its share of new connections, each waiting 5 s, for 20–30 s (`tcp`) or 10–12 s. See
   * `HaproxyCheckTiming`. @default "fast"
   */
  readonly backendCheckTiming?: HaproxyCheckTiming;
  /** Network interface that carries the VIP on every host. @default each host's `interface` */
  readonly interface?: string;
  /** VRRP virtual_router_id, 1–255; must be unique among VRRP groups on the same network segment. @default 51 */
  readonly virtualRouterId?: number;
  /**
   * keepalived priority per host (same order as `hosts`), 1–254, distinct; the highest starts as MASTER.
   * @default 101, 100, 99, … in host order
   */
  readonly priorities?: number[];
  /** VRRP adverts by unicast between the hosts' internal addresses; false → multicast (224.0.0.18). @default true */
  readonly unicast?: boolean;
  /**
   * Keep the VIP where it is when a higher-priority host comes back. keepalived requires every host to start as
   * BACKUP then, and a backup with nopreempt never takes over from a live master whatever its priority, so the
   * track script must fault the instance instead of weighing it: `trackWeight` must be 0. @default false
   */
  readonly nopreempt?: boolean;
  /** Seconds between runs of the haproxy check script. @default 3 */
  readonly trackInterval?: number;
  /**
   * Priority change while the check fails (negative) or passes (positive), -253…253; |weight| must exceed the
   * gap between neighbouring priorities so a failed check lets the next host take over. 0 puts the instance into
   * FAULT state on failure (it gives the VIP up whatever the priorities). With more than two hosts and several
   * failing at once, a healthy host only always wins if |weight| exceeds the whole priority span.
   * @default -2 (kubeadm's reference), 0 with nopreempt
   */
  readonly trackWeight?: number;
  /** Consecutive failures before the check counts as failed: failover takes about fall × interval seconds. @default 10 */
  readonly trackFall?: number;
  /** Consecutive successes before a failed check counts as passing again. @default 2 */
  readonly trackRise?: number;
  /** Add haproxy's admin socket `/run/haproxy/admin.sock` (mode 660, level admin). @default false */
  readonly statsSocket?: boolean;
  /** Operator-side directory for the generated VRRP password. @default ".hakube/<name>" */
  readonly secretsDir?: string;
}

/** A load balancer: its hosts, VIP and backends, and its settings (`LoadBalancerVipOptions`). */
export interface LoadBalancerVipProps extends LoadBalancerVipOptions {
  /**
   * The hosts that run haproxy and keepalived: dedicated hosts, or the control-plane hosts as in seed 003. With
   * the default priorities the first one starts as MASTER. Two or more for failover.
   */
  readonly hosts: Host[];
  /**
   * The virtual IP in CIDR form, e.g. "10.77.0.100/24": an unused address in the subnet of every host's
   * `internalAddress`; the prefix goes to keepalived's `virtual_ipaddress`.
   */
  readonly vip: string;
  /** Servers haproxy balances across, round robin; more can be added with `addBackend()`. @default [] (at least one by synth time) */
  readonly backends?: LoadBalancerBackend[];
  /** How haproxy checks the backends: `GET /healthz` over TLS (API servers) or a TCP connect. @default "https-healthz" */
  readonly backendCheck?: HaproxyBackendCheck;
}

const ADVERT_INTERVAL = 1;

/**
 * A virtual IP held by one of several hosts through keepalived (VRRP), each running haproxy in TCP mode in front
 * of the same backends (seed 003; kubeadm's "keepalived and haproxy" high-availability option). A keepalived track
 * script checks the local haproxy — and, for API servers, `/healthz` through it — so the VIP moves to another host
 * when haproxy fails there, not only when the host dies.
 */
export class LoadBalancerVip extends Construct implements PlanContributor {
  /** The load balancer's name (step ids `lb-<name>/…`, haproxy sections, the vrrp_instance). */
  readonly name: string;
  /** The hosts that run haproxy and keepalived; the first starts as MASTER with the default priorities. */
  readonly hosts: readonly Host[];
  /** The virtual IP address, without prefix. */
  readonly vip: string;
  /** Prefix length of the VIP's subnet. */
  readonly prefixLength: number;
  /** The port haproxy listens on. */
  readonly port: number;
  /** `<vip>:<port>`: what clients (kubeconfigs, `controlPlaneEndpoint`) point at. */
  readonly endpoint: string;
  /** How haproxy checks the backends. */
  readonly backendCheck: HaproxyBackendCheck;
  /** How fast haproxy takes a dead backend out (`backendCheckTiming`). */
  readonly backendCheckTiming: HaproxyCheckTiming;
  /** The VRRP virtual_router_id. */
  readonly virtualRouterId: number;
  /** keepalived priority of each host, in `hosts` order. */
  readonly priorities: readonly number[];
  /** VRRP adverts by unicast between the hosts (false: multicast). */
  readonly unicast: boolean;
  /** The VIP stays where it is when a higher-priority host comes back. */
  readonly nopreempt: boolean;
  /** The track script settings (the script path is fixed). */
  readonly track: Readonly<Omit<KeepalivedTrackScript, 'path'>>;
  /** haproxy has its admin socket `/run/haproxy/admin.sock`. */
  readonly statsSocket: boolean;
  /** Operator-side directory of the VRRP password. */
  readonly secretsDir: string;
  private readonly interfaceOverride?: string;
  private readonly servers: LoadBalancerBackend[] = [];
  private readonly store: SecretStore;
  private readonly where: string;

  constructor(scope: Construct, id: string, props: LoadBalancerVipProps) {
    super(scope, id);
    const where = `LoadBalancerVip ${this.node.path}`;
    this.where = where;
    this.name = props.name ?? id;
    if (typeof this.name !== 'string' || !isHostnameLabel(this.name)) {
      fail(where, 'name', this.name, 'must be a host name label: lowercase letters, digits and "-", at most 63 characters');
    }

    const hosts = props.hosts ?? [];
    if (hosts.length === 0) fail(where, 'hosts', hosts.length, 'is empty: a load balancer needs at least one host');
    const twice = hosts.find((h, i) => hosts.indexOf(h) !== i || hosts.findIndex((o) => o.name === h.name) !== i);
    if (twice) fail(where, 'hosts', twice.name, 'is listed twice');
    assertUniqueHosts(where, hosts);
    this.hosts = Object.freeze([...hosts]);

    const cidr = parseIpv4Cidr(props.vip);
    if (!cidr) fail(where, 'vip', props.vip, 'is not an IPv4 address with a prefix length, e.g. "10.77.0.100/24" (keepalived needs the prefix of the VIP\'s subnet)');
    checkVip(where, props.vip, cidr, hosts);
    this.vip = cidr.address;
    this.prefixLength = cidr.prefix;

    this.port = props.port ?? 8443;
    if (!isPort(this.port)) fail(where, 'port', this.port, 'is not a port (1-65535)');
    this.endpoint = joinHostPort(this.vip, this.port);
    this.backendCheck = props.backendCheck ?? 'https-healthz';
    if (this.backendCheck !== 'https-healthz' && this.backendCheck !== 'tcp') {
      fail(where, 'backendCheck', this.backendCheck, 'must be "https-healthz" or "tcp"');
    }
    this.backendCheckTiming = props.backendCheckTiming ?? 'fast';
    if (this.backendCheckTiming !== 'fast' && this.backendCheckTiming !== 'seed-003') {
      fail(where, 'backendCheckTiming', this.backendCheckTiming, 'must be "fast" or "seed-003"');
    }
    if (props.interface !== undefined && (typeof props.interface !== 'string' || !isInterfaceName(props.interface))) {
      fail(where, 'interface', props.interface, 'is not a network interface name');
    }
    this.interfaceOverride = props.interface;

    this.virtualRouterId = props.virtualRouterId ?? 51;
    if (!isIntIn(this.virtualRouterId, 1, 255)) {
      fail(where, 'virtualRouterId', this.virtualRouterId, 'must be an integer from 1 to 255 (VRRP\'s virtual router id)');
    }
    this.priorities = Object.freeze(checkPriorities(where, props.priorities, hosts.length));

    this.nopreempt = props.nopreempt ?? false;
    this.unicast = props.unicast ?? true;
    this.statsSocket = props.statsSocket ?? false;
    this.track = Object.freeze(checkTrack(where, props, this.nopreempt, this.priorities));

    this.secretsDir = props.secretsDir ?? `.hakube/${this.name}`;
    this.store = secretStoreFor(this, this.secretsDir);
    for (const backend of props.backends ?? []) this.addBackend(backend);

    if (hosts.length < 2) {
      addWarning(this, `a single load balancer host (${hosts[0].name}) has no failover: the VIP ${this.vip} is lost when it is down`);
    }
    this.node.addValidation(new HasBackends(this));
    this.node.addValidation(new OneLoadBalancerPerHost(this));
    this.node.addValidation(new DistinctVirtualRouterIds(this));
  }

  /** The backend servers, in the order they were added. */
  get backends(): readonly LoadBalancerBackend[] {
    return [...this.servers];
  }

  /** Add a server behind haproxy (e.g. a control plane wiring in its API servers). Validated at once. */
  addBackend(backend: LoadBalancerBackend): void {
    const where = this.where;
    const at = `backends[${this.servers.length}]`;
    const { name, address, port } = backend;
    if (typeof name !== 'string' || !isHostname(name)) {
      fail(where, `${at}.name`, name, 'must be host-name-like: lowercase letters, digits, "-" and "."');
    }
    if (this.servers.some((s) => s.name === name)) fail(where, `${at}.name`, name, 'is used by another backend');
    if (typeof address !== 'string' || !isIpAddress(address)) fail(where, `${at}.address`, address, 'is not an IPv4 or IPv6 address');
    if (!isPort(port)) fail(where, `${at}.port`, port, 'is not a port (1-65535)');
    const same = this.servers.find((s) => s.address === address && s.port === port);
    if (same) fail(where, `${at}`, `${joinHostPort(address, port)}`, `is already backend ${same.name}`);
    if (address === this.vip) {
      fail(where, `${at}.address`, address, 'is the VIP itself: haproxy would forward to itself');
    }
    if (port === this.port) {
      const lbHost = this.hosts.find((h) => h.address === address || h.internalAddress === address);
      if (lbHost) {
        fail(where, 'port', this.port, `is also the port of backend ${name} (${joinHostPort(address, port)}) on load balancer host ${lbHost.name}: haproxy and the backend cannot both listen on it; use another port`);
      }
      if (isLoopback(address)) {
        fail(where, 'port', this.port, `is also the port of backend ${name} (${joinHostPort(address, port)}), a loopback address on every load balancer host: haproxy would forward to itself`);
      }
    }
    this.servers.push(Object.freeze({ name, address, port }));
  }

  /** The interface that carries the VIP on `host`. */
  interfaceOf(host: Host): string {
    return this.interfaceOverride ?? host.interface;
  }

  /** The host that starts as VRRP MASTER (highest priority); undefined with nopreempt, where all start as BACKUP. */
  get initialMaster(): Host | undefined {
    if (this.nopreempt) return undefined;
    const top = Math.max(...this.priorities);
    return this.hosts[this.priorities.indexOf(top)];
  }

  /** Id of a host's step. */
  stepId(host: Host, action: 'install' | 'configure'): string {
    return `lb-${this.name}/${host.name}/${action}`;
  }

  /** The configure step of every host: haproxy and keepalived run their configuration once these are done. */
  get configureStepIds(): readonly string[] {
    return this.hosts.map((h) => this.stepId(h, 'configure'));
  }

  /** Id of the step after which `endpoint` accepts connections; depend on it to use the load balancer. */
  get readyStepId(): string {
    return `lb-${this.name}/ready`;
  }

  async planSteps(): Promise<StepSpec[]> {
    const authFile = `keepalived/${this.name}-vrrp-auth.conf`;
    const auth = this.store.ensureText(authFile, (token) => renderKeepalivedAuth(this.name, token(8), token(32)));
    if (parseKeepalivedAuth(auth) === undefined) {
      throw new ValidationError(`${this.where}: ${this.store.path(authFile)} is not an authentication block hakube wrote; delete it to generate a new VRRP password`);
    }
    const haproxyCfg = renderHaproxyConfig({
      name: this.name,
      port: this.port,
      check: this.backendCheck,
      timing: this.backendCheckTiming,
      servers: this.servers,
      statsSocket: this.statsSocket,
    });
    const checkScript = renderHaproxyCheckScript(this.name, this.port, this.backendCheck);
    const master = this.initialMaster;
    const steps: StepSpec[] = [];
    this.hosts.forEach((host, index) => {
      const iface = this.interfaceOf(host);
      const keepalivedConf = renderKeepalivedConfig({
        name: this.name,
        routerId: host.name,
        interface: iface,
        virtualRouterId: this.virtualRouterId,
        priority: this.priorities[index],
        state: host === master ? 'MASTER' : 'BACKUP',
        nopreempt: this.nopreempt,
        advertInterval: ADVERT_INTERVAL,
        vip: { address: this.vip, prefix: this.prefixLength },
        unicast:
          this.unicast && this.hosts.length > 1
            ? { sourceAddress: host.internalAddress, peers: this.hosts.filter((h) => h !== host).map((h) => h.internalAddress) }
            : undefined,
        authInclude: KEEPALIVED_PATHS.authInclude,
        track: { path: KEEPALIVED_PATHS.checkScript, ...this.track },
      });
      const installId = this.stepId(host, 'install');
      steps.push({
        id: installId,
        host,
        title: `Install haproxy and keepalived on ${host.name}`,
        script: renderLbInstallScript(this.backendCheck),
      });
      steps.push({
        id: this.stepId(host, 'configure'),
        host,
        title: `Configure haproxy and keepalived for VIP ${this.vip} on ${host.name}`,
        files: [
          { path: HAPROXY_PATHS.candidate, mode: '0644', content: haproxyCfg },
          { path: KEEPALIVED_PATHS.candidate, mode: '0644', content: keepalivedConf },
          { path: KEEPALIVED_PATHS.authInclude, mode: '0600', secret: this.store.ref(authFile) },
          { path: KEEPALIVED_PATHS.checkScript, mode: '0755', content: checkScript },
        ],
        script: renderLbConfigureScript({ interface: iface, vip: this.vip, statsSocket: this.statsSocket }),
        after: [installId],
      });
    });
    steps.push({
      id: this.readyStepId,
      host: this.hosts[0],
      title: `Check that ${this.endpoint} accepts connections`,
      script: renderLbReadyScript(this.vip, this.port),
      after: [...this.configureStepIds],
      // whenever a step of this load balancer ran, the VIP is checked again
      rerunWith: steps.map((s) => s.id),
      check: true,
    });
    return steps;
  }

  /** Checks that need the whole tree: backends added after construction, hosts shared with another load balancer. */
}

/** The other load balancers of the tree. */
function otherLoadBalancers(lb: LoadBalancerVip): LoadBalancerVip[] {
  return lb.node.root.node.findAll().filter((c): c is LoadBalancerVip => c instanceof LoadBalancerVip && c !== lb);
}

/** Rule: haproxy needs at least one backend server by the time the plan is made (`addBackend` may come late). */
class HasBackends implements IValidation {
  constructor(private readonly lb: LoadBalancerVip) {}
  validate(): string[] {
    return this.lb.backends.length ? [] : [problem('backends', [], 'is empty: haproxy needs at least one backend server (pass backends or call addBackend())')];
  }
}

/** Rule: a host serves one load balancer (it has one haproxy.cfg and one keepalived.conf). */
class OneLoadBalancerPerHost implements IValidation {
  constructor(private readonly lb: LoadBalancerVip) {}
  validate(): string[] {
    return otherLoadBalancers(this.lb).flatMap((other) =>
      this.lb.hosts
        .filter((host) => other.hosts.some((h) => h.name === host.name))
        .map((host) => problem('hosts', host.name, `is also a host of load balancer ${other.node.path}: a host has one haproxy.cfg and one keepalived.conf, so it serves one LoadBalancerVip`)),
    );
  }
}

/** Rule: load balancers on one subnet have distinct virtual router ids (reported once, by the later path). */
class DistinctVirtualRouterIds implements IValidation {
  constructor(private readonly lb: LoadBalancerVip) {}
  validate(): string[] {
    const lb = this.lb;
    return otherLoadBalancers(lb)
      .filter((other) => other.virtualRouterId === lb.virtualRouterId && other.node.path < lb.node.path)
      .filter((other) => ipv4CidrsOverlap({ address: lb.vip, prefix: lb.prefixLength }, { address: other.vip, prefix: other.prefixLength }))
      .map((other) => problem('virtualRouterId', lb.virtualRouterId, `is also the virtual router id of load balancer ${other.node.path} on the same subnet (VIPs ${lb.vip}/${lb.prefixLength} and ${other.vip}/${other.prefixLength}): their VRRP adverts would collide and both VIPs flap; give each its own virtualRouterId`));
  }
}

function isIntIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function isLoopback(address: string): boolean {
  return address === '::1' || /^127\./.test(address);
}

/** The VIP must be a usable, unused address in the subnet every host is in. */
function checkVip(where: string, vip: string, cidr: Ipv4Cidr, hosts: readonly Host[]): void {
  const { network, broadcast } = ipv4SubnetRange(cidr);
  const subnet = `${network}/${cidr.prefix}`;
  if (cidr.prefix <= 30 && cidr.address === network) fail(where, 'vip', vip, `is the network address of ${subnet}`);
  if (cidr.prefix <= 30 && cidr.address === broadcast) fail(where, 'vip', vip, `is the broadcast address of ${subnet}`);
  for (const host of hosts) {
    if (host.address === cidr.address || host.internalAddress === cidr.address) {
      fail(where, 'vip', vip, `is the address of host ${host.name}: the virtual IP must be an address no host has`);
    }
    if (!isIpv4InSubnet(host.internalAddress, cidr)) {
      fail(where, 'vip', vip, `is not in the subnet of host ${host.name} (${host.internalAddress} is outside ${subnet}): VRRP only moves an address between hosts on one subnet`);
    }
  }
}

function checkPriorities(where: string, given: number[] | undefined, count: number): number[] {
  const priorities = given ?? Array.from({ length: count }, (_, i) => 101 - i);
  if (!Array.isArray(priorities) || priorities.length !== count) {
    fail(where, 'priorities', priorities, `has ${Array.isArray(priorities) ? priorities.length : 0} entries for ${count} host${count === 1 ? '' : 's'}: give one per host, in host order`);
  }
  const bad = priorities.find((p) => !isIntIn(p, 1, 254));
  if (bad !== undefined) fail(where, 'priorities', priorities, `contain ${JSON.stringify(bad)}: each must be an integer from 1 to 254 (255 is reserved for the address owner)`);
  const dup = priorities.find((p, i) => priorities.indexOf(p) !== i);
  if (dup !== undefined) {
    fail(where, 'priorities', priorities, `contain ${dup} twice: equal priorities leave the election to the higher IP address, so there would not be exactly one initial MASTER`);
  }
  return [...priorities];
}

function checkTrack(where: string, props: LoadBalancerVipProps, nopreempt: boolean, priorities: readonly number[]): Omit<KeepalivedTrackScript, 'path'> {
  const track = {
    interval: props.trackInterval ?? 3,
    weight: props.trackWeight ?? (nopreempt ? 0 : -2),
    fall: props.trackFall ?? 10,
    rise: props.trackRise ?? 2,
  };
  if (!isIntIn(track.interval, 1, 3600)) fail(where, 'trackInterval', track.interval, 'must be a whole number of seconds from 1 to 3600');
  if (!isIntIn(track.fall, 1, 255)) fail(where, 'trackFall', track.fall, 'must be an integer from 1 to 255');
  if (!isIntIn(track.rise, 1, 255)) fail(where, 'trackRise', track.rise, 'must be an integer from 1 to 255');
  if (!isIntIn(track.weight, -253, 253)) fail(where, 'trackWeight', track.weight, 'must be an integer from -253 to 253');
  const w = track.weight;
  if (nopreempt && w !== 0) {
    fail(where, 'trackWeight', w, 'has no effect with nopreempt: a BACKUP with nopreempt never takes over from a MASTER that still sends adverts, whatever its priority, so a failed haproxy check could not move the VIP; use trackWeight 0 (a failed check puts the host into FAULT state and it gives the VIP up)');
  }
  if (w === 0 || priorities.length < 2) return track;
  const sorted = [...priorities].sort((a, b) => b - a);
  for (let i = 1; i < sorted.length; i++) {
    const gap = sorted[i - 1] - sorted[i];
    if (gap >= Math.abs(w)) {
      fail(where, 'priorities', priorities, `have a gap of ${gap} between ${sorted[i - 1]} and ${sorted[i]}, but a failed haproxy check only moves a priority by trackWeight ${w}: the host with ${sorted[i - 1]} would keep the VIP with its haproxy down, so failover could never happen; keep neighbouring priorities less than ${Math.abs(w)} apart or make |trackWeight| larger than ${gap}`);
    }
  }
  if (w < 0 && sorted.at(-1)! + w < 1) {
    fail(where, 'trackWeight', w, `takes priority ${sorted.at(-1)} below 1; keepalived clamps it at 1, so a failed check may not move the VIP: raise the priorities`);
  }
  if (w > 0 && sorted[0] + w > 254) {
    fail(where, 'trackWeight', w, `takes priority ${sorted[0]} above 254; keepalived clamps it at 254, so a failed check may not move the VIP: lower the priorities`);
  }
  return track;
}
