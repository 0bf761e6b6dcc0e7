import { describe, expect, it } from 'vitest';
import { Host, Inventory } from '../lib/inventory.js';
import { sh } from '../lib/shell.js';

describe('Host', () => {
  it('fills in defaults', () => {
    const h = new Host({ name: 'etcd-1', address: '10.0.0.1' });
    expect([h.user, h.port, h.internalAddress, h.interface, h.stageDir]).toEqual(['root', 22, '10.0.0.1', 'eth0', '/root/.hakube-stage']);
    expect(new Host({ name: 'a', address: '10.0.0.1', user: 'debian' }).stageDir).toBe('/home/debian/.hakube-stage');
  });

  it.each([
    [{ name: 'Etcd_1', address: '10.0.0.1' }, /name "Etcd_1" is not an RFC 1123 host name/],
    [{ name: 'a', address: '10.0.0.300' }, /address "10.0.0.300" is not an IPv4 or IPv6 address/],
    [{ name: 'a', address: '10.0.0.1', port: 70000 }, /port 70000 is not a port/],
    [{ name: 'a', address: '10.0.0.1', user: 'root; rm -rf /' }, /user "root; rm -rf \/" is not a valid user name/],
    [{ name: 'a', address: '10.0.0.1', interface: 'eth0 up' }, /interface "eth0 up"/],
    [{ name: 'a', address: '10.0.0.1', hostKey: 'not a key' }, /hostKey "not a key"/],
    [{ name: 'a', address: '10.0.0.1', bastion: { address: 'bad host!' } }, /bastion.address "bad host!"/],
  ])('rejects %j', (props, message) => {
    expect(() => new Host(props as never)).toThrow(message);
  });

  it('accepts IPv6 and a bastion that inherits user and key', () => {
    const h = new Host({ name: 'v6', address: 'fd00::1', user: 'ops', privateKeyPath: '~/.ssh/k', bastion: { address: 'jump.example.com' } });
    expect(h.bastion).toEqual({ address: 'jump.example.com', port: 22, user: 'ops', privateKeyPath: '~/.ssh/k' });
  });
});

describe('Inventory', () => {
  const text = `
defaults: { privateKeyPath: keys/id, user: root }
hosts:
  - { name: etcd-1, address: 10.0.0.11, labels: { role: etcd } }
  - { name: etcd-2, address: 10.0.0.12, labels: { role: etcd }, hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA" }
  - { name: lb-1, address: 10.0.0.21, port: 2222 }
`;

  it('loads hosts.yaml with defaults, resolves relative key paths, selects by name and label', () => {
    const inv = Inventory.fromYaml(text, { baseDir: '/srv/site' });
    expect(inv.hosts.map((h) => h.name)).toEqual(['etcd-1', 'etcd-2', 'lb-1']);
    expect(inv.hosts[0].privateKeyPath).toBe('/srv/site/keys/id');
    expect(inv.withLabel('role', 'etcd').map((h) => h.name)).toEqual(['etcd-1', 'etcd-2']);
    expect(inv.get('lb-1')[0].port).toBe(2222);
    expect(() => inv.get('nope')).toThrow(/host "nope" is not in the inventory/);
  });

  it('round-trips through toYaml', () => {
    const inv = Inventory.fromYaml(text, { baseDir: '/srv/site' });
    const again = Inventory.fromYaml(inv.toYaml());
    expect(again.hosts).toEqual(inv.hosts);
  });

  it('rejects duplicate names and addresses, unknown fields and bad YAML', () => {
    expect(() => new Inventory([{ name: 'a', address: '10.0.0.1' }, { name: 'a', address: '10.0.0.2' }])).toThrow(/host name "a" is used by two/);
    expect(() => new Inventory([{ name: 'a', address: '10.0.0.1' }, { name: 'b', address: '10.0.0.1' }])).toThrow(/"10.0.0.1" is used by both a and b/);
    expect(() => Inventory.fromYaml('hosts:\n  - { name: a, address: 10.0.0.1, adress: x }')).toThrow(/unknown field "adress"/);
    expect(() => Inventory.fromYaml('hosts: [')).toThrow(/not valid YAML/);
  });

  it('names the file and the entry a bad host came from', () => {
    const text = 'hosts:\n  - { name: a, address: 10.0.0.1 }\n  - { name: b, address: 10.0.0.300 }\n';
    expect(() => Inventory.fromYaml(text, { source: 'site/hosts.yaml' })).toThrow('site/hosts.yaml: hosts[1]: Host "b": address "10.0.0.300" is not an IPv4 or IPv6 address');
    const twice = 'hosts:\n  - { name: a, address: 10.0.0.1 }\n  - { name: b, address: 10.0.0.1 }\n';
    expect(() => Inventory.fromYaml(twice, { source: 'site/hosts.yaml' })).toThrow('site/hosts.yaml: host address "10.0.0.1" is used by both a and b');
    expect(() => Inventory.fromYaml('servers: []')).toThrow(/expected a mapping with a "hosts" list/);
  });
});

describe('sh', () => {
  it('leaves safe words alone and single-quotes everything else', () => {
    expect(sh('/etc/etcd/etcd.env')).toBe('/etc/etcd/etcd.env');
    expect(sh("it's $(rm -rf /)")).toBe(`'it'\\''s $(rm -rf /)'`);
    expect(sh('')).toBe("''");
  });
});
