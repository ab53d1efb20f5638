/**
 * Health checks and automatic rollback, end to end through the built CLI. HTTP checks
 * hit a real local server that plays the deployed app (it answers from `current/health.txt`),
 * so a rollback really makes it healthy again. `host: local` where SSH is not the point; script
 * checks also run over a real OpenSSH server.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';
import { cli, server, current, historyRecords, isBad, isLocked, jsonDoc, newProject, releases, revisionsLog, startAppServer, type AppServer, type Project, type ProjectSpec } from '../helpers/deploy-env.js';

let f: SshdFixture;
let tmp: string;
const servers: AppServer[] = [];
let n = 0;

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1')] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-health-'));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** a new file in place of the old: releases may share files through hard links (incremental uploads) */
function replaceFile(file: string, text: string): void {
  rmSync(file, { force: true });
  writeFileSync(file, text);
}

const FAST = { timeout: '2s', retries: 3, backoff: { initial: '50ms', factor: 2, max: '1s' } };

interface Setup {
  root: string;
  p: Project;
  app: AppServer;
  spec: ProjectSpec;
  /** deploy with `health.txt` saying `text` */
  deploy(text: string, args?: string[], opts?: Parameters<typeof cli>[3]): ReturnType<typeof cli>;
}

/** a project whose app serves `health.txt`; its post check asks the app server */
async function setup(o: { host?: 'local' | 'web1'; checks?: (url: string) => Record<string, unknown>[]; hooks?: ProjectSpec['hooks'] } = {}): Promise<Setup> {
  const root = path.join(tmp, `app${n++}`);
  const app = await startAppServer(root);
  servers.push(app);
  const checks = o.checks ? o.checks(app.url) : [{ name: 'homepage', http: app.url, expect: { status: 200, body_contains: 'ok' } }];
  const spec: ProjectSpec = { hosts: [{ host: o.host ?? 'local', path: root }], healthChecks: checks, healthDefaults: FAST, hooks: o.hooks };
  const p = newProject(spec, { 'index.html': 'hi\n', 'health.txt': 'ok\n' });
  return {
    root,
    p,
    app,
    spec,
    deploy(text, args = [], opts = {}) {
      writeFileSync(path.join(p.app, 'health.txt'), `${text}\n`);
      return cli(f.home, p.dir, ['deploy', ...args], opts);
    },
  };
}

describe('post-switch health checks', () => {
  it('a healthy release passes: exit 0, the checks in --json', async () => {
    const s = await setup();
    const r = await s.deploy('ok', ['--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = jsonDoc(r.stdout);
    expect(doc).toMatchObject({ ok: true, status: 'success', health: [{ phase: 'post', ok: true, results: [{ name: 'homepage', kind: 'http', ok: true, attempts: [{ attempt: 1, ok: true, detail: 'HTTP 200' }] }] }] });
    expect(current(s.root)).toBe(doc.release);
    expect(s.app.hits).toBe(1);
  });

  it('a release that answers 500 is rolled back automatically: exit 1, BAD_RELEASE, history, revisions.log', async () => {
    const s = await setup({ hooks: { after_rollback: ['echo "$EE_RELEASE $EE_FAILED_RELEASE" > ../../after_rollback.txt'] } });
    expect((await s.deploy('ok')).code).toBe(0);
    const a = current(s.root)!;
    const r = await s.deploy('broken');
    expect(r.code).toBe(1);
    const b = releases(s.root).find((id) => id !== a)!;
    expect(current(s.root)).toBe(a);
    expect(isBad(s.root, b)).toBe(true);
    expect(historyRecords(s.root).at(-1)).toMatchObject({ id: b, action: 'deploy', status: 'rolled_back', from: a });
    expect(revisionsLog(s.root).at(-1)).toBe(`alice rolled back to release ${a}`);
    expect(readFileSync(path.join(s.root, 'after_rollback.txt'), 'utf8')).toBe(`${a} ${b}\n`);
    expect(isLocked(s.root)).toBe(false);
    // attempts and backoff are visible
    expect(r.stdout).toContain('homepage: attempt 1/3 failed (HTTP 500, expected 200; body: "broken\\n"), retrying in 0.05s');
    expect(r.stdout).toContain('homepage: attempt 2/3 failed (HTTP 500, expected 200; body: "broken\\n"), retrying in 0.10s');
    expect(r.stdout).toContain('homepage: attempt 3/3 failed (HTTP 500, expected 200; body: "broken\\n")');
    // and the rolled-back release was checked again (healthy)
    expect(r.stdout).toMatch(/post health checks passed/);
    expect(r.stderr).toBe(`error: health check "homepage" failed after 3 attempts: HTTP 500, expected 200; body: "broken\\n"; rolled back (local -> ${a})\n`);
    // 3 failed attempts on the new release, 1 good one on the old
    expect(s.app.hits).toBe(1 + 3 + 1);
    // a plain rollback now skips the bad release
    const rb = await cli(f.home, s.p.dir, ['rollback', '--yes']);
    expect(rb.code).toBe(1);
    expect(rb.stderr).toContain('no previous release');
  });

  it('a first deploy failing its post check has nothing to go back to: exit 5 with a per-host account', async () => {
    const s = await setup();
    const r = await s.deploy('broken', ['--json']);
    expect(r.code).toBe(5);
    const id = releases(s.root)[0];
    expect(current(s.root)).toBe(id);
    expect(r.stderr).toMatch(/^error: health check "homepage" failed after 3 attempts: HTTP 500, expected 200; body: "broken\\n"; automatic rollback failed: local: still on the new release \d{14}: there is no previous release to roll back to\n$/);
    const doc = jsonDoc(r.stdout);
    expect(doc).toMatchObject({ ok: false, exitCode: 5, error: { type: 'NeedsHumanError', hosts: [{ host: 'local', current: id }] } });
    expect(historyRecords(s.root).at(-1)).toMatchObject({ id, status: 'needs_human' });
    expect(isBad(s.root, id)).toBe(true);
    expect(isLocked(s.root)).toBe(false);
  });

  it('retries until a flaky app recovers', async () => {
    const s = await setup({ checks: (url) => [{ name: 'warmup', http: url, retries: 10, backoff: { initial: '100ms', factor: 1 } }] });
    writeFileSync(path.join(s.p.app, 'health.txt'), 'starting\n');
    // the app becomes healthy after its second request
    void s.app.nextHit().then(() => s.app.nextHit().then(() => replaceFile(path.join(s.root, 'current', 'health.txt'), 'ok\n')));
    const r = await cli(f.home, s.p.dir, ['deploy']);
    expect(r.code, r.stderr).toBe(0);
    // each attempt is reported once
    expect(r.stdout.split('warmup: attempt 1/10 failed (HTTP 500; body: "starting\\n"), retrying in 0.10s')).toHaveLength(2);
    expect(r.stdout.split('warmup: attempt 2/10 failed (HTTP 500; body: "starting\\n"), retrying in 0.10s')).toHaveLength(2);
    expect(r.stdout).not.toContain('attempt 3/10 failed');
  });

  it('SIGINT during the health checks: rolled back, exit 130', async () => {
    const s = await setup({ checks: (url) => [{ name: 'homepage', http: url, retries: 100, backoff: { initial: '100ms', factor: 1 } }] });
    expect((await s.deploy('ok')).code).toBe(0);
    const a = current(s.root)!;
    const hit = s.app.nextHit();
    let hitAt = 0;
    void hit.then(() => (hitAt = Date.now()));
    // SIGINT once the checks are running (their first request), however long the deploy took to get there
    const r = await s.deploy('broken', [], { kill: { signal: 'SIGINT', afterMs: 300, after: hit } });
    // the signal arrived while the checks were retrying (100 attempts 100 ms apart: 10 s of them)
    expect(hitAt).toBeGreaterThan(0);
    expect(r.killedAt, 'SIGINT sent to the running deploy').toBeGreaterThanOrEqual(hitAt);
    expect(s.app.hits, 'the checks were still retrying, far from their 100 attempts').toBeLessThan(100);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('SIGINT received: cleaning up');
    expect(current(s.root)).toBe(a);
    const b = releases(s.root).find((id) => id !== a)!;
    expect(isBad(s.root, b)).toBe(true);
    expect(historyRecords(s.root).at(-1)).toMatchObject({ id: b, status: 'interrupted' });
    expect(revisionsLog(s.root).at(-1)).toBe(`alice rolled back to release ${a}`);
    expect(isLocked(s.root)).toBe(false);
  });
});

describe('SIGINT during a rollback\'s health checks', () => {
  it('exit 130, current on the rollback target, recorded, lock released', async () => {
    const s = await setup({ checks: (url) => [{ name: 'homepage', http: url, retries: 100, backoff: { initial: '100ms', factor: 1 } }] });
    expect((await s.deploy('ok')).code).toBe(0);
    const a = current(s.root)!;
    expect((await s.deploy('ok')).code).toBe(0);
    const b = current(s.root)!;
    replaceFile(path.join(s.root, 'releases', a, 'health.txt'), 'sick\n');
    let hitAt = 0;
    const hit = s.app.nextHit();
    void hit.then(() => (hitAt = Date.now()));
    const hitsBefore = s.app.hits;
    // SIGINT once the rollback's checks are running (their first request)
    const r = await cli(f.home, s.p.dir, ['rollback', '--yes'], { kill: { signal: 'SIGINT', afterMs: 300, after: hit } });
    expect(hitAt).toBeGreaterThan(0);
    expect(r.killedAt, 'SIGINT sent to the running rollback').toBeGreaterThanOrEqual(hitAt);
    expect(s.app.hits - hitsBefore, 'the checks were still retrying, far from their 100 attempts').toBeLessThan(100);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain(`error: interrupted during the post health checks; current is ${a}`);
    expect(current(s.root)).toBe(a);
    expect(historyRecords(s.root).at(-1)).toMatchObject({ id: a, action: 'rollback', status: 'interrupted', from: b });
    expect(revisionsLog(s.root).at(-1)).toBe(`alice rolled back to release ${a}`);
    expect(isLocked(s.root)).toBe(false);
  });
});

describe('pre-switch checks', () => {
  it('a failing pre check switches nothing: exit 1, the new release removed (over ssh)', async () => {
    const s = await setup({ host: 'web1', checks: () => [{ name: 'assets', script: 'test -f assets.ok || { echo "assets missing in $(pwd -P)"; exit 3; }', phase: 'pre', retries: 2, backoff: { initial: '10ms' } }] });
    writeFileSync(path.join(s.p.app, 'assets.ok'), '');
    expect((await s.deploy('ok')).code).toBe(0);
    const a = current(s.root)!;
    rmSync(path.join(s.p.app, 'assets.ok'));
    const hits = s.app.hits;
    const r = await s.deploy('ok');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: health check "assets" failed on web1 after 2 attempts: exit 3/);
    expect(r.stdout).toMatch(/assets missing in .*\/releases\/\d{14}/);
    expect(current(s.root)).toBe(a);
    expect(releases(s.root)).toEqual([a]);
    expect(historyRecords(s.root).at(-1)).toMatchObject({ status: 'failed' });
    expect(s.app.hits).toBe(hits);
    expect(isLocked(s.root)).toBe(false);
  });
});

describe('script checks over ssh', () => {
  it('a failing post script check on the server rolls back; check --health and rollback run the post checks', async () => {
    const s = await setup({ host: 'web1', checks: () => [{ name: 'worker', script: 'grep -qx ok health.txt' }] });
    expect((await s.deploy('ok')).code).toBe(0);
    const a = current(s.root)!;
    const bad = await s.deploy('broken');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('worker [web1]: attempt 1/3 failed (exit 1), retrying in 0.05s');
    expect(bad.stderr).toMatch(/health check "worker" failed on web1 after 3 attempts: exit 1; rolled back \(web1 -> \d{14}\)/);
    expect(current(s.root)).toBe(a);

    const ok = await s.deploy('ok');
    expect(ok.code, ok.stderr).toBe(0);
    const c = current(s.root)!;

    // check --health against the live release
    const live = await cli(f.home, s.p.dir, ['check', '--health']);
    expect(live.code, live.stderr).toBe(0);
    expect(live.stdout).toContain('health: ok');
    replaceFile(path.join(s.root, 'current', 'health.txt'), 'sick\n');
    const sick = await cli(f.home, s.p.dir, ['check', '--health', '--json']);
    expect(sick.code).toBe(1);
    expect(jsonDoc(sick.stdout)).toMatchObject({ ok: false, health: { phase: 'post', ok: false, summary: 'health check "worker" failed on web1 after 3 attempts: exit 1' } });
    expect(current(s.root)).toBe(c);

    // rollback runs the post checks against the release it went back to
    const rb = await cli(f.home, s.p.dir, ['rollback', '--yes']);
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stdout).toContain('post health checks passed');
    expect(current(s.root)).toBe(a);
    replaceFile(path.join(s.root, 'releases', c, 'health.txt'), 'sick\n');
    const rb2 = await cli(f.home, s.p.dir, ['rollback', c, '--yes']);
    expect(rb2.code).toBe(1);
    expect(rb2.stderr).toContain(`rollback to ${c} done, but health check "worker" failed on web1 after 3 attempts`);
    expect(historyRecords(s.root).at(-1)).toMatchObject({ id: c, action: 'rollback', status: 'failed' });
    expect(isLocked(s.root)).toBe(false);
  });
});
