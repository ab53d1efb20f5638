/**
 * The test harness itself: Debian's nginx and HAProxy started in the foreground from temp config
 * files on loopback ports answer, reload and take runtime API commands (the traffic suites
 * depend on all three).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, parseShowStat, startHaproxy, startNginx, type HaproxyProcess, type NginxProcess } from '../helpers/proxies.js';

function app(name: string): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer((_req, res) => res.end(name));
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

describe('real nginx and haproxy from temp configs', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  it('nginx proxies to an upstream file and picks up a rewritten one on reload', async () => {
    const [a, b] = await Promise.all([app('a'), app('b')]);
    cleanup.push(async () => (a.close(), b.close()));
    const port = await freePort();
    let upstream = '';
    const ngx: NginxProcess = await startNginx((dir) => {
      upstream = path.join(dir, 'upstream.conf');
      writeFileSync(upstream, `server 127.0.0.1:${(a.address() as AddressInfo).port};\n`);
      return `upstream app { include ${upstream}; }
server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`;
    }, port);
    cleanup.push(() => ngx.stop());
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('a');
    writeFileSync(upstream, `server 127.0.0.1:${(b.address() as AddressInfo).port};\n`);
    await ngx.reload();
    let body = '';
    for (let i = 0; i < 50 && body !== 'b'; i++) {
      // a keep-alive connection to an old worker may be closed under the request at the reload
      body = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text(), () => '');
      if (body !== 'b') await new Promise((r) => setTimeout(r, 100));
    }
    expect(body).toBe('b');
  });

  it('haproxy balances over two servers and drains one through its admin socket', async () => {
    const [a, b] = await Promise.all([app('a'), app('b')]);
    cleanup.push(async () => (a.close(), b.close()));
    const port = await freePort();
    const hap: HaproxyProcess = await startHaproxy(
      () => `frontend fe
  bind 127.0.0.1:${port}
  default_backend app
backend app
  balance roundrobin
  server web1 127.0.0.1:${(a.address() as AddressInfo).port}
  server web2 127.0.0.1:${(b.address() as AddressInfo).port}`,
      port,
    );
    cleanup.push(() => hap.stop());
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add(await (await fetch(`http://127.0.0.1:${port}/`)).text());
    expect([...seen].sort()).toEqual(['a', 'b']);
    expect(await hap.admin('set server app/web1 state drain')).toBe('\n');
    const web1 = parseShowStat(await hap.admin('show stat')).find((r) => r.pxname === 'app' && r.svname === 'web1');
    expect(web1?.status).toBe('DRAIN');
    const after = new Set<string>();
    for (let i = 0; i < 4; i++) after.add(await (await fetch(`http://127.0.0.1:${port}/`)).text());
    expect([...after]).toEqual(['b']);
  });
});
