/**
 * The deploy lock over a real OpenSSH server: by hand (`lock -m` / `unlock`), held by a
 * running deploy, stale (dead pid on this machine), `--lock-wait`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';
import { cli, server, current, historyRecords, isLocked, jsonDoc, lockDir, newProject, releases, type Project } from '../helpers/deploy-env.js';

let f: SshdFixture;
let tmp: string;
let root: string;
let p: Project;
let a: string;
const host = os.hostname();

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1')] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-lock-'));
  root = path.join(tmp, 'shop');
  p = newProject({ hosts: [{ host: 'web1', path: root }] });
  const r = await cli(f.home, p.dir, ['deploy']);
  expect(r.code, r.stderr).toBe(0);
  a = current(root)!;
});

afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function writeLock(info: Record<string, unknown>): void {
  mkdirSync(lockDir(root), { recursive: true });
  writeFileSync(path.join(lockDir(root), 'info'), JSON.stringify(info) + '\n');
}

async function waitFor(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(25);
  }
}

describe('lock', () => {
  it('lock -m holds deploys and rollbacks off (exit 4 naming holder and message); unlock lifts it', async () => {
    const l = await cli(f.home, p.dir, ['lock', '-m', 'incident 4711: do not deploy']);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toBe('web1: locked\n');
    const info = JSON.parse(readFileSync(path.join(lockDir(root), 'info'), 'utf8')) as Record<string, unknown>;
    expect(info).toMatchObject({ user: 'alice', machine: host, manual: true, message: 'incident 4711: do not deploy' });

    const d = await cli(f.home, p.dir, ['deploy']);
    expect(d.code).toBe(4);
    const line = d.stderr.trim();
    expect(line.split('\n')).toHaveLength(1);
    expect(line).toMatch(/^error: web1: deploy lock held by alice@/);
    expect(line).toContain(`alice@${host} (pid ${String(info.pid)}, locked by hand`);
    expect(line).toContain('"incident 4711: do not deploy"');
    expect(line).toMatch(/ago\)/);
    expect(line).toContain('ee-deploy unlock');
    expect(releases(root)).toEqual([a]);
    expect(current(root)).toBe(a);

    const rb = await cli(f.home, p.dir, ['rollback', '--yes', '--json']);
    expect(rb.code).toBe(4);
    expect(jsonDoc(rb.stdout)).toMatchObject({ ok: false, exitCode: 4, error: { type: 'LockHeldError', host: 'web1' } });

    const again = await cli(f.home, p.dir, ['lock']);
    expect(again.code).toBe(4);
    expect(again.stderr).toContain('already locked by alice@');

    const u = await cli(f.home, p.dir, ['unlock']);
    expect(u.code, u.stderr).toBe(0);
    expect(u.stdout).toMatch(/^web1: unlocked \(was held by alice@.*"incident 4711: do not deploy"\)\n$/);
    expect(isLocked(root)).toBe(false);
    const u2 = await cli(f.home, p.dir, ['unlock']);
    expect(u2.stdout).toBe('web1: was not locked\n');

    const ok = await cli(f.home, p.dir, ['deploy']);
    expect(ok.code, ok.stderr).toBe(0);
    a = current(root)!;
  });

  it('a running deploy holds the lock: a second one exits 4 naming it', async () => {
    const ready = path.join(tmp, 'ready');
    const go = path.join(tmp, 'go');
    const slow = newProject({ hosts: [{ host: 'web1', path: root }], hooks: { before_switch: [`touch '${ready}'; while [ ! -e '${go}' ]; do sleep 0.05; done`] } });
    const first = cli(f.home, slow.dir, ['deploy', '-m', 'slow one']);
    await waitFor(() => existsSync(ready));
    const second = await cli(f.home, p.dir, ['deploy']);
    writeFileSync(go, '');
    expect(second.code).toBe(4);
    expect(second.stderr).toMatch(/deploy lock held by alice@.* \(pid \d+, deploy running, \d+s ago\): "slow one"; wait for it to finish, or pass --lock-wait/);
    const r = await first;
    expect(r.code, r.stderr).toBe(0);
    expect(isLocked(root)).toBe(false);
    a = current(root)!;
  });

  it('takes over a lock only when nothing of its run still runs on the server, with a message', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    // the client pid (on this very machine name) is gone, but the run's guard on the server is
    // alive: held (two containers share a host name and pid numbers)
    const guard = spawn('sleep', ['30'], { stdio: 'ignore' });
    writeLock({ user: 'bob', machine: host, pid: dead, time: new Date().toISOString(), command: 'deploy', token: 'deadbeefdeadbeefdeadbeef' });
    writeFileSync(path.join(lockDir(root), 'guard'), `${guard.pid} \n`);
    let r = await cli(f.home, p.dir, ['deploy']);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(`deploy lock held by bob@${host} (pid ${dead}, deploy running`);
    guard.kill('SIGKILL');
    await new Promise((res) => guard.once('exit', res));
    r = await cli(f.home, p.dir, ['deploy']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`took over the deploy lock of bob@${host} (pid ${dead}, deploy running`);
    expect(r.stdout).toContain('nothing of that run still runs on the server');
    expect(isLocked(root)).toBe(false);
    expect(current(root)).not.toBe(a);
    a = current(root)!;
    // a lock without a guard (taken by an older version) whose client pid is gone: never taken over
    writeLock({ user: 'bob', machine: host, pid: dead, time: new Date().toISOString(), command: 'deploy', token: 'deadbeefdeadbeefdeadbeef' });
    r = await cli(f.home, p.dir, ['deploy']);
    expect(r.code).toBe(4);
    rmSync(lockDir(root), { recursive: true });
  });

  it('never breaks a lock from another machine, but says when it looks stale', async () => {
    writeLock({ user: 'carol', machine: 'build-7', pid: 1, time: new Date(Date.now() - 3 * 3600_000).toISOString(), command: 'deploy', token: 'cafe' });
    const r = await cli(f.home, p.dir, ['deploy']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('deploy lock held by carol@build-7 (pid 1, deploy running, 3h00m ago)');
    expect(r.stderr).toContain('it looks stale (it is 3h00m old)');
    expect(isLocked(root)).toBe(true);
    rmSync(lockDir(root), { recursive: true });
  });

  it('a lock caught between its mkdir and its info is read again: the holder is named, not "unknown"', async () => {
    // the lock directory exists, its info lands 400 ms later (a run between mkdir and printf)
    mkdirSync(lockDir(root), { recursive: true });
    const late = sleep(400).then(() => writeFileSync(path.join(lockDir(root), 'info'), JSON.stringify({ user: 'dave', machine: 'ci-3', pid: 77, time: new Date().toISOString(), command: 'deploy', token: 'f00d' }) + '\n'));
    const r = await cli(f.home, p.dir, ['deploy']);
    await late;
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/^error: web1: deploy lock held by dave@ci-3 \(pid 77, deploy running, \d+s ago\); wait for it to finish/);
    expect(current(root)).toBe(a);

    // a holder killed between the two never writes its info: after a moment that is said
    rmSync(path.join(lockDir(root), 'info'));
    const t0 = Date.now();
    const u = await cli(f.home, p.dir, ['deploy']);
    expect(u.code).toBe(4);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
    expect(u.stderr.trim()).toBe('error: web1: deploy lock held by an unknown holder (no lock info); if no deploy is running, run `ee-deploy unlock`');
    rmSync(lockDir(root), { recursive: true });
  });

  it('--lock-wait waits for the lock, and gives up with exit 4 when it is not lifted', async () => {
    expect((await cli(f.home, p.dir, ['lock', '-m', 'short freeze'])).code).toBe(0);
    const t0 = Date.now();
    const short = await cli(f.home, p.dir, ['deploy', '--lock-wait', '700ms']);
    expect(short.code).toBe(4);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
    expect(short.stdout).toContain('waiting for the lock on web1: held by alice@');

    const waiting = cli(f.home, p.dir, ['deploy', '--lock-wait', '30s', '--json']);
    await sleep(1200);
    expect((await cli(f.home, p.dir, ['unlock'])).code).toBe(0);
    const r = await waiting;
    expect(r.code, r.stderr).toBe(0);
    const doc = jsonDoc(r.stdout);
    expect(doc.release).toBe(current(root));
    expect(historyRecords(root).at(-1)).toMatchObject({ id: doc.release, status: 'success' });
    expect(isLocked(root)).toBe(false);

    const bad = await cli(f.home, p.dir, ['deploy', '--lock-wait', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--lock-wait: invalid duration "soon"');
  });
});
