import { describe, expect, it } from 'vitest';
import { identityProblems, parseIdentity } from '../lib/cli/identities.js';

const probe = (hostname: string, uuid: string, machineId: string, macs: string[]) =>
  [`hostname=${hostname}`, `product_uuid=${uuid}`, `machine_id=${machineId}`, ...macs.map((m) => `mac=${m}`)].join('\n');

describe('hakube identities', () => {
  it('parses the probe output', () => {
    expect(parseIdentity('a', probe('a', 'ABC-1', 'm1', ['02:00:00:00:00:01']))).toEqual({
      host: 'a', hostname: 'a', productUuid: 'abc-1', machineId: 'm1', macs: ['02:00:00:00:00:01'],
    });
    expect(parseIdentity('a', 'hostname=a\n').productUuid).toBe('unavailable');
  });

  it('finds cloned machines: shared product_uuid, machine-id or MAC, and hostnames that differ from the inventory', () => {
    const ids = [
      parseIdentity('node-1', probe('node-1', 'u1', 'm1', ['02:00:00:00:00:01'])),
      parseIdentity('node-2', probe('node-1', 'u1', 'm2', ['02:00:00:00:00:01'])),
      parseIdentity('node-3', probe('node-3', 'unavailable', 'm1', ['02:00:00:00:00:03'])),
    ];
    expect(identityProblems(ids)).toEqual([
      'node-2: the machine\'s hostname is "node-1", not "node-2"',
      'node-1, node-2 share the hostname node-1',
      'node-1, node-2 share the product_uuid u1',
      'node-1, node-3 share the machine-id m1',
      'node-1, node-2 share the MAC address 02:00:00:00:00:01',
    ]);
  });

  it('accepts distinct machines and skips values a machine does not expose', () => {
    const ids = ['a', 'b'].map((h, i) => parseIdentity(h, probe(h, 'unavailable', `m${i}`, [`02:00:00:00:00:0${i}`])));
    expect(identityProblems(ids)).toEqual([]);
  });
});
