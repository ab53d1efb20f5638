/**
 * Load-balancer drivers against real components: HAProxy's admin socket on an "LB host" reached
 * over a real OpenSSH server (stream forwarding, nothing installed on the host), a real nginx
 * whose upstream file is rewritten and reloaded, and user commands.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedHost } from '../../src/config/resolve.js';
import { openLoadBalancer } from '../../src/traffic/lb.js';
import { server } from '../helpers/deploy-env.js';
import { freePort, parseShowStat, startHaproxy, startNginx, type HaproxyProcess, type NginxProcess } from '../helpers/proxies.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';

let f: SshdFixture;
let restoreHome: () => void;
let apps: Server[];
let hap: HaproxyProcess;
let hapPort: number;
let tmp: string;

/** answers its name; `/slow?ms=N` holds the response N ms */
function app(name: string): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer((req, res) => {
      const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms') ?? 0);
      setTimeout(() => res.end(name), ms);
    });
    s.keepAliveTimeout = 100;
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}
const portOf = (s: Server) => (s.address() as AddressInfo).port;
const host = (name: string): ResolvedHost => ({ name, id: name, local: false, path: '/srv/x', roles: [], tags: [] });

beforeAll(async () => {
  f = await startSshd({ servers: [server('lb'), server('lbnofwd', { sshdConfig: 'AllowStreamLocalForwarding no' })] });
  restoreHome = f.useHome();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-lb-'));
  apps = await Promise.all([app('a'), app('b')]);
  hapPort = await freePort();
  hap = await startHaproxy(
    () => `frontend fe
  bind 127.0.0.1:${hapPort}
  default_backend app
backend app
  balance roundrobin
  server s1 127.0.0.1:${portOf(apps[0])}
  server s2 127.0.0.1:${portOf(apps[1])}`,
    hapPort,
  );
});

afterAll(async () => {
  await hap?.stop();
  for (const s of apps ?? []) s.close();
  restoreHome?.();
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const status = async (sv: string) => parseShowStat(await hap.admin('show stat')).find((r) => r.pxname === 'app' && r.svname === sv);

/** until HAProxy counts one session on `sv` (on a loaded machine a request takes a while to get there) */
async function inFlight(sv: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Number((await status(sv))!.scur) !== 1) {
    if (Date.now() > deadline) throw new Error(`no session on ${sv} after 5 s`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('haproxy over SSH', () => {
  it('drain waits for the server sessions in flight to end, new requests go elsewhere; ready puts it back', async () => {
    const lb = await openLoadBalancer({ type: 'haproxy', host: 'lb', socket: hap.socket, backend: 'app', servers: { web1: 's1', web2: 's2' }, drain_timeout: 10_000 }, { interactive: false, pollMs: 50 });
    try {
      // two slow requests: roundrobin puts one on each server
      const ended: number[] = [];
      const slow = [1, 2].map(() => fetch(`http://127.0.0.1:${hapPort}/slow?ms=1500`).then(async (r) => { const t = await r.text(); ended.push(Date.now()); return t; }));
      await inFlight('s1');
      const t0 = Date.now();
      const [rep] = await lb.drain([host('web1')]);
      const drained = Date.now();
      expect(rep).toMatchObject({ host: 'web1', left: 0, timedOut: false });
      expect(rep.waitedMs).toBeGreaterThan(0);
      expect(drained - t0).toBeLessThan(5000);
      expect((await Promise.all(slow)).sort()).toEqual(['a', 'b']); // the request in flight finished normally
      // the drain ended only once the session in flight had (HAProxy counts it until the response is sent)
      expect(drained).toBeGreaterThanOrEqual(Math.min(...ended) - 500);
      expect((await status('s1'))!.status).toBe('DRAIN');
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) seen.add(await (await fetch(`http://127.0.0.1:${hapPort}/`)).text());
      expect([...seen]).toEqual(['b']);
      await lb.ready([host('web1')]);
      expect((await status('s1'))!.status).toMatch(/^(UP|no check)$/);
    } finally {
      await lb.close();
    }
  });

  it('drain_timeout bounds the wait: sessions still open are reported', async () => {
    const lb = await openLoadBalancer({ type: 'haproxy', host: 'lb', socket: hap.socket, backend: 'app', servers: { web1: 's1', web2: 's2' }, drain_timeout: 400 }, { interactive: false, pollMs: 50 });
    try {
      const slow = [fetch(`http://127.0.0.1:${hapPort}/slow?ms=3000`), fetch(`http://127.0.0.1:${hapPort}/slow?ms=3000`)];
      await inFlight('s1');
      const [rep] = await lb.drain([host('web1')]);
      // it gave up with the session still open (left 1), after drain_timeout, not at its end
      expect(rep).toMatchObject({ left: 1, timedOut: true });
      expect(rep.waitedMs).toBeGreaterThanOrEqual(400);
      expect(rep.waitedMs).toBeLessThan(2500);
      await lb.ready([host('web1')]);
      await Promise.all(slow);
    } finally {
      await lb.close();
    }
  });

  it('a wrong backend is a one-line error naming the command and HAProxy s answer', async () => {
    const lb = await openLoadBalancer({ type: 'haproxy', host: 'lb', socket: hap.socket, backend: 'nope', servers: { web1: 's1' }, drain_timeout: 1000 }, { interactive: false });
    try {
      await expect(lb.drain([host('web1')])).rejects.toThrow(/^load balancer lb: "set server nope\/s1 state drain" failed: No such backend\.$/);
    } finally {
      await lb.close();
    }
  });

  it('sshd refusing stream forwarding: falls back to socat / nc on the host, and says what is missing', async () => {
    const lb = await openLoadBalancer({ type: 'haproxy', host: 'lbnofwd', socket: hap.socket, backend: 'app', servers: { web1: 's1' }, drain_timeout: 1000 }, { interactive: false });
    try {
      const hasTool = ['socat', 'nc'].some((t) => ['/usr/bin', '/bin', '/usr/local/bin'].some((d) => existsSync(path.join(d, t))));
      if (hasTool) {
        await lb.drain([host('web1')]);
        expect((await status('s1'))!.status).toBe('DRAIN');
        await lb.ready([host('web1')]);
      } else {
        await expect(lb.drain([host('web1')])).rejects.toThrow(`load balancer lbnofwd: SSH stream forwarding to ${hap.socket} was refused and neither socat nor nc is installed`);
      }
    } finally {
      await lb.close();
    }
  });
});

describe('nginx upstream file', () => {
  let ngx: NginxProcess;
  let upstream: string;
  let port: number;
  afterAll(async () => ngx?.stop());

  it('drain marks the server down and reloads; ready brings it back', async () => {
    port = await freePort();
    ngx = await startNginx((dir) => {
      upstream = path.join(dir, 'upstream.conf');
      writeFileSync(upstream, `server 127.0.0.1:${portOf(apps[0])};\nserver 127.0.0.1:${portOf(apps[1])};\n`);
      return `upstream app { include ${upstream}; }\nserver { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`;
    }, port);
    const cfg = { type: 'nginx' as const, host: 'local', upstream, reload: ngx.reloadCommand, servers: { web1: `127.0.0.1:${portOf(apps[0])}`, web2: `127.0.0.1:${portOf(apps[1])}` }, drain_timeout: 5000 };
    const lb = await openLoadBalancer(cfg, { interactive: false, pollMs: 50 });
    const [rep] = await lb.drain([{ ...host('web1'), local: false }]);
    expect(rep.left).toBe(0);
    expect(readFileSync(upstream, 'utf8')).toBe(`server 127.0.0.1:${portOf(apps[0])} down;\nserver 127.0.0.1:${portOf(apps[1])};\n`);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(await (await fetch(`http://127.0.0.1:${port}/`)).text());
    expect([...seen]).toEqual(['b']);
    await lb.ready([host('web1')]);
    expect(readFileSync(upstream, 'utf8')).not.toContain('down');
    await lb.close();
  });

  it('a reload that fails puts the previous file back and fails the drain', async () => {
    const before = readFileSync(upstream, 'utf8');
    const lb = await openLoadBalancer({ type: 'nginx', host: 'local', upstream, reload: 'false', servers: { web1: '127.0.0.1:1' }, drain_timeout: 1000 }, { interactive: false });
    await expect(lb.drain([host('web1')])).rejects.toThrow(`load balancer local: the reload command failed; ${upstream} was put back`);
    expect(readFileSync(upstream, 'utf8')).toBe(before);
  });
});

describe('command', () => {
  it('runs drain and ready with {host}; a failing drain is an error naming the host', async () => {
    const log = path.join(tmp, 'cmd.log');
    const lb = await openLoadBalancer({ type: 'command', drain: `echo drain {host} >> ${log}`, ready: `echo ready {host} >> ${log}`, drain_timeout: 5000 }, { interactive: false });
    await lb.drain([host('web1'), host('web2')]);
    await lb.ready([host('web1')]);
    expect(readFileSync(log, 'utf8').split('\n').filter(Boolean).sort()).toEqual(['drain web1', 'drain web2', 'ready web1']);
    const bad = await openLoadBalancer({ type: 'command', drain: 'echo nope >&2; exit 3', ready: 'true', drain_timeout: 5000 }, { interactive: false });
    await expect(bad.drain([host('web1')])).rejects.toThrow('load balancer drain command for web1 failed: exit 3 (nope)');
  });
});
