/**
 * The hook runner inside the step scripts, run by a real `sh`: a hook ends when its shell exits
 * (a background process it started neither holds the output open nor is killed), hooks_timeout
 * ends a hook that runs longer, and each hook's start and end are reported for the one-line summary.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HookWatch, parseHookFailure, type HookRun } from '../../src/remote/steps/hooks.js';
import { switchScript } from '../../src/remote/steps/switch.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-hooks-'));
const pids: number[] = [];
afterAll(() => {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});
let n = 0;
const ID = '20261122100000';

function run(hooks: string[], timeoutMs?: number) {
  const root = path.join(tmp, `r${n++}`);
  mkdirSync(path.join(root, 'releases', ID), { recursive: true });
  writeFileSync(path.join(root, 'releases', ID, 'REVISION'), 'abc\n');
  mkdirSync(path.join(root, '.ee-deploy'), { recursive: true });
  const cmd = switchScript({ root, id: ID, hooks, hookEnv: { EE_RELEASE: ID }, phase: 'after_switch', hooksTimeoutMs: timeoutMs });
  const t0 = Date.now();
  // spawnSync returns once the script exited AND its stdout/stderr pipes closed (as an SSH channel does)
  const r = spawnSync('sh', ['-c', cmd.text], { encoding: 'utf8', timeout: 60_000 });
  return { root, code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('hook runner', () => {
  it('a background process the hook started neither blocks the step nor is killed by it; the hook output streams', () => {
    const r = run(['echo before; nohup sleep 20 >/dev/null 2>&1 & echo $! > bg.pid', 'nohup sleep 21 & echo $! > bg2.pid; echo after', 'printf "no newline"']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.ms).toBeLessThan(8000);
    const out = r.stdout.split('\n').filter((l) => !l.startsWith('@@ee'));
    expect(out).toEqual(['before', 'after', 'no newline', '']);
    for (const f of ['bg.pid', 'bg2.pid']) {
      const pid = Number(readFileSync(path.join(r.root, 'releases', ID, f), 'utf8'));
      pids.push(pid);
      expect(alive(pid), f).toBe(true);
    }
    expect(r.stdout).toContain('@@ee hook-done after_switch 1 0');
  });

  it('a hook that writes after it exited (into the pipe) is not killed by SIGPIPE', async () => {
    const r = run(['(sleep 1; echo late; sleep 20) & echo $! > late.pid']);
    expect(r.code, r.stderr).toBe(0);
    const pid = Number(readFileSync(path.join(r.root, 'releases', ID, 'late.pid'), 'utf8'));
    pids.push(pid);
    await new Promise((res) => setTimeout(res, 2000));
    expect(alive(pid)).toBe(true);
  });

  it('hooks_timeout ends a hook that runs longer: exit 1, reported as a timeout, later hooks do not run', () => {
    const r = run(['echo started; sleep 30; echo never', 'echo second > second.txt'], 1000);
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(10_000);
    expect(r.stdout).toContain('started');
    expect(r.stdout).not.toContain('never');
    expect(r.stderr).toContain('@@ee failed after_switch hook #1 timed out after 1s (hooks_timeout)');
    expect(parseHookFailure(r.stdout)).toMatchObject({ phase: 'after_switch', index: 0, timedOut: true });
    expect(r.stdout).toContain('@@ee hook-done after_switch 0 timeout');
    expect(() => readFileSync(path.join(r.root, 'releases', ID, 'second.txt'))).toThrow();
  });

  it('hooks_timeout ends the hook\'s whole process group, not only its shell (dash\'s kill takes no `--`)', async () => {
    const pidFile = path.join(tmp, `child-${n}.pid`);
    const r = run([`sleep 60 & echo $! > ${pidFile}; wait`], 1000);
    expect(r.code).toBe(1);
    const child = Number(readFileSync(pidFile, 'utf8'));
    pids.push(child);
    const gone = async () => {
      for (let i = 0; i < 40; i++) {
        try {
          process.kill(child, 0);
        } catch {
          return true;
        }
        await new Promise((res) => setTimeout(res, 100));
      }
      return false;
    };
    expect(await gone()).toBe(true);
  });

  it('a failing hook: its exit code, its output', () => {
    const r = run(['echo oops >&2; exit 7']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('oops');
    expect(r.stdout).toContain('@@ee hook-done after_switch 0 7');
    expect(parseHookFailure(r.stdout)).toEqual({ phase: 'after_switch', index: 0, code: 7 });
    expect(r.stderr).toContain('@@ee failed after_switch hook #1 exited 7');
  });

  it('the hook cwd is current, even through the symlink', () => {
    const r = run(['pwd -P > here.txt']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(path.join(r.root, 'releases', ID, 'here.txt'), 'utf8').trim()).toMatch(new RegExp(`releases/${ID}$`));
  });
});

describe('HookWatch', () => {
  it('one event per hook that ended, across chunk boundaries, with the time between its tags', () => {
    let now = 1000;
    const seen: HookRun[] = [];
    const w = new HookWatch((h) => seen.push(h), () => now);
    w.write('@@ee hook after_switch 0\nuser line\n@@ee hook');
    now = 2500;
    w.write('-done after_switch 0 0\n@@ee hook after_switch 1\n');
    now = 4000;
    w.write('@@ee hook-done after_switch 1 timeout\n');
    expect(seen).toEqual([
      { phase: 'after_switch', index: 0, code: 0, timedOut: false, ms: 1500 },
      { phase: 'after_switch', index: 1, code: undefined, timedOut: true, ms: 1500 },
    ]);
  });
});

