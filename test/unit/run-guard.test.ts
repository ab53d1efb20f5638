/**
 * The run's guard and the server-side lock takeover (remote/steps/lock.ts), run by a real `sh`:
 * a lock is taken over only when its guard has exited and none of its process groups is alive;
 * a guard whose stdin ends while its run still holds the lock ends the run's process groups.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { serializeLock } from '../../src/remote/steps/lock.js';
import { OpenCapture, openScript, parseState } from '../../src/remote/steps/open.js';
import { finishScript } from '../../src/remote/steps/finish.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-guard-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) {
    try {
      if (c.pid) process.kill(-c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

const info = (token: string) => serializeLock({ user: 'alice', machine: 'same-name', pid: 1, time: new Date().toISOString(), token, command: 'deploy' });
const lockDir = (root: string) => path.join(root, '.ee-deploy', 'lock');
const groupAlive = (pgid: number) => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};
const until = async (what: () => boolean, ms: number) => {
  const end = Date.now() + ms;
  while (!what() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  return what();
};

/** a guarding open whose stdin stays open until `.stdin.end()` (a session leader, as under sshd) */
async function guardingOpen(root: string, token: string): Promise<{ child: ChildProcess; state: ReturnType<typeof parseState> }> {
  const child = spawn('sh', ['-c', openScript(root, { lockInfo: info(token), guard: token }).text], { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  const capture = new OpenCapture();
  const out = await new Promise<string>((resolve, reject) => {
    let all = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      all += d;
      const done = capture.write(d);
      if (done !== undefined) resolve(done);
    });
    child.on('exit', () => resolve(all));
    child.on('error', reject);
  });
  return { child, state: parseState(out) };
}

function plainOpen(root: string, token: string) {
  const r = spawnSync('sh', ['-c', openScript(root, { lockInfo: info(token), guard: token }).text], { input: '', encoding: 'utf8' });
  return parseState(r.stdout);
}

/** a process group of its own (as a hook's), registered with the lock like the hook runner does */
function registeredGroup(root: string): number {
  const c = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  children.push(c);
  writeFileSync(path.join(lockDir(root), `pg.${c.pid}`), '');
  return c.pid!;
}

describe('the run guard', () => {
  it('holds the lock while it runs: another open (same machine name) sees it held; after the guard is gone, it is taken over', async () => {
    const root = path.join(tmp, `r${n++}`);
    const a = await guardingOpen(root, 'A');
    expect(a.state.lock.status).toBe('acquired');
    const [gpid] = readFileSync(path.join(lockDir(root), 'guard'), 'utf8').trim().split(' ');
    expect(Number(gpid)).toBe(a.child.pid);
    expect(plainOpen(root, 'B').lock.status).toBe('held');
    // the guard dies without a word (kill -9 of the server side too): nothing of run A is left
    process.kill(a.child.pid!, 'SIGKILL');
    await until(() => !existsSync(`/proc/${a.child.pid}`), 3000);
    const b = plainOpen(root, 'B');
    expect(b.lock.status).toBe('acquired');
    expect(JSON.parse(b.lock.broken!)).toMatchObject({ token: 'A' });
    expect(readFileSync(path.join(lockDir(root), 'info'), 'utf8')).toContain('"token":"B"');
  });

  it('a registered process group still alive keeps the lock held after its guard is gone', async () => {
    const root = path.join(tmp, `r${n++}`);
    const a = await guardingOpen(root, 'A');
    const pg = registeredGroup(root);
    process.kill(a.child.pid!, 'SIGKILL');
    await until(() => !existsSync(`/proc/${a.child.pid}`), 3000);
    expect(plainOpen(root, 'B').lock.status).toBe('held');
    process.kill(-pg, 'SIGKILL');
    await until(() => !groupAlive(pg), 3000);
    expect(plainOpen(root, 'B').lock.status).toBe('acquired');
  });

  it('the client goes (stdin EOF) while the run holds the lock: its process groups are ended within seconds', async () => {
    const root = path.join(tmp, `r${n++}`);
    const a = await guardingOpen(root, 'A');
    const pg = registeredGroup(root);
    const t0 = Date.now();
    a.child.stdin!.end();
    expect(await until(() => !groupAlive(pg), 5000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(4000);
    await until(() => a.child.exitCode !== null, 3000);
    expect(a.child.exitCode).toBe(0);
    // the lock stays (nothing recorded its end), and is taken over by the next run
    expect(plainOpen(root, 'B').lock.status).toBe('acquired');
  });

  it('a run that released the lock ends its guard quietly: nothing of the next holder is touched', async () => {
    const root = path.join(tmp, `r${n++}`);
    const a = await guardingOpen(root, 'A');
    spawnSync('sh', ['-c', finishScript({ root, unlockToken: 'A' }).text], { input: '' });
    expect(existsSync(lockDir(root))).toBe(false);
    const b = await guardingOpen(root, 'B');
    expect(b.state.lock.status).toBe('acquired');
    const pg = registeredGroup(root);
    a.child.stdin!.end();
    await until(() => a.child.exitCode !== null, 3000);
    expect(a.child.exitCode).toBe(0);
    expect(groupAlive(pg)).toBe(true);
  });

  it('a run whose lock was taken over records nothing', () => {
    const root = path.join(tmp, `r${n++}`);
    expect(plainOpen(root, 'B').lock.status).toBe('acquired');
    const r = spawnSync('sh', ['-c', finishScript({ root, unlockToken: 'A', historyLine: '{"id":"x"}', revisionsLine: 'x', prune: [] }).text], { input: '', encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no longer held by this run: nothing recorded/);
    expect(existsSync(path.join(root, '.ee-deploy', 'history.jsonl'))).toBe(false);
    expect(existsSync(path.join(root, 'revisions.log'))).toBe(false);
    expect(existsSync(lockDir(root))).toBe(true);
  });
});
