import { Inventory, type Host } from '../inventory.js';
import { sshRun } from './ssh.js';

/** What makes a machine unique to Kubernetes (kubeadm's preflight asks for unique hostnames, MACs and product_uuids). */
export interface HostIdentity {
  readonly host: string;
  readonly hostname: string;
  /** `unavailable` where the machine exposes none (containers, some VMs). */
  readonly productUuid: string;
  readonly machineId: string;
  readonly macs: readonly string[];
}

/** Bash run on each host; prints one `key=value` per line. */
const PROBE = `printf 'hostname=%s\\n' "$(hostname)"
printf 'product_uuid=%s\\n' "$(cat /sys/class/dmi/id/product_uuid 2>/dev/null || echo unavailable)"
printf 'machine_id=%s\\n' "$(cat /etc/machine-id 2>/dev/null || echo unavailable)"
for dev in /sys/class/net/*; do
  [ "$(cat "$dev/type" 2>/dev/null)" = 1 ] && printf 'mac=%s\\n' "$(cat "$dev/address")"
done
true`;

/** Parse the probe's output. */
export function parseIdentity(host: string, output: string): HostIdentity {
  const values = output.split('\n').map((line) => line.split(/=(.*)/s)) as Array<[string, string?]>;
  const one = (key: string) => values.find(([k]) => k === key)?.[1]?.trim() || 'unavailable';
  return {
    host,
    hostname: one('hostname'),
    productUuid: one('product_uuid').toLowerCase(),
    machineId: one('machine_id'),
    macs: values.filter(([k]) => k === 'mac').map(([, v]) => (v ?? '').trim().toLowerCase()).filter((m) => m && m !== '00:00:00:00:00:00'),
  };
}

/**
 * Problems that would break a cluster of these machines: a hostname that differs from the inventory name, and any
 * hostname, product_uuid, machine-id or MAC address that two hosts share (cloned VMs). Unavailable values are
 * skipped.
 */
export function identityProblems(identities: readonly HostIdentity[]): string[] {
  const problems: string[] = [];
  for (const id of identities) {
    if (id.hostname !== id.host) problems.push(`${id.host}: the machine's hostname is ${JSON.stringify(id.hostname)}, not ${JSON.stringify(id.host)}`);
  }
  const shared = (what: string, pick: (id: HostIdentity) => readonly string[]) => {
    const owners = new Map<string, string[]>();
    for (const id of identities) {
      for (const value of new Set(pick(id))) {
        if (value === 'unavailable') continue;
        owners.set(value, [...(owners.get(value) ?? []), id.host]);
      }
    }
    for (const [value, hosts] of owners) if (hosts.length > 1) problems.push(`${hosts.join(', ')} share the ${what} ${value}`);
  };
  shared('hostname', (id) => [id.hostname]);
  shared('product_uuid', (id) => [id.productUuid]);
  shared('machine-id', (id) => [id.machineId]);
  shared('MAC address', (id) => id.macs);
  return problems;
}

/** Read each host's identity over SSH (the operator's ssh client, the inventory's keys and pinned host keys). */
export async function probeIdentities(hosts: readonly Host[]): Promise<HostIdentity[]> {
  return Promise.all(
    hosts.map(async (host) => {
      const { code, stdout, stderr } = await sshRun(host, PROBE);
      if (code !== 0) throw new Error(`${host.name} (${host.address}): ssh failed (exit ${code}): ${stderr.trim()}`);
      return parseIdentity(host.name, stdout);
    }),
  );
}

export const IDENTITIES_USAGE = `usage: hakube identities [hosts.yaml]

Connects to every host of the inventory (default ./hosts.yaml, else the running lab's) over SSH and checks what
kubeadm needs unique across a cluster — hostname (and that it matches the inventory name), product_uuid,
machine-id, MAC addresses. No step of a plan can compare hosts (none may need another host's output), so run this
before the first deploy, and after cloning VMs. Exit 1 when a problem is found.`;

/** `hakube identities [hosts.yaml]`. */
export async function identitiesCommand(args: readonly string[], defaultInventory: () => string): Promise<number> {
  const path = args[0] ?? defaultInventory();
  const identities = await probeIdentities(Inventory.fromYamlFile(path).hosts);
  for (const id of identities) {
    process.stdout.write(`${id.host.padEnd(16)} hostname=${id.hostname} product_uuid=${id.productUuid} machine-id=${id.machineId} macs=${id.macs.join(',') || '-'}\n`);
  }
  const problems = identityProblems(identities);
  for (const p of problems) process.stderr.write(`hakube identities: ${p}\n`);
  if (problems.length === 0) process.stdout.write(`hakube identities: ${identities.length} hosts, all distinct\n`);
  return problems.length === 0 ? 0 : 1;
}
