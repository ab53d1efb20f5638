import { describe, expect, it } from 'vitest';
import { environmentSchema } from '../../src/config/schema.js';

const hosts = [{ host: 'web1', path: '/srv/shop' }, { host: 'web2', path: '/srv/shop' }];
const issues = (env: unknown) => {
  const r = environmentSchema.safeParse(env);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('load_balancer and blue_green config', () => {
  it('defaults: drain_timeout 30s, nginx reload, blue-green stop/health/start_timeout', () => {
    const lb = environmentSchema.parse({ strategy: 'rolling', load_balancer: { type: 'haproxy', host: 'lb1', socket: '/run/haproxy/admin.sock', backend: 'app', servers: { web1: 's1', web2: 's2' } }, hosts });
    expect(lb.load_balancer).toMatchObject({ drain_timeout: 30_000 });
    const ng = environmentSchema.parse({ load_balancer: { type: 'nginx', host: 'local', upstream: '/etc/nginx/up.conf', servers: { web1: '10.0.0.1:3000', web2: '10.0.0.2:3000' } }, hosts });
    expect(ng.load_balancer).toMatchObject({ reload: 'nginx -s reload', drain_timeout: 30_000 });
    const bg = environmentSchema.parse({ strategy: 'blue_green', blue_green: { ports: [3001, 3002], start: 'PORT={port} node server.js', upstream: '/etc/nginx/up.conf', drain_timeout: '5s' }, hosts });
    expect(bg.blue_green).toEqual({ ports: [3001, 3002], start: 'PORT={port} node server.js', stop: 'kill $(cat {pidfile})', upstream: '/etc/nginx/up.conf', reload: 'nginx -s reload', drain_timeout: 5000, health: '/', start_timeout: 30_000 });
  });
  it('errors name the field', () => {
    expect(issues({ strategy: 'blue_green', hosts })).toEqual(['strategy: strategy blue_green needs a `blue_green:` block (ports, start, upstream...)']);
    expect(issues({ blue_green: { ports: [1, 2], start: 'x', upstream: '/u' }, hosts })).toEqual(['blue_green: a blue_green block needs `strategy: blue_green` (it is parallel)']);
    expect(issues({ strategy: 'blue_green', blue_green: { ports: [3001, 3001], start: 'x', upstream: '/u' }, hosts })).toEqual(['blue_green.ports: the two ports must differ']);
    expect(issues({ load_balancer: { type: 'haproxy', host: 'lb', socket: '/s', backend: 'app', servers: { web1: 's1' } }, hosts })).toEqual(['load_balancer.servers: no entry for host web2 (every host of the environment needs its HAProxy server name)']);
    expect(issues({ load_balancer: { type: 'haproxy', host: 'lb', socket: '/s', backend: 'app; shutdown', servers: { web1: 's1', web2: 's2' } }, hosts })[0]).toMatch(/^load_balancer.backend: must be an HAProxy name/);
    expect(issues({ load_balancer: { type: 'command', drain: 'x {host}', hosts }, hosts })[0]).toMatch(/^load_balancer.ready: |^load_balancer: /);
    expect(issues({ load_balancer: { type: 'f5' }, hosts }).length).toBe(1);
  });
});
