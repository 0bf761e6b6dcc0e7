import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import yaml from 'js-yaml';
import {
  ValidationError,
  fail,
  isHostname,
  isInterfaceName,
  isIpAddress,
  isPort,
  isUserName,
} from './validate.js';

/** A jump host that SSH connections go through. */
export interface BastionProps {
  /** Address of the bastion. */
  readonly address: string;
  /** SSH port. @default 22 */
  readonly port?: number;
  /** SSH user. @default the target host's user */
  readonly user?: string;
  /** Private key for the bastion. @default the target host's key */
  readonly privateKeyPath?: string;
}

export interface HostProps {
  /** RFC 1123 host name; also the node name the host gets. */
  readonly name: string;
  /** Address the operator reaches the host at over SSH (IPv4 or IPv6). */
  readonly address: string;
  /** Address the cluster members use to talk to each other. @default the `address` */
  readonly internalAddress?: string;
  /** SSH user; a user other than root runs every step through `sudo`. @default "root" */
  readonly user?: string;
  /** SSH port. @default 22 */
  readonly port?: number;
  /** Operator-side path of the SSH private key (`~` is expanded by the backend). @default ssh-agent */
  readonly privateKeyPath?: string;
  /** Jump host for the SSH connection. @default direct connection */
  readonly bastion?: BastionProps;
  /** Pinned SSH host public key (`ssh-ed25519 AAAA…`); without it the first key seen is trusted. @default not pinned */
  readonly hostKey?: string;
  /** Network interface that carries `internalAddress` (used for a VIP). @default "eth0" */
  readonly interface?: string;
  /** Free-form labels, e.g. to select hosts for a role. @default {} */
  readonly labels?: Record<string, string>;
}

/** A machine hakube provisions over SSH. Immutable; all defaults resolved. */
export class Host {
  readonly name: string;
  readonly address: string;
  readonly internalAddress: string;
  readonly user: string;
  readonly port: number;
  readonly privateKeyPath?: string;
  readonly bastion?: Required<Pick<BastionProps, 'address' | 'port' | 'user'>> & { privateKeyPath?: string };
  readonly hostKey?: string;
  readonly interface: string;
  readonly labels: Readonly<Record<string, string>>;

  constructor(props: HostProps) {
    const where = `Host ${JSON.stringify(props.name)}`;
    if (typeof props.name !== 'string' || !isHostname(props.name)) {
      fail(where, 'name', props.name, 'is not an RFC 1123 host name (lowercase letters, digits, "-" and ".")');
    }
    if (!isIpAddress(props.address)) fail(where, 'address', props.address, 'is not an IPv4 or IPv6 address');
    if (props.internalAddress !== undefined && !isIpAddress(props.internalAddress)) {
      fail(where, 'internalAddress', props.internalAddress, 'is not an IPv4 or IPv6 address');
    }
    if (props.user !== undefined && !isUserName(props.user)) fail(where, 'user', props.user, 'is not a valid user name');
    if (props.port !== undefined && !isPort(props.port)) fail(where, 'port', props.port, 'is not a port (1-65535)');
    if (props.interface !== undefined && !isInterfaceName(props.interface)) {
      fail(where, 'interface', props.interface, 'is not a network interface name');
    }
    if (props.hostKey !== undefined && !/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+$/.test(props.hostKey)) {
      fail(where, 'hostKey', props.hostKey, 'is not an SSH public key of the form "<type> <base64>"');
    }
    if (props.privateKeyPath !== undefined && (props.privateKeyPath === '' || /["\n]/.test(props.privateKeyPath))) {
      fail(where, 'privateKeyPath', props.privateKeyPath, 'is not a usable file path');
    }
    for (const [key, value] of Object.entries(props.labels ?? {})) {
      if (typeof value !== 'string') fail(where, `labels.${key}`, value, 'must be a string');
    }
    this.name = props.name;
    this.address = props.address;
    this.internalAddress = props.internalAddress ?? props.address;
    this.user = props.user ?? 'root';
    this.port = props.port ?? 22;
    this.privateKeyPath = props.privateKeyPath;
    this.hostKey = props.hostKey;
    this.interface = props.interface ?? 'eth0';
    this.labels = Object.freeze({ ...(props.labels ?? {}) });
    if (props.bastion) {
      const b = props.bastion;
      if (!isIpAddress(b.address) && !isHostname(b.address)) fail(where, 'bastion.address', b.address, 'is not an address or host name');
      if (b.port !== undefined && !isPort(b.port)) fail(where, 'bastion.port', b.port, 'is not a port (1-65535)');
      if (b.user !== undefined && !isUserName(b.user)) fail(where, 'bastion.user', b.user, 'is not a valid user name');
      if (b.privateKeyPath !== undefined && (b.privateKeyPath === '' || /["\n]/.test(b.privateKeyPath))) {
        fail(where, 'bastion.privateKeyPath', b.privateKeyPath, 'is not a usable file path');
      }
      this.bastion = {
        address: b.address,
        port: b.port ?? 22,
        user: b.user ?? this.user,
        privateKeyPath: b.privateKeyPath ?? this.privateKeyPath,
      };
    }
    Object.freeze(this);
  }

  /** Directory on the host where steps stage their files (private to the SSH user). */
  get stageDir(): string {
    return this.user === 'root' ? '/root/.hakube-stage' : `/home/${this.user}/.hakube-stage`;
  }
}

/** A set of hosts with unique names and addresses. */
export class Inventory {
  readonly hosts: readonly Host[];

  constructor(hosts: Array<Host | HostProps>) {
    const list = hosts.map((h) => (h instanceof Host ? h : new Host(h)));
    assertUniqueHosts('Inventory', list);
    this.hosts = Object.freeze(list);
  }

  /** The hosts with these names, in the order given. */
  get(...names: string[]): Host[] {
    return names.map((name) => {
      const host = this.hosts.find((h) => h.name === name);
      if (!host) fail('Inventory', 'host', name, `is not in the inventory (hosts: ${this.hosts.map((h) => h.name).join(', ')})`);
      return host;
    });
  }

  /** The hosts whose label `key` equals `value`. */
  withLabel(key: string, value: string): Host[] {
    return this.hosts.filter((h) => h.labels[key] === value);
  }

  /**
   * Load a `hosts.yaml` file:
   * ```yaml
   * defaults: { user: root, privateKeyPath: ~/.ssh/id_ed25519 }
   * hosts:
   *   - { name: node-1, address: 10.0.0.11, labels: { role: etcd } }
   * ```
   * Relative `privateKeyPath`s are resolved against the file's directory.
   */
  static fromYamlFile(path: string): Inventory {
    return Inventory.fromYaml(readFileSync(path, 'utf8'), { source: path, baseDir: dirname(resolve(path)) });
  }

  /** Parse `hosts.yaml` text (see `fromYamlFile`). */
  static fromYaml(text: string, options: { source?: string; baseDir?: string } = {}): Inventory {
    const source = options.source ?? 'hosts.yaml';
    let doc: unknown;
    try {
      doc = yaml.load(text);
    } catch (e) {
      throw new ValidationError(`${source}: not valid YAML: ${(e as Error).message}`);
    }
    if (!isRecord(doc) || !Array.isArray(doc.hosts)) {
      throw new ValidationError(`${source}: expected a mapping with a "hosts" list`);
    }
    const defaults = doc.defaults === undefined ? {} : doc.defaults;
    if (!isRecord(defaults)) throw new ValidationError(`${source}: "defaults" must be a mapping`);
    const known = new Set(['name', 'address', 'internalAddress', 'user', 'port', 'privateKeyPath', 'bastion', 'hostKey', 'interface', 'labels']);
    const hosts = doc.hosts.map((entry: unknown, index: number) => {
      if (!isRecord(entry)) throw new ValidationError(`${source}: hosts[${index}] must be a mapping`);
      const merged: Record<string, unknown> = { ...defaults, ...entry };
      for (const key of Object.keys(merged)) {
        if (!known.has(key)) throw new ValidationError(`${source}: hosts[${index}] has unknown field ${JSON.stringify(key)}`);
      }
      const keyPath = merged.privateKeyPath;
      if (typeof keyPath === 'string' && options.baseDir && !isAbsolute(keyPath) && !keyPath.startsWith('~')) {
        merged.privateKeyPath = resolve(options.baseDir, keyPath);
      }
      return withSource(`${source}: hosts[${index}]`, () => new Host(merged as unknown as HostProps));
    });
    return withSource(source, () => new Inventory(hosts));
  }

  /** Render as `hosts.yaml` text that `fromYaml` reads back. */
  toYaml(): string {
    const hosts = this.hosts.map((h) => {
      const entry: Record<string, unknown> = { name: h.name, address: h.address };
      if (h.internalAddress !== h.address) entry.internalAddress = h.internalAddress;
      if (h.user !== 'root') entry.user = h.user;
      if (h.port !== 22) entry.port = h.port;
      if (h.privateKeyPath) entry.privateKeyPath = h.privateKeyPath;
      if (h.bastion) entry.bastion = h.bastion;
      if (h.hostKey) entry.hostKey = h.hostKey;
      if (h.interface !== 'eth0') entry.interface = h.interface;
      if (Object.keys(h.labels).length) entry.labels = h.labels;
      return entry;
    });
    return yaml.dump({ hosts }, { lineWidth: -1 });
  }
}

/** Throw when two hosts share a name or an address. */
export function assertUniqueHosts(where: string, hosts: readonly Host[]): void {
  const names = new Map<string, Host>();
  const addresses = new Map<string, Host>();
  for (const host of hosts) {
    const sameName = names.get(host.name);
    if (sameName && sameName !== host) fail(where, 'host name', host.name, 'is used by two different hosts');
    names.set(host.name, host);
    for (const address of new Set([host.address, host.internalAddress])) {
      const other = addresses.get(address);
      if (other && other.name !== host.name) fail(where, 'host address', address, `is used by both ${other.name} and ${host.name}`);
      addresses.set(address, host);
    }
  }
}

/** Run `make`; a ValidationError it throws gets `where` (the file and entry the host came from) in front. */
function withSource<T>(where: string, make: () => T): T {
  try {
    return make();
  } catch (error) {
    if (error instanceof ValidationError) throw new ValidationError(`${where}: ${error.message.replace(/^Inventory: /, '')}`);
    throw error;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
