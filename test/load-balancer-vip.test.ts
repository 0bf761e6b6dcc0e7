import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { App, TerraformStack, Testing } from 'cdktf';
import { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { LoadBalancerVip, type LoadBalancerVipProps } from '../constructs/load-balancer-vip.js';
import { TerraformProvisioner } from '../lib/backends/cdktf.js';
import { Host } from '../lib/inventory.js';
import { Plan } from '../lib/plan/index.js';
import { HAPROXY_PATHS, SEED_003_DEFAULT_SERVER, haproxyDefaultServer, renderHaproxyConfig } from '../lib/render/haproxy.js';
import { KEEPALIVED_PATHS, parseKeepalivedAuth, renderKeepalivedAuth } from '../lib/render/keepalived.js';
import { renderHaproxyCheckScript } from '../lib/render/load-balancer-scripts.js';
import { ipv4SubnetRange, isIpv4InSubnet, parseIpv4Cidr } from '../lib/validate.js';
import { expectShellcheckClean, hosts, readTree, scriptInputs, tempDir } from './fixtures.js';

const HAPROXY = '/usr/sbin/haproxy';
const KEEPALIVED = '/usr/sbin/keepalived';
/** keepalived -t checks that the interface exists: use one this machine has. */
const IFACE = Object.entries(networkInterfaces()).find(([, addrs]) => addrs?.some((a) => !a.internal))?.[0] ?? 'lo';

const apiServers = (hs: readonly Host[]) => hs.map((h) => ({ name: h.name, address: h.internalAddress, port: 6443 }));

type Props = Partial<LoadBalancerVipProps> & { count?: number };

/** A load balancer on the control-plane hosts in front of their API servers, as in seed 003. */
function lb(props: Props = {}) {
  const root = new Construct(undefined as never, 'app');
  const secretsDir = props.secretsDir ?? tempDir();
  const lbHosts = props.hosts ?? hosts(props.count ?? 3);
  const balancer = new LoadBalancerVip(root, 'api', {
    hosts: lbHosts,
    vip: '10.77.0.100/24',
    backends: apiServers(lbHosts),
    secretsDir,
    ...props,
  });
  return { root, lb: balancer, secretsDir, hosts: lbHosts };
}

function file(plan: Plan, stepId: string, path: string): string {
  const found = plan.step(stepId).files.find((f) => f.path === path);
  if (!found?.content) throw new Error(`no inline ${path} in ${stepId}`);
  return found.content;
}

function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trim());
}

function storedAuth(secretsDir: string, name = 'api'): string {
  return readFileSync(join(secretsDir, 'keepalived', `${name}-vrrp-auth.conf`), 'utf8');
}

/** Run the real keepalived config test on a rendered keepalived.conf, with the include and the check script in a temp dir. */
function keepalivedTest(conf: string, auth: string, check = renderHaproxyCheckScript('api', 8443, 'https-healthz')) {
  const dir = tempDir('hakube-keepalived-');
  const authPath = join(dir, 'auth.conf');
  const checkPath = join(dir, 'check.sh');
  writeFileSync(authPath, auth, { mode: 0o600 });
  writeFileSync(checkPath, check, { mode: 0o755 });
  const confPath = join(dir, 'keepalived.conf');
  writeFileSync(confPath, conf.replaceAll(KEEPALIVED_PATHS.authInclude, authPath).replaceAll(KEEPALIVED_PATHS.checkScript, checkPath));
  const result = spawnSync(KEEPALIVED, ['-t', '-f', confPath], { encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr, dir };
}

/** Run the real haproxy config check in zero-warning mode (-dW: any warning fails). */
function haproxyCheck(cfg: string) {
  const path = join(tempDir('hakube-haproxy-'), 'haproxy.cfg');
  writeFileSync(path, cfg);
  const result = spawnSync(HAPROXY, ['-dW', '-c', '-f', path], { encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}

describe('generic IPv4 CIDR helpers (lib/validate.ts)', () => {
  it('parses CIDRs strictly and computes subnets', () => {
    expect(parseIpv4Cidr('10.77.0.100/24')).toEqual({ address: '10.77.0.100', prefix: 24 });
    for (const bad of ['10.77.0.100', '10.77.0.100/33', '10.77.0.100/024', '010.77.0.1/24', 'fd00::1/64', '10.77.0.300/24', ' 10.0.0.1/8']) {
      expect(parseIpv4Cidr(bad), bad).toBeUndefined();
    }
    expect(ipv4SubnetRange({ address: '10.77.0.100', prefix: 24 })).toEqual({ network: '10.77.0.0', broadcast: '10.77.0.255' });
    expect(ipv4SubnetRange({ address: '192.168.5.9', prefix: 20 })).toEqual({ network: '192.168.0.0', broadcast: '192.168.15.255' });
    expect(ipv4SubnetRange({ address: '255.255.255.255', prefix: 0 })).toEqual({ network: '0.0.0.0', broadcast: '255.255.255.255' });
    expect(isIpv4InSubnet('10.77.0.11', { address: '10.77.0.100', prefix: 24 })).toBe(true);
    expect(isIpv4InSubnet('10.77.1.11', { address: '10.77.0.100', prefix: 24 })).toBe(false);
    expect(isIpv4InSubnet('fd00::1', { address: '10.77.0.100', prefix: 24 })).toBe(false);
  });
});

describe('LoadBalancerVip API', () => {
  it('exposes the VIP, endpoint, priorities, initial master and step ids', () => {
    const { lb: balancer, hosts: hs } = lb();
    expect(balancer.vip).toBe('10.77.0.100');
    expect(balancer.prefixLength).toBe(24);
    expect(balancer.endpoint).toBe('10.77.0.100:8443');
    expect(balancer.priorities).toEqual([101, 100, 99]);
    expect(balancer.initialMaster).toBe(hs[0]);
    expect(balancer.track).toEqual({ interval: 3, weight: -2, fall: 10, rise: 2 });
    expect(balancer.configureStepIds).toEqual(['lb-api/node-1/configure', 'lb-api/node-2/configure', 'lb-api/node-3/configure']);
    expect(balancer.readyStepId).toBe('lb-api/ready');
    expect(balancer.stepId(hs[1], 'install')).toBe('lb-api/node-2/install');
    expect(balancer.interfaceOf(hs[0])).toBe('eth0');
    expect(lb({ name: 'edge', interface: 'ens3' }).lb.interfaceOf(hs[0])).toBe('ens3');
    expect(lb({ name: 'edge' }).lb.readyStepId).toBe('lb-edge/ready');
    expect(lb({ nopreempt: true }).lb.initialMaster).toBeUndefined();
    expect(lb({ nopreempt: true }).lb.track.weight).toBe(0);
    expect(lb({ priorities: [100, 102, 101] }).lb.initialMaster!.name).toBe('node-2');
  });

  it('adds backends after construction', async () => {
    const { root, lb: balancer } = lb({ backends: [] });
    balancer.addBackend({ name: 'etcd-1', address: '10.77.0.21', port: 2379 });
    balancer.addBackend({ name: 'etcd-2', address: 'fd00::22', port: 2379 });
    expect(balancer.backends.map((b) => b.name)).toEqual(['etcd-1', 'etcd-2']);
    const cfg = file(await Plan.of(root), 'lb-api/node-1/configure', HAPROXY_PATHS.candidate);
    expect(lines(cfg)).toContain('server etcd-1 10.77.0.21:2379 check check-ssl verify none');
    expect(lines(cfg)).toContain('server etcd-2 [fd00::22]:2379 check check-ssl verify none');
  });
});

describe('LoadBalancerVip rendering', () => {
  it('renders keepalived.conf per host: one MASTER, descending priorities, unicast peers, VIP with dev, track script', async () => {
    const { root } = lb();
    const plan = await Plan.of(root);
    const expected = [
      { host: 'node-1', state: 'MASTER', priority: 101, src: '10.77.0.11', peers: ['10.77.0.12', '10.77.0.13'] },
      { host: 'node-2', state: 'BACKUP', priority: 100, src: '10.77.0.12', peers: ['10.77.0.11', '10.77.0.13'] },
      { host: 'node-3', state: 'BACKUP', priority: 99, src: '10.77.0.13', peers: ['10.77.0.11', '10.77.0.12'] },
    ];
    for (const e of expected) {
      const conf = file(plan, `lb-api/${e.host}/configure`, KEEPALIVED_PATHS.candidate);
      const l = lines(conf);
      expect(l).toContain(`state ${e.state}`);
      expect(l).toContain(`priority ${e.priority}`);
      expect(l).toContain(`router_id ${e.host}`);
      expect(l).toContain(`unicast_src_ip ${e.src}`);
      const peers = conf.slice(conf.indexOf('unicast_peer {')).split('}')[0];
      expect(lines(peers).slice(1).filter(Boolean)).toEqual(e.peers);
      expect(l).toContain('virtual_ipaddress {');
      expect(l).toContain('10.77.0.100/24 dev eth0');
      expect(l).toContain('interface eth0');
      expect(l).toContain('virtual_router_id 51');
      expect(l).toContain('advert_int 1');
      expect(l).toContain(`include ${KEEPALIVED_PATHS.authInclude}`);
      expect(l).toContain('enable_script_security');
      expect(l).toContain('script_user root');
      expect(conf).toContain(`vrrp_script chk_haproxy {\n    script "${KEEPALIVED_PATHS.checkScript}"\n    interval 3\n    weight -2\n    fall 10\n    rise 2\n}`);
      expect(conf).toContain('track_script {\n        chk_haproxy\n    }');
      expect(l).not.toContain('nopreempt');
      expect(conf).not.toMatch(/auth_pass|authentication/);
    }
  });

  it('renders multicast, nopreempt (all BACKUP, FAULT on failure), an interface override and custom track settings', async () => {
    const multicast = await Plan.of(lb({ unicast: false }).root);
    expect(file(multicast, 'lb-api/node-1/configure', KEEPALIVED_PATHS.candidate)).not.toMatch(/unicast/);

    const nopreempt = await Plan.of(lb({ nopreempt: true, interface: 'ens3' }).root);
    for (const host of ['node-1', 'node-2', 'node-3']) {
      const l = lines(file(nopreempt, `lb-api/${host}/configure`, KEEPALIVED_PATHS.candidate));
      expect(l).toContain('state BACKUP');
      expect(l).toContain('nopreempt');
      expect(l).toContain('weight 0');
      expect(l).toContain('10.77.0.100/24 dev ens3');
    }
    expect(scriptInputs(nopreempt.step('lb-api/node-1/configure').script).interface).toBe('ens3');

    const lab = await Plan.of(lb({ trackInterval: 1, trackFall: 2, trackRise: 1, trackWeight: -20, priorities: [110, 100, 95] }).root);
    const conf = file(lab, 'lb-api/node-3/configure', KEEPALIVED_PATHS.candidate);
    expect(conf).toContain('interval 1\n    weight -20\n    fall 2\n    rise 1\n');
    expect(lines(conf)).toContain('priority 95');

    const single = await Plan.of(lb({ count: 1 }).root);
    const one = file(single, 'lb-api/node-1/configure', KEEPALIVED_PATHS.candidate);
    expect(one).not.toMatch(/unicast/); // keepalived warns about unicast without peers
    expect(lines(one)).toContain('state MASTER');
  });

  it('renders haproxy.cfg with httpchk /healthz for API servers', async () => {
    const plan = await Plan.of(lb().root);
    const cfg = file(plan, 'lb-api/node-2/configure', HAPROXY_PATHS.candidate);
    expect(cfg).toContain('frontend api\n    bind *:8443\n    mode tcp\n    option tcplog\n    default_backend api\n');
    expect(cfg).toContain([
      'backend api',
      '    mode tcp',
      '    option httpchk GET /healthz',
      '    http-check expect status 200',
      '    balance roundrobin',
      '    default-server inter 1s fastinter 500ms downinter 2s rise 2 fall 2 observe layer4 error-limit 2 on-error mark-down',
      '    server node-1 10.77.0.11:6443 check check-ssl verify none',
      '    server node-2 10.77.0.12:6443 check check-ssl verify none',
      '    server node-3 10.77.0.13:6443 check check-ssl verify none',
    ].join('\n'));
    expect(cfg).not.toMatch(/tcp-check|maxconn|stats socket/);
    // every host gets the same haproxy.cfg
    expect(file(plan, 'lb-api/node-1/configure', HAPROXY_PATHS.candidate)).toBe(cfg);
  });

  it('renders haproxy.cfg with seed 003\'s tcp-check and default-server line in tcp mode, and the stats socket on request', async () => {
    const plan = await Plan.of(lb({ backendCheck: 'tcp', port: 9443, statsSocket: true }).root);
    const cfg = file(plan, 'lb-api/node-1/configure', HAPROXY_PATHS.candidate);
    const l = lines(cfg);
    expect(l).toContain('bind *:9443');
    expect(l).toContain('option tcp-check');
    // the fast check timing, with seed 003's limits for TCP backends
    expect(l).toContain('default-server inter 1s fastinter 500ms downinter 2s rise 2 fall 2 observe layer4 error-limit 2 on-error mark-down slowstart 60s maxconn 250 maxqueue 256 weight 100');
    expect(l).toContain('server node-1 10.77.0.11:6443 check');
    expect(l).toContain('stats socket /run/haproxy/admin.sock mode 660 level admin');
    expect(cfg).not.toMatch(/httpchk|check-ssl/);
    expect(scriptInputs(plan.step('lb-api/node-1/configure').script).stats_socket).toBe('1');
    // what the scripts do with these is run in test/load-balancer-scripts.test.ts
    expect(scriptInputs(file(plan, 'lb-api/node-1/configure', KEEPALIVED_PATHS.checkScript))).toMatchObject({ port: '9443', check: 'tcp' });
    expect(scriptInputs(plan.step('lb-api/node-1/install').script).packages).toBe('(haproxy keepalived)');
  });

  it('takes a dead backend out within about 3 s by default: 1 s checks, failed connections observed, 1 s connects retried elsewhere', async () => {
    expect(lb().lb.backendCheckTiming).toBe('fast');
    for (const backendCheck of ['https-healthz', 'tcp'] as const) {
      const plan = await Plan.of(lb({ backendCheck }).root);
      const l = lines(file(plan, 'lb-api/node-1/configure', HAPROXY_PATHS.candidate));
      const defaults = l.slice(l.indexOf('defaults'), l.indexOf('', l.indexOf('defaults')));
      expect(defaults, backendCheck).toEqual([
        'defaults',
        'log global',
        'mode tcp',
        'option tcplog',
        'option dontlognull',
        'option redispatch 1',
        'retries 3',
        'timeout connect 1s',
        'timeout client 35s',
        'timeout server 35s',
        'timeout tunnel 1h',
        'timeout queue 20s',
        'timeout check 10s',
      ]);
      const defaultServer = l.filter((x) => x.startsWith('default-server'));
      expect(defaultServer, backendCheck).toHaveLength(1);
      // check every 1 s (a check connect times out after min(timeout connect, inter) = 1 s because timeout check
      // is set), every 500 ms once one failed: down after 2 failures, i.e. within about 3.5 s of a power-off
      expect(defaultServer[0]).toMatch(/^default-server inter 1s fastinter 500ms downinter 2s rise 2 fall 2 observe layer4 error-limit 2 on-error mark-down( |$)/);
    }
  });

  it('renders seed 003\'s check timing on request, exactly as before the fast default', async () => {
    const tcp = await Plan.of(lb({ backendCheck: 'tcp', backendCheckTiming: 'seed-003' }).root);
    const tcpLines = lines(file(tcp, 'lb-api/node-1/configure', HAPROXY_PATHS.candidate));
    expect(tcpLines.filter((x) => x.startsWith('default-server'))).toEqual([SEED_003_DEFAULT_SERVER]);
    expect(SEED_003_DEFAULT_SERVER).toBe('default-server inter 10s downinter 5s rise 2 fall 2 slowstart 60s maxconn 250 maxqueue 256 weight 100');
    const https = await Plan.of(lb({ backendCheckTiming: 'seed-003' }).root);
    const httpsCfg = file(https, 'lb-api/node-1/configure', HAPROXY_PATHS.candidate);
    expect(httpsCfg).not.toMatch(/default-server|observe|fastinter/); // haproxy's own inter 2s, rise 2, fall 3
    for (const l of [tcpLines, lines(httpsCfg)]) {
      expect(l).toContain('option redispatch');
      expect(l).toContain('retries 1');
      expect(l).toContain('timeout connect 5s');
      expect(l).not.toContain('option redispatch 1');
    }
    expect(haproxyDefaultServer('tcp', 'seed-003')).toBe(SEED_003_DEFAULT_SERVER);
    expect(haproxyDefaultServer('https-healthz', 'seed-003')).toBeUndefined();
    // the timing is part of the configure steps' content, so changing it re-runs them (and reloads haproxy)
    const secretsDir = tempDir();
    const fast = await Plan.of(lb({ secretsDir }).root);
    const seed = await Plan.of(lb({ secretsDir, backendCheckTiming: 'seed-003' }).root);
    // (with the first wave's checks of their hosts and the VIP's ready check after them)
    expect(fast.steps.filter((st) => seed.step(st.id).hash !== st.hash).map((st) => st.id)).toEqual([
      'hosts/node-1/reachable', 'hosts/node-2/reachable', 'hosts/node-3/reachable', 'hosts/ready',
      'lb-api/node-1/configure', 'lb-api/node-2/configure', 'lb-api/node-3/configure', 'lb-api/ready',
    ]);
  });

  it('places a check script after kubeadm\'s check_apiserver.sh: haproxy active and /healthz through it', async () => {
    const plan = await Plan.of(lb().root);
    const step = plan.step('lb-api/node-1/configure');
    const check = step.files.find((f) => f.path === KEEPALIVED_PATHS.checkScript)!;
    expect(check).toMatchObject({ mode: '0755', owner: 'root:root' });
    // what the check does with these is run in test/load-balancer-scripts.test.ts
    expect(scriptInputs(check.content!)).toMatchObject({ load_balancer: 'api', port: '8443', check: 'https-healthz' });
    expect(check.content!.startsWith('#!/bin/bash\n')).toBe(true);
    expect(scriptInputs(plan.step('lb-api/node-1/install').script).packages).toBe('(haproxy keepalived curl)');
  });

  it('configure checks and promotes the files the step places (the script itself runs in test/load-balancer-scripts.test.ts)', async () => {
    const plan = await Plan.of(lb().root);
    const step = plan.step('lb-api/node-1/configure');
    const inputs = scriptInputs(step.script);
    expect([inputs.haproxy_candidate, inputs.keepalived_candidate, inputs.auth_include, inputs.check_script]).toEqual(step.files.map((f) => f.path));
    expect([inputs.haproxy_config, inputs.keepalived_config]).toEqual([HAPROXY_PATHS.config, KEEPALIVED_PATHS.config]);
    expect(inputs.stats_socket).toBe('0');
  });
});

describe('rendered configurations pass the real tools', () => {
  it('haproxy -c (zero-warning mode) accepts both check modes with both timings, IPv6 backends and the stats socket', async () => {
    const variants: Props[] = [
      {},
      { backendCheck: 'tcp', statsSocket: true },
      { backends: [{ name: 'v6', address: 'fd00::5', port: 6443 }] },
      { backendCheckTiming: 'seed-003' },
      { backendCheck: 'tcp', backendCheckTiming: 'seed-003' },
    ];
    for (const props of variants) {
      const plan = await Plan.of(lb(props).root);
      const result = haproxyCheck(file(plan, 'lb-api/node-1/configure', HAPROXY_PATHS.candidate));
      expect(result.output, JSON.stringify(props)).toContain('Configuration file is valid');
      expect(result.status).toBe(0);
    }
  });

  it('haproxy -c rejects a broken configuration (so the check above can fail)', () => {
    const good = renderHaproxyConfig({ name: 'x', port: 8443, check: 'tcp', servers: [{ name: 'a', address: '10.0.0.1', port: 1 }], statsSocket: false });
    const broken = haproxyCheck(good.replace('balance roundrobin', 'balance sideways'));
    expect(broken.status).not.toBe(0);
    expect(broken.output).toMatch(/ALERT/);
    const duplicate = haproxyCheck(`${good}    server a 10.0.0.2:1 check\n`);
    expect(duplicate.status).not.toBe(0);
    expect(duplicate.output).toMatch(/another server named 'a'/);
    // haproxy parses the check timing keywords (a typo there fails too)
    const badOnError = haproxyCheck(good.replace('on-error mark-down', 'on-error shrug'));
    expect(badOnError.status).not.toBe(0);
    expect(badOnError.output).toMatch(/on-error/);
  });

  it('keepalived -t accepts every host\'s configuration, with the secret include file, in every variant', async () => {
    const variants: Props[] = [{}, { unicast: false }, { nopreempt: true }, { count: 1 }, { backendCheck: 'tcp', trackInterval: 1, trackFall: 2, trackWeight: -20, priorities: [120, 110, 101] }];
    for (const props of variants) {
      const { root, secretsDir } = lb({ interface: IFACE, ...props });
      const plan = await Plan.of(root);
      for (const step of plan.steps.filter((s) => s.id.endsWith('/configure'))) {
        const conf = step.files.find((f) => f.path === KEEPALIVED_PATHS.candidate)!.content!;
        const check = step.files.find((f) => f.path === KEEPALIVED_PATHS.checkScript)!.content!;
        const result = keepalivedTest(conf, storedAuth(secretsDir), check);
        expect(result.stderr, `${JSON.stringify(props)} ${step.id}`).toBe('');
        expect(result.status).toBe(0);
      }
    }
  });

  it('keepalived 2.2 reads `include` inside vrrp_instance (an error in the included file fails the test) and fails on broken configs', async () => {
    const { root, secretsDir } = lb({ interface: IFACE });
    const plan = await Plan.of(root);
    const conf = file(plan, 'lb-api/node-1/configure', KEEPALIVED_PATHS.candidate);
    const auth = storedAuth(secretsDir);

    const badInclude = keepalivedTest(conf, auth.replace('auth_type PASS', 'auth_type NOPE'));
    expect(badInclude.status).not.toBe(0);
    expect(badInclude.stderr).toContain(`(${join(badInclude.dir, 'auth.conf')}: Line 3) (hakube_api) unknown authentication type 'NOPE'`);

    const badRouterId = keepalivedTest(conf.replace('virtual_router_id 51', 'virtual_router_id 300'), auth);
    expect(badRouterId.status).not.toBe(0);
    expect(badRouterId.stderr).toMatch(/VRID '300' not valid/);

    const masterWithNopreempt = keepalivedTest(conf.replace('state MASTER', 'state MASTER\n    nopreempt'), auth);
    expect(masterWithNopreempt.status).not.toBe(0);
    expect(masterWithNopreempt.stderr).toMatch(/nopreempt will not work with initial state MASTER/);

    const missingInterface = keepalivedTest(conf.replaceAll(IFACE, 'hakube-nope0'), auth);
    expect(missingInterface.status).not.toBe(0);

    // A missing include is only reported, with exit status 0: the configure script checks the file itself.
    const dir = tempDir();
    writeFileSync(join(dir, 'check.sh'), '#!/bin/sh\n', { mode: 0o755 });
    const missing = join(dir, 'k.conf');
    writeFileSync(missing, conf.replace(KEEPALIVED_PATHS.checkScript, join(dir, 'check.sh')));
    const result = spawnSync(KEEPALIVED, ['-t', '-f', missing], { encoding: 'utf8' });
    expect(result.stderr).toMatch(/Config files missing/);
    expect(result.status).toBe(0);
  });
});

describe('LoadBalancerVip synth-time rules', () => {
  const [h1, h2, h3] = hosts(3);
  const outside = new Host({ name: 'far', address: '10.77.1.5' });
  it.each<[string, Props, RegExp]>([
    ['name', { name: 'API_lb' }, /name "API_lb" must be a host name label/],
    ['no hosts', { hosts: [] }, /hosts 0 is empty/],
    ['a host twice', { hosts: [h1, h2, h1] }, /hosts "node-1" is listed twice/],
    ['two hosts with one address', { hosts: [h1, new Host({ name: 'other', address: '10.77.0.11' })] }, /host address "10.77.0.11" is used by both node-1 and other/],
    ['vip without prefix', { vip: '10.77.0.100' }, /vip "10.77.0.100" is not an IPv4 address with a prefix length/],
    ['IPv6 vip', { vip: 'fd00::100/64' }, /vip "fd00::100\/64" is not an IPv4 address with a prefix length/],
    ['vip prefix 33', { vip: '10.77.0.100/33' }, /vip "10.77.0.100\/33" is not an IPv4 address/],
    ['vip outside the subnet', { vip: '10.78.0.100/24' }, /vip "10.78.0.100\/24" is not in the subnet of host node-1 \(10.77.0.11 is outside 10.78.0.0\/24\): VRRP only moves/],
    ['a host outside the subnet', { hosts: [h1, outside] }, /vip "10.77.0.100\/24" is not in the subnet of host far \(10.77.1.5 is outside 10.77.0.0\/24\)/],
    ['vip = a host', { vip: '10.77.0.12/24' }, /vip "10.77.0.12\/24" is the address of host node-2: the virtual IP must be an address no host has/],
    ['vip = network address', { vip: '10.77.0.0/24' }, /vip "10.77.0.0\/24" is the network address of 10.77.0.0\/24/],
    ['vip = broadcast address', { vip: '10.77.0.255/24' }, /vip "10.77.0.255\/24" is the broadcast address of 10.77.0.0\/24/],
    ['vip = a backend', { backends: [{ name: 'x', address: '10.77.0.100', port: 6443 }] }, /backends\[0\].address "10.77.0.100" is the VIP itself/],
    ['virtualRouterId 0', { virtualRouterId: 0 }, /virtualRouterId 0 must be an integer from 1 to 255/],
    ['virtualRouterId 256', { virtualRouterId: 256 }, /virtualRouterId 256 must be an integer from 1 to 255/],
    ['priorities count', { priorities: [101, 100] }, /priorities \[101,100\] has 2 entries for 3 hosts/],
    ['priority 255', { priorities: [255, 254, 253] }, /priorities \[255,254,253\] contain 255: each must be an integer from 1 to 254/],
    ['priority 0', { priorities: [2, 1, 0] }, /contain 0: each must be an integer from 1 to 254/],
    ['equal priorities', { priorities: [100, 100, 99] }, /priorities \[100,100,99\] contain 100 twice: .* not be exactly one initial MASTER/],
    ['a priority gap the weight cannot bridge', { priorities: [110, 100, 99] }, /priorities \[110,100,99\] have a gap of 10 between 110 and 100, but a failed haproxy check only moves a priority by trackWeight -2: .*failover could never happen; keep neighbouring priorities less than 2 apart or make \|trackWeight\| larger than 10/],
    ['a gap equal to the weight', { priorities: [104, 102, 101], trackWeight: -2 }, /have a gap of 2 between 104 and 102/],
    ['a weight pushing below 1', { priorities: [3, 2, 1] }, /trackWeight -2 takes priority 1 below 1; keepalived clamps it/],
    ['a weight pushing above 254', { priorities: [254, 253, 252], trackWeight: 2 }, /trackWeight 2 takes priority 254 above 254/],
    ['nopreempt with a weight', { nopreempt: true, trackWeight: -2 }, /trackWeight -2 has no effect with nopreempt: a BACKUP with nopreempt never takes over .* use trackWeight 0/],
    ['trackWeight out of range', { trackWeight: -300 }, /trackWeight -300 must be an integer from -253 to 253/],
    ['trackInterval 0', { trackInterval: 0 }, /trackInterval 0 must be a whole number of seconds/],
    ['trackFall 0', { trackFall: 0 }, /trackFall 0 must be an integer from 1 to 255/],
    ['trackRise 1.5', { trackRise: 1.5 }, /trackRise 1.5 must be an integer from 1 to 255/],
    ['port 0', { port: 0 }, /port 0 is not a port/],
    ['haproxy port = a backend port on an LB host', { port: 6443 }, /port 6443 is also the port of backend node-1 \(10.77.0.11:6443\) on load balancer host node-1: haproxy and the backend cannot both listen on it/],
    ['haproxy port = a loopback backend', { backends: [{ name: 'local', address: '127.0.0.1', port: 8443 }] }, /port 8443 is also the port of backend local \(127.0.0.1:8443\), a loopback address/],
    ['backendCheck', { backendCheck: 'http' as never }, /backendCheck "http" must be "https-healthz" or "tcp"/],
    ['backendCheckTiming', { backendCheckTiming: 'slow' as never }, /backendCheckTiming "slow" must be "fast" or "seed-003"/],
    ['interface', { interface: 'eth 0' }, /interface "eth 0" is not a network interface name/],
    ['backend name', { backends: [{ name: 'Master 1', address: '10.77.0.11', port: 6443 }] }, /backends\[0\].name "Master 1" must be host-name-like/],
    ['duplicate backend name', { backends: [{ name: 'a', address: '10.77.0.11', port: 6443 }, { name: 'a', address: '10.77.0.12', port: 6443 }] }, /backends\[1\].name "a" is used by another backend/],
    ['duplicate backend endpoint', { backends: [{ name: 'a', address: '10.77.0.11', port: 6443 }, { name: 'b', address: '10.77.0.11', port: 6443 }] }, /backends\[1\] "10.77.0.11:6443" is already backend a/],
    ['backend address', { backends: [{ name: 'a', address: 'master1.local', port: 6443 }] }, /backends\[0\].address "master1.local" is not an IPv4 or IPv6 address/],
    ['backend port', { backends: [{ name: 'a', address: '10.77.0.11', port: 70000 }] }, /backends\[0\].port 70000 is not a port/],
  ])('rejects %s', (_, props, message) => {
    expect(() => lb({ hosts: [h1, h2, h3], ...props })).toThrow(message);
    expect(() => lb({ hosts: [h1, h2, h3], ...props })).toThrow(/^LoadBalancerVip app\/api: /);
  });

  it('needs at least one backend by synth time', async () => {
    const { root } = lb({ backends: [] });
    await expect(Plan.of(root)).rejects.toThrow(/\n {2}- LoadBalancerVip app\/api: backends \[\] is empty: haproxy needs at least one backend server/);
  });

  it('rejects two load balancers on one host', async () => {
    const { root, hosts: hs } = lb();
    new LoadBalancerVip(root, 'other', { hosts: [hs[2]], vip: '10.77.0.101/24', backends: apiServers(hs), port: 9443, secretsDir: tempDir() });
    await expect(Plan.of(root)).rejects.toThrow(/\n {2}- LoadBalancerVip app\/api: hosts "node-3" is also a host of load balancer app\/other/);
  });

  it('allows a single host with a warning, and a gap smaller than a bigger weight', async () => {
    const single = await Plan.of(lb({ count: 1 }).root);
    expect(single.warnings).toEqual(['app/api: a single load balancer host (node-1) has no failover: the VIP 10.77.0.100 is lost when it is down']);
    expect((await Plan.of(lb({ priorities: [150, 140, 130], trackWeight: -11 }).root)).warnings).toEqual([]);
    expect(() => lb({ priorities: [150, 140, 130], trackWeight: 11 })).not.toThrow();
    expect(() => lb({ port: 6443, backends: [{ name: 'elsewhere', address: '10.77.0.50', port: 6443 }] })).not.toThrow();
  });

  it('writes nothing to disk while constructing', () => {
    const secretsDir = join(tempDir(), 'secrets');
    lb({ secretsDir });
    expect(() => statSync(secretsDir)).toThrow();
  });
});

describe('VRRP password', () => {
  it('is generated once (8 characters, salted file, 0600) and reused across synths', async () => {
    const secretsDir = tempDir();
    const first = await Plan.of(lb({ secretsDir }).root);
    const auth = storedAuth(secretsDir);
    const password = parseKeepalivedAuth(auth)!;
    expect(password).toMatch(/^[a-z0-9]{8}$/);
    expect(auth).toMatch(/Salt: [a-z0-9]{32}\nauthentication \{\n {4}auth_type PASS\n {4}auth_pass [a-z0-9]{8}\n\}$/);
    expect(statSync(join(secretsDir, 'keepalived', 'api-vrrp-auth.conf')).mode & 0o777).toBe(0o600);
    const again = await Plan.of(lb({ secretsDir }).root);
    expect(storedAuth(secretsDir)).toBe(auth);
    expect(again.toYaml()).toBe(first.toYaml());
    const placed = first.step('lb-api/node-2/configure').files.find((f) => f.path === KEEPALIVED_PATHS.authInclude)!;
    expect(placed).toMatchObject({ mode: '0600', owner: 'root:root', secret: { dir: secretsDir, file: 'keepalived/api-vrrp-auth.conf' } });
    expect(placed.content).toBeUndefined();
  });

  it('refuses a stored auth file it did not write', async () => {
    const secretsDir = tempDir();
    await Plan.of(lb({ secretsDir }).root);
    writeFileSync(join(secretsDir, 'keepalived', 'api-vrrp-auth.conf'), 'authentication {\n    auth_type PASS\n    auth_pass x\n}\nvrrp_script evil {}\n');
    await expect(Plan.of(lb({ secretsDir }).root)).rejects.toThrow(/api-vrrp-auth.conf is not an authentication block hakube wrote; delete it/);
    expect(parseKeepalivedAuth(renderKeepalivedAuth('x', 'abcd1234', 'salt'))).toBe('abcd1234');
  });

  it('never appears in the plan YAML, the step scripts, the cdktf JSON or cdktf.out', async () => {
    const secretsDir = tempDir();
    const outdir = tempDir('hakube-cdktf-');
    const app = new App({ outdir });
    const stack = new TerraformStack(app, 'lb');
    const lbHosts = hosts(3);
    new LoadBalancerVip(stack, 'api', { hosts: lbHosts, vip: '10.77.0.100/24', backends: apiServers(lbHosts), secretsDir });
    const plan = await Plan.of(stack);
    new TerraformProvisioner(stack, 'provision', { plan });
    app.synth();
    const json = Testing.synth(stack);
    const auth = storedAuth(secretsDir);
    const password = parseKeepalivedAuth(auth)!;
    const salt = /Salt: ([a-z0-9]{32})/.exec(auth)![1];
    const texts = [plan.toYaml(), json, ...plan.steps.flatMap((s) => [s.script, ...s.files.map((f) => f.content ?? '')]), ...readTree(outdir).map((f) => f.text)];
    for (const text of texts) {
      expect(text.includes(password)).toBe(false);
      expect(text.includes(salt)).toBe(false);
      expect(text).not.toMatch(/auth_pass/);
    }
    // the include file travels by path
    const resource = JSON.parse(json).resource.terraform_data['lb-api_node-1_configure'];
    const sources = (resource.provisioner as Array<Record<string, any>>).map((p) => p.file?.source).filter(Boolean);
    expect(sources).toEqual([join(secretsDir, 'keepalived/api-vrrp-auth.conf')]);
  });
});

describe('LoadBalancerVip plan', () => {
  it('plans install → configure per host, then one ready check', async () => {
    const plan = await Plan.of(lb().root);
    expect(plan.steps.map((s) => s.id)).toEqual([
      'hosts/node-1/reachable', 'hosts/node-2/reachable', 'hosts/node-3/reachable', 'hosts/ready',
      'lb-api/node-1/install', 'lb-api/node-2/install', 'lb-api/node-3/install',
      'lb-api/node-1/configure', 'lb-api/node-2/configure', 'lb-api/node-3/configure',
      'lb-api/ready',
    ]);
    for (const host of ['node-1', 'node-2', 'node-3']) {
      const configure = plan.step(`lb-api/${host}/configure`);
      expect(configure.after).toEqual([`lb-api/${host}/install`]);
      expect(configure.host).toBe(host);
      expect(configure.files.map((f) => [f.path, f.mode])).toEqual([
        ['/etc/haproxy/haproxy.cfg.hakube-candidate', '0644'],
        ['/etc/keepalived/keepalived.conf.hakube-candidate', '0644'],
        ['/etc/keepalived/hakube-vrrp-auth.conf', '0600'],
        ['/etc/keepalived/hakube-check-haproxy.sh', '0755'],
      ]);
      expect(plan.step(`lb-api/${host}/install`).after).toEqual(['hosts/ready']);
    }
    const ready = plan.step('lb-api/ready');
    expect(ready.host).toBe('node-1');
    expect(ready.after).toEqual(['lb-api/node-1/configure', 'lb-api/node-2/configure', 'lb-api/node-3/configure']);
    expect(scriptInputs(ready.script)).toMatchObject({ vip: '10.77.0.100', port: '8443' });
    expect([...ready.rerunWith].sort()).toEqual(plan.steps.filter((st) => /^lb-api\/node-/.test(st.id)).map((st) => st.id).sort());
    expect(plan.waves().length).toBe(5);
  });

  it('a backend change re-runs exactly the configure steps', async () => {
    const secretsDir = tempDir();
    const first = await Plan.of(lb({ secretsDir }).root);
    const changed = lb({ secretsDir });
    changed.lb.addBackend({ name: 'node-4', address: '10.77.0.14', port: 6443 });
    const second = await Plan.of(changed.root);
    expect(first.steps.filter((s) => second.step(s.id).hash !== s.hash).map((s) => s.id)).toEqual([
      'hosts/node-1/reachable', 'hosts/node-2/reachable', 'hosts/node-3/reachable', 'hosts/ready',
      'lb-api/node-1/configure', 'lb-api/node-2/configure', 'lb-api/node-3/configure', 'lb-api/ready',
    ]);
  });

  it('generates scripts that pass shellcheck', async () => {
    const variants: Props[] = [{}, { backendCheck: 'tcp', statsSocket: true }, { nopreempt: true, unicast: false }, { count: 1 }];
    const scripts: string[] = [];
    for (const props of variants) {
      const plan = await Plan.of(lb(props).root);
      for (const step of plan.steps) {
        scripts.push(step.script);
        const check = step.files.find((f) => f.path === KEEPALIVED_PATHS.checkScript);
        if (check) {
          scripts.push(check.content!);
        }
      }
    }
    expect(scripts.length).toBeGreaterThan(20);
    expectShellcheckClean(scripts);
  });

  it('snapshot of a 3-host plan', async () => {
    const plan = await Plan.of(lb().root);
    const yaml = plan.toYaml().replace(/sha256: [0-9a-f]{64}/g, 'sha256: <hash>').replace(/hash: [0-9a-f]{64}/g, 'hash: <hash>');
    expect(yaml).toMatchSnapshot();
  });
});
