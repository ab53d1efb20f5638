/**
 * `ee-deploy dashboard` end to end: the real CLI process, a real test sshd, a local target, an
 * unreachable host, and Debian's headless Chromium clicking the page's buttons.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.js';
import { CLI, REPO } from '../helpers/cli.js';
import { cli, cliEnv, current, newProject, server, type Project } from '../helpers/deploy-env.js';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';

let f: SshdFixture;
let tmp: string;
let shopRoot: string;
let blogRoot: string;
let shop: Project;
let blog: Project;
let shopIds: string[];
let dash: ChildProcess;
let url: string;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;
const ARTIFACTS = path.join(REPO, 'test-artifacts');

function startDashboard(args: string[]): Promise<{ proc: ChildProcess; url: string; stderr: () => string }> {
  const proc = spawn(process.execPath, [CLI, 'dashboard', '--port', '0', ...args], { env: { ...process.env, NO_COLOR: '1', ...cliEnv(f.home) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed: ${out} ${err}`)), 20_000);
    proc.stdout!.setEncoding('utf8').on('data', (d) => {
      out += d;
      const m = /(http:\/\/\S+\?token=\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1], stderr: () => err });
      }
    });
    proc.on('exit', () => reject(new Error(`dashboard exited: ${err}`)));
  });
}

function stop(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once('exit', () => resolve());
    p.kill('SIGTERM');
  });
}

/** a raw HTTP request (fetch cannot set Host) */
function raw(u: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(u, { method: o.method ?? 'GET', headers: o.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

const section = (key: string) => page.locator(`section[data-key="${key}"]`);

/** waits until the log panel shows the run titled `title` and that run has ended; its end state */
async function runEnd(title: string): Promise<string | undefined> {
  await page.waitForFunction((t) => document.getElementById('log-title')?.textContent === t && !!document.getElementById('log')?.dataset.state, title, { timeout: 60_000 });
  return (await page.locator('#log').getAttribute('data-state')) ?? undefined;
}

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1'), server('web2')] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-dashboard-'));
  shopRoot = path.join(tmp, 'shop');
  blogRoot = path.join(tmp, 'blog');
  shop = newProject({ project: 'shop', hosts: [{ host: 'web1', path: shopRoot }] });
  // the hook prints, waits, prints: a streamed log shows the first line before the run ends
  blog = newProject({ project: 'blog', hosts: [{ host: 'local', path: blogRoot }], env: 'staging', hooks: { before_switch: ['echo stream-marker-one; sleep 2; echo stream-marker-two'] } });
  const ghost = newProject({ project: 'ghost', hosts: [{ host: 'web2', path: path.join(tmp, 'ghost') }] });
  shopIds = [];
  for (const m of ['first', 'second']) {
    const r = await cli(f.home, shop.dir, ['deploy', '-m', m]);
    expect(r.code, r.stderr).toBe(0);
    shopIds.push(current(shopRoot)!);
  }
  for (const p of [blog, ghost]) {
    const r = await cli(f.home, p.dir, ['deploy']);
    expect(r.code, r.stderr).toBe(0);
  }
  // ghost's only host goes away
  await f.servers[1].stop();
  ({ proc: dash, url } = await startDashboard([]));
  browser = await launchBrowser();
  page = await browser.context.newPage();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (dash) await stop(dash);
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('access', () => {
  it('401 without the token or with a wrong one; the page with it, under a strict CSP', async () => {
    const u = new URL(url);
    expect((await raw(`${u.origin}/`)).status).toBe(401);
    expect((await raw(`${u.origin}/api/state`)).status).toBe(401);
    expect((await raw(`${u.origin}/?token=${'x'.repeat(32)}`)).status).toBe(401);
    const ok = await raw(url);
    expect(ok.status).toBe(200);
    expect(ok.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'nonce-/);
    expect(ok.body).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
  });

  it('changes only by POST, with the token header, from the same origin and our Host', async () => {
    const u = new URL(url);
    const token = u.searchParams.get('token')!;
    const body = JSON.stringify({ project: 'blog', env: 'staging' });
    const json = { 'content-type': 'application/json' };
    expect((await raw(`${u.origin}/api/lock?token=${token}`)).status).toBe(405);
    // no Origin (not a browser page of ours), a foreign Origin, the token only in the query
    expect((await raw(`${u.origin}/api/lock`, { method: 'POST', headers: { ...json, 'x-ee-token': token }, body })).status).toBe(403);
    expect((await raw(`${u.origin}/api/lock`, { method: 'POST', headers: { ...json, 'x-ee-token': token, origin: 'http://evil.example' }, body })).status).toBe(403);
    expect((await raw(`${u.origin}/api/lock?token=${token}`, { method: 'POST', headers: { ...json, origin: u.origin }, body })).status).toBe(403);
    // DNS rebinding: our port under another name
    expect((await raw(url, { headers: { host: `evil.example:${u.port}` } })).status).toBe(421);
    expect((await raw(`${u.origin}/api/state?token=${token}`)).status).toBe(200);
  });

  it('one exec per host per refresh; without ?refresh=1 the cached state, no exec at all', async () => {
    const u = new URL(url);
    const token = u.searchParams.get('token')!;
    const sessions = () => f.servers[0].count('Starting session');
    const before = await sessions();
    const fresh = JSON.parse((await raw(`${u.origin}/api/state?token=${token}&refresh=1`)).body) as { refreshedAt: string };
    expect((await sessions()) - before).toBe(1);
    const cached = JSON.parse((await raw(`${u.origin}/api/state?token=${token}`)).body) as { refreshedAt: string };
    expect(cached.refreshedAt).toBe(fresh.refreshedAt);
    expect((await sessions()) - before).toBe(1);
  });

  it('a non-loopback --host prints a warning', async () => {
    const d = await startDashboard(['--host', '0.0.0.0']);
    try {
      expect(d.stderr()).toMatch(/^warning: --host 0\.0\.0\.0 is not a loopback address/m);
    } finally {
      await stop(d.proc);
    }
  });
});

describe('the page in Chromium', () => {
  it('shows every registered project: current release per host, history, metrics, chart; an unreachable host as such', async () => {
    await page.goto(url);
    await page.waitForSelector('body[data-loaded="true"]');
    const s = section('shop/production');
    await expect(s.locator('tr[data-host="web1"] td.current').textContent()).resolves.toBe(shopIds[1]);
    await expect(s.locator('.lock').textContent()).resolves.toBe('Not locked');
    await expect(s.locator('ol.timeline li').count()).resolves.toBe(2);
    await expect(s.getByText('Deployment frequency').count()).resolves.toBe(1);
    await expect(s.locator('svg.chart rect').count()).resolves.toBe(2);
    const ghost = section('ghost/production');
    await expect(ghost.locator('tr[data-host="web2"]').textContent()).resolves.toMatch(/unreachable/);
    await expect(section('blog/staging').locator('td.current').textContent()).resolves.toMatch(/^\d{14}$/);
    // real buttons, reachable by keyboard
    for (const name of ['Deploy', 'Roll back', 'Lock']) await expect(s.getByRole('button', { name }).count()).resolves.toBe(1);
    await s.getByRole('button', { name: 'Deploy' }).focus();
    await page.keyboard.press('Tab');
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Roll back');
  });

  it('Roll back: the dialog names the target; confirming moves current on the server and the page shows it', async () => {
    const s = section('shop/production');
    await s.getByRole('button', { name: 'Roll back' }).click();
    const dialog = page.locator('dialog[open]');
    await expect(dialog.locator('#dialog-text').textContent()).resolves.toContain(`to release ${shopIds[0]}?`);
    await dialog.getByRole('button', { name: `Roll back to ${shopIds[0]}` }).click();
    expect(await runEnd(`Rollback of shop/production to ${shopIds[0]}`)).toBe('ok');
    expect(current(shopRoot)).toBe(shopIds[0]);
    await page.waitForFunction((id) => document.querySelector('section[data-key="shop/production"] tr[data-host="web1"] td.current')?.textContent === id, shopIds[0], { timeout: 30_000 });
  });

  it('Deploy: the log streams while the run goes on; the new release is live afterwards', async () => {
    const before = current(blogRoot);
    const s = section('blog/staging');
    await s.getByRole('button', { name: 'Deploy' }).click();
    await page.locator('dialog[open]').getByRole('button', { name: 'Deploy' }).click();
    // the hook's first line arrives while it still sleeps: the run has not ended yet
    await page.waitForFunction(() => document.getElementById('log-title')?.textContent === 'Deploy of blog/staging' && document.getElementById('log')?.textContent?.includes('stream-marker-one'), undefined, { timeout: 60_000 });
    const midway = (await page.locator('#log').textContent())!;
    expect(midway).not.toContain('stream-marker-two');
    expect(await page.locator('#log').getAttribute('data-state')).toBeNull();
    expect(await runEnd('Deploy of blog/staging')).toBe('ok');
    // people see the run's lines and the hook's output, not the remote scripts' protocol tags
    expect(await page.locator('#log').textContent()).not.toMatch(/@@ee/);
    const after = current(blogRoot);
    expect(after).not.toBe(before);
    await page.waitForFunction((id) => document.querySelector('section[data-key="blog/staging"] td.current')?.textContent === id, after, { timeout: 30_000 });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  });

  it('Lock and Unlock, with the dashboard user as holder', async () => {
    const s = section('blog/staging');
    await s.getByRole('button', { name: 'Lock' }).click();
    await page.locator('#dialog-message').fill('freeze for the demo');
    await page.locator('dialog[open]').getByRole('button', { name: 'Lock' }).click();
    await page.waitForFunction(() => document.querySelector('section[data-key="blog/staging"] .lock')?.textContent?.startsWith('Locked by alice'), undefined, { timeout: 30_000 });
    await expect(s.locator('.lock').textContent()).resolves.toMatch(/freeze for the demo$/);
    await s.getByRole('button', { name: 'Unlock' }).click();
    await page.locator('dialog[open]').getByRole('button', { name: 'Unlock' }).click();
    await page.waitForFunction(() => document.querySelector('section[data-key="blog/staging"] .lock')?.textContent === 'Not locked', undefined, { timeout: 30_000 });
  });

  it('Approve: the dialog lists the pending request; approving lets the requester deploy', async () => {
    const root = path.join(tmp, 'gated');
    const gp = newProject({ project: 'gated', hosts: [{ host: 'local', path: root }] });
    appendFileSync(gp.config, 'policy:\n  approvals: 1\n');
    const refused = await cli(f.home, gp.dir, ['deploy'], { env: { GITHUB_ACTOR: 'bob' } });
    expect(refused.code, refused.stderr).toBe(6);
    const request = /approve ([0-9a-f]{12})/.exec(refused.stderr)?.[1];
    expect(request, refused.stderr).toBeDefined();
    // a refused deploy registers nothing: register it as `init` would
    const reg = path.join(f.home, '.config', 'ee-deploy', 'projects.json');
    writeFileSync(reg, JSON.stringify({ ...JSON.parse(readFileSync(reg, 'utf8')), gated: gp.config }));
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.waitForSelector('section[data-key="gated/production"] button[data-action="approve"]', { timeout: 30_000 });
    await section('gated/production').getByRole('button', { name: 'Approve' }).click();
    const dialog = page.locator('dialog[open]');
    await expect(dialog.locator('#dialog-text').textContent()).resolves.toContain(`${request} by bob`);
    await expect(dialog.locator('#dialog-message').inputValue()).resolves.toBe(request);
    await dialog.getByRole('button', { name: 'Approve' }).click();
    expect(await runEnd(`Approve ${request} for gated/production`)).toBe('ok');
    expect(await page.locator('#log').textContent()).toContain(`approved ${request}`);
    const again = await cli(f.home, gp.dir, ['deploy'], { env: { GITHUB_ACTOR: 'bob' } });
    expect(again.code, again.stderr).toBe(0);
  });
});
