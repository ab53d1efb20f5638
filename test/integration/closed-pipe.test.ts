/**
 * Output into a pipe whose reader has gone (`ee-deploy --help | head -1`): the CLI stops quietly,
 * as git does, with no EPIPE stack trace. The read end of stdout is closed before the CLI writes
 * its first byte, so every write it makes fails with EPIPE. A finished command keeps its exit
 * code; a deploy still running is interrupted like a signal would (exit 130, cleanup done).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { cliEnv, current, isLocked, newProject, releases } from '../helpers/deploy-env.js';

const home = mkdtempSync(path.join(os.tmpdir(), 'ee-closed-pipe-home-'));
const root = mkdtempSync(path.join(os.tmpdir(), 'ee-closed-pipe-root-'));
afterAll(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
});

/** runs the CLI with stdout a pipe whose read end is closed at once */
function intoClosedPipe(args: string[], cwd = home): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...cliEnv(home) }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

const noTrace = (stderr: string) => {
  expect(stderr).not.toMatch(/EPIPE|Unhandled 'error' event|^\s+at /m);
};

describe('output into a closed pipe', () => {
  it('--help and --version: exit 0, nothing on stderr', async () => {
    for (const args of [['--help'], ['deploy', '--help'], ['--version']]) {
      const r = await intoClosedPipe(args);
      expect(r, args.join(' ')).toEqual({ code: 0, stderr: '' });
    }
  });

  const p = newProject({ hosts: [{ host: 'local', path: root }], hooks: { before_switch: ['sleep 1'] } });
  let first: string | undefined;

  it('a command that completes keeps its exit code (releases, history --json)', async () => {
    const d = await new Promise<number | null>((resolve) => spawn(process.execPath, [CLI, 'deploy', '--yes'], { cwd: p.dir, env: { ...process.env, ...cliEnv(home) }, stdio: 'ignore' }).on('close', resolve));
    expect(d).toBe(0);
    first = current(root);
    expect(first).toBeDefined();
    for (const args of [['releases'], ['history', '--json']]) {
      const r = await intoClosedPipe(args, p.dir);
      noTrace(r.stderr);
      expect(r, args.join(' ')).toEqual({ code: 0, stderr: '' });
    }
  });

  it('a deploy whose output is closed stops like an interrupted one: 130, current untouched, lock released', async () => {
    const before = releases(root);
    const r = await intoClosedPipe(['deploy', '--yes'], p.dir);
    noTrace(r.stderr);
    expect(r.code).toBe(130);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: interrupted/);
    expect(current(root)).toBe(first);
    expect(isLocked(root)).toBe(false);
    // the interrupted run's release is removed again
    expect(releases(root)).toEqual(before);
  });
});
