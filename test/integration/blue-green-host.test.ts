/**
 * Blue-green on one host through a real OpenSSH server and a real nginx: start on the idle port,
 * health-check there, switch the upstream and reload, old process stopped after drain_timeout;
 * revert/rollback inside that time reuse the old process; a failed start or check leaves the
 * old process serving and the upstream file untouched.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlueGreenConfig } from '../../src/config/traffic-schema.js';
import { openTransport } from '../../src/transport/open.js';
import type { Transport } from '../../src/transport/types.js';
import { BlueGreenHost } from '../../src/traffic/blue-green.js';
import { BG_APP } from '../helpers/bg-app.js';
import { server } from '../helpers/deploy-env.js';
import { freePort, startNginx, type NginxProcess } from '../helpers/proxies.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';

let f: SshdFixture;
let restore: () => void;
let t: Transport;
let ngx: NginxProcess;
let port: number;
let tmp: string;
let root: string;
let upstream: string;
let cfg: BlueGreenConfig;
const ports: number[] = [];

function release(id: string, version: string, extra: Record<string, string> = {}): string {
  const dir = path.join(root, 'releases', id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'server.js'), BG_APP);
  writeFileSync(path.join(dir, 'VERSION'), version);
  for (const [k, v] of Object.entries(extra)) writeFileSync(path.join(dir, k), v);
  return id;
}

async function get(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/`)).text();
}
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1')] });
  restore = f.useHome();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-bg-'));
  root = path.join(tmp, 'shop');
  ports.push(await freePort(), await freePort());
  port = await freePort();
  ngx = await startNginx((dir) => {
    upstream = path.join(dir, 'app-upstream.conf');
    writeFileSync(upstream, `server 127.0.0.1:${ports[0]};\n`);
    return `upstream app { include ${upstream}; }\nserver { listen 127.0.0.1:${port}; location / { proxy_pass http://app; proxy_next_upstream off; } }`;
  }, port);
  cfg = { ports: [ports[0], ports[1]], start: `PORT={port} ${process.execPath} server.js`, stop: 'kill $(cat {pidfile})', upstream, reload: ngx.reloadCommand, drain_timeout: 2000, health: '/health', start_timeout: 10_000 };
  t = await openTransport(f.resolvedHost(0), { interactive: false });
});

afterAll(async () => {
  // stop whatever the tests left running
  for (const p of ports) {
    try {
      const pid = Number(readFileSync(path.join(root, '.ee-deploy/blue-green', `${p}.pid`), 'utf8'));
      if (pid) process.kill(pid, 'SIGKILL');
    } catch {
      /* not running */
    }
  }
  await t?.close();
  await ngx?.stop();
  restore?.();
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('blue-green on one host', () => {
  it('deploy, deploy, rollback inside drain_timeout, failed start, failed check', async () => {
    const bg = new BlueGreenHost(t, root, cfg);
    // first deploy: upstream names ports[0] but nothing runs there: the new process goes to the idle port
    const a = await bg.deploy(release('20260101000001', 'v1'));
    expect(a.to).toBe(ports[1]);
    expect(readFileSync(upstream, 'utf8')).toBe(`server 127.0.0.1:${ports[1]};\n`);
    await until(async () => (await get()).startsWith('v1 '));
    const [, pidA] = (await get()).split(' ');
    expect(Number(pidA)).toBe(a.pid); // the recorded pid is the app's own
    await bg.finish(a);

    const b = await bg.deploy(release('20260101000002', 'v2'));
    expect(b).toMatchObject({ from: ports[1], fromRelease: '20260101000001', to: ports[0] });
    await until(async () => (await get()).startsWith('v2 '), 2000);
    await bg.finish(b);
    expect(alive(a.pid)).toBe(true); // still running inside drain_timeout

    // rollback inside drain_timeout: the old process, no start
    const r = await bg.rollback('20260101000001');
    expect(r).toMatchObject({ reused: true, to: ports[1] });
    await until(async () => (await get()) === `v1 ${a.pid}`, 2000);
    await bg.finish(r); // the v2 process now goes after drain_timeout
    await until(() => !alive(b.pid), 8000);
    await new Promise((res) => setTimeout(res, 2500));
    expect(alive(a.pid)).toBe(true); // its stop was cancelled by the rollback

    // a start that crashes: old process serving, upstream untouched, new one not left behind
    const before = readFileSync(upstream, 'utf8');
    await expect(bg.deploy(release('20260101000003', 'v3', { CRASH: '1' }))).rejects.toThrow(/^web1: blue-green: 20260101000003 on port \d+ did not become healthy: the process exited .*\(log: boom: crashing on purpose\); the upstream was not touched$/);
    expect(readFileSync(upstream, 'utf8')).toBe(before);
    expect(await get()).toBe(`v1 ${a.pid}`);

    // a health check that fails within start_timeout
    const sick = new BlueGreenHost(t, root, { ...cfg, start_timeout: 1500 });
    await expect(sick.deploy(release('20260101000004', 'v4', { FAIL_HEALTH: '1' }))).rejects.toThrow(/did not become healthy: HTTP 500 after 1500 ms; the upstream was not touched$/);
    expect(readFileSync(upstream, 'utf8')).toBe(before);
    expect(await get()).toBe(`v1 ${a.pid}`);
    const st = await bg.state();
    expect(st.ports.find((p) => p.port === ports[0])).toMatchObject({ alive: false });

    // revert after a switch (what the pipeline does when post checks fail)
    const c = await bg.deploy(release('20260101000005', 'v5'));
    await until(async () => (await get()).startsWith('v5 '), 2000);
    await bg.revert(c);
    await until(async () => (await get()) === `v1 ${a.pid}`, 2000);
    expect(alive(c.pid)).toBe(false);
  });
});
