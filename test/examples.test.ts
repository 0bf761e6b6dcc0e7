import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot as root, synthApp } from './fixtures.js';

describe('examples', () => {
  it('examples/etcd-external.ts: 3 etcd members from the labelled hosts', () => {
    const json = synthApp('examples/etcd-external.ts', 'etcd-external', { HAKUBE_HOSTS: join(root, 'examples/hosts.example.yaml') });
    const names = Object.keys(json.resource.terraform_data);
    expect(names.filter((n) => n.endsWith('_configure')).sort()).toEqual(['etcd-prod_etcd-1_configure', 'etcd-prod_etcd-2_configure', 'etcd-prod_etcd-3_configure']);
    expect(json.resource.terraform_data['etcd-prod_etcd-1_install'].connection.host).toBe('192.168.0.11');
  });

  it('main.ts (the root app) synthesizes on a fresh clone against the lab addresses', () => {
    const json = synthApp('main.ts', 'demo');
    const health = json.resource.terraform_data['etcd-demo_health'];
    expect(health.connection.host).toBe('10.77.0.11');
    // etcd 7 steps, the VIP 7, and the first wave: 3 reachability checks and hosts/ready
    expect(Object.keys(json.resource.terraform_data)).toHaveLength(7 + 7 + 3 + 1);
    expect(json.resource.terraform_data['etcd-demo_lab-1_install'].depends_on).toEqual(['terraform_data.hosts_ready']);
    expect(json.resource.terraform_data['lb-vip_ready'].depends_on).toHaveLength(3);
  });
});
