/**
 * Hooks and local build steps over a real OpenSSH server, and what a failure at each
 * stage leaves behind (exit 1 means every host is back where it was).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdFixture } from '../helpers/sshd.js';
import { cli, server, current, historyRecords, isBad, isLocked, jsonDoc, newProject, releases, revisionsLog, type ProjectSpec } from '../helpers/deploy-env.js';

let f: SshdFixture;
let tmp: string;
let n = 0;

beforeAll(async () => {
  f = await startSshd({ servers: [server('web1')] });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ee-hooks-'));
});

afterAll(async () => {
  await f?.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** a project on its own deploy root, already deployed once (release A) */
async function deployedOnce(extra: Omit<ProjectSpec, 'hosts'> = {}) {
  const root = path.join(tmp, `app${n++}`);
  const spec: ProjectSpec = { hosts: [{ host: 'web1', path: root }], ...extra };
  const p = newProject(spec);
  const r = await cli(f.home, p.dir, ['deploy']);
  expect(r.code, r.stderr).toBe(0);
  const a = current(root)!;
  const change = (more: Omit<ProjectSpec, 'hosts'>) => p.write({ ...spec, ...more });
  return { root, p, a, change };
}

describe('hooks', () => {
  it('runs before_switch in the new release and after_switch in current, with EE_* variables', async () => {
    const root = path.join(tmp, 'envs');
    const p = newProject({
      hosts: [{ host: 'web1', path: root }],
      hooks: {
        before_switch: ['echo "before $(pwd -P) $EE_RELEASE $EE_PROJECT $EE_ENV $EE_HOST $EE_USER" >> "$EE_DEPLOY_PATH/hooks.txt"'],
        after_switch: ['echo "after $(pwd) $EE_RELEASE_PATH" >> ../../hooks.txt', 'test -f index.html'],
      },
    });
    const r = await cli(f.home, p.dir, ['deploy']);
    expect(r.code, r.stderr).toBe(0);
    const id = current(root)!;
    const lines = readFileSync(path.join(root, 'hooks.txt'), 'utf8').trim().split('\n');
    expect(lines).toEqual([`before ${path.join(root, 'releases', id)} ${id} shop production web1 alice`, `after ${path.join(root, 'current')} ${path.join(root, 'releases', id)}`]);
  });

  it('a failing before_switch hook: exit 1, current unchanged, the new release removed', async () => {
    const { root, p, a, change } = await deployedOnce();
    change({ hooks: { before_switch: ['echo migrating', 'echo "migration exploded" >&2; exit 7'] } });
    const r = await cli(f.home, p.dir, ['deploy']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*web1/);
    expect(r.stderr).toContain('migration exploded');
    // the hook's output is shown without --verbose when it explains the failure
    expect(r.stdout).toMatch(/output on web1 \(last lines\):\n.*migrating\n.*migration exploded/);
    expect(current(root)).toBe(a);
    expect(releases(root)).toEqual([a]);
    expect(isLocked(root)).toBe(false);
    expect(revisionsLog(root)).toHaveLength(1);
    const last = historyRecords(root).at(-1)!;
    expect(last).toMatchObject({ action: 'deploy', status: 'failed', from: a });
    expect(String(last.error)).toContain("before_switch hook #2 exited 7");
    expect(r.stderr).toContain("before_switch hook #2 exited 7");
  });

  it('a ${VAR} secret used in a hook is never printed or recorded, even when the hook echoes it', async () => {
    const { root, p, change } = await deployedOnce();
    const SECRET = 'hunter2-s3cr3t-value';
    change({ hooks: { before_switch: ['echo "using token ${DEPLOY_TOKEN}"; echo "auth failed for ${DEPLOY_TOKEN}" >&2; exit 1'] } });
    const env = { DEPLOY_TOKEN: SECRET };
    const r = await cli(f.home, p.dir, ['deploy', '-v'], { env });
    expect(r.code).toBe(1);
    const dry = await cli(f.home, p.dir, ['deploy', '--dry-run'], { env });
    expect(dry.code, dry.stderr).toBe(0);
    const json = await cli(f.home, p.dir, ['deploy', '--json'], { env });
    expect(json.code).toBe(1);
    const everything = [r.stdout, r.stderr, dry.stdout, dry.stderr, json.stdout, json.stderr, readFileSync(path.join(root, '.ee-deploy', 'history.jsonl'), 'utf8')].join('\n');
    expect(everything).not.toContain(SECRET);
    expect(r.stderr).toContain('auth failed for ***');
    expect(r.stdout).toContain('using token ***');
    // the hook's one line names the command, redacted
    expect(r.stdout).toMatch(/\[web1\] hook before_switch: echo "using token \*\*\*"; .* failed \(exit 1\) \d+\.\ds/);
    expect(dry.stdout).toContain('***');
  });

  it('a failing build: exit 1 and the server is never contacted', async () => {
    const { root, p, a, change } = await deployedOnce();
    change({ build: 'echo compiling; echo "syntax error in app.ts" >&2; exit 9' });
    const sessions = await f.servers[0].count('Accepted publickey');
    const r = await cli(f.home, p.dir, ['deploy', '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('build failed (exit 9)');
    expect(r.stderr).toContain('syntax error in app.ts');
    expect(jsonDoc(r.stdout)).toMatchObject({ ok: false, exitCode: 1, error: { step: 'build' } });
    expect(await f.servers[0].count('Accepted publickey')).toBe(sessions);
    expect(current(root)).toBe(a);
    expect(releases(root)).toEqual([a]);
    expect(historyRecords(root)).toHaveLength(1);

    // a build that succeeds runs in the project dir before the upload
    change({ build: 'echo built > app/BUILT.txt' });
    const ok = await cli(f.home, p.dir, ['deploy']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(readFileSync(path.join(root, 'current', 'BUILT.txt'), 'utf8')).toBe('built\n');
  });

  it('a failing after_switch hook: rolled back to the previous release, the new one marked BAD_RELEASE', async () => {
    const { root, p, a, change } = await deployedOnce({ hooks: { after_rollback: ['touch ../../after_rollback_ran'] } });
    change({ hooks: { after_switch: ['exit 5'], after_rollback: ['touch ../../after_rollback_ran'] } });
    const r = await cli(f.home, p.dir, ['deploy', '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/after_switch hook #1 failed \(exit 5\).*rolled back/);
    expect(current(root)).toBe(a);
    const ids = releases(root);
    expect(ids).toHaveLength(2);
    const b = ids.find((id) => id !== a)!;
    expect(isBad(root, b)).toBe(true);
    expect(readFileSync(path.join(root, 'releases', b, 'BAD_RELEASE'), 'utf8').trim()).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z,alice$/);
    expect(historyRecords(root).at(-1)).toMatchObject({ id: b, action: 'deploy', status: 'rolled_back', from: a });
    expect(revisionsLog(root).at(-1)).toBe(`alice rolled back to release ${a}`);
    expect(readFileSync(path.join(root, 'after_rollback_ran'), 'utf8')).toBe('');
    expect(isLocked(root)).toBe(false);
    const doc = jsonDoc(r.stdout);
    expect(doc).toMatchObject({ ok: false, exitCode: 1 });
  });

  it('a hook that starts a background process (`nohup app &`) ends when its shell exits: the deploy goes on, the process keeps running', async () => {
    const { root, p, change } = await deployedOnce();
    change({ hooks: { after_switch: ['nohup sleep 20 &', 'echo $! > /dev/null; nohup sleep 21 > ../../bg.out 2>&1 & echo $! > ../../bg.pid'] } });
    const t0 = Date.now();
    const r = await cli(f.home, p.dir, ['deploy']);
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000);
    const pid = Number(readFileSync(path.join(root, 'bg.pid'), 'utf8'));
    try {
      expect(() => process.kill(pid, 0)).not.toThrow();
    } finally {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    // one line per hook without -v
    expect(r.stdout).toMatch(/\[web1\] hook after_switch: nohup sleep 20 & ok \d+\.\ds/);
    expect(r.stdout).toMatch(/\[web1\] hook after_switch: echo \$! > \/dev\/null; nohup sleep 21 .* ok \d+\.\ds/);
  });

  it('hooks_timeout ends a hook that runs longer: exit 1, named in the error, current unchanged, the release removed', async () => {
    const { root, p, a, change } = await deployedOnce();
    change({ hooksTimeout: '2s', hooks: { before_switch: ['echo warming; sleep 60'] } });
    const t0 = Date.now();
    const r = await cli(f.home, p.dir, ['deploy']);
    expect(r.code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(r.stderr).toMatch(/^error: .*before_switch hook #1 timed out after 2s \(hooks_timeout\)/);
    expect(r.stdout).toMatch(/\[web1\] hook before_switch: echo warming; sleep 60 timed out \d+\.\ds/);
    expect(current(root)).toBe(a);
    expect(releases(root)).toEqual([a]);
    expect(isLocked(root)).toBe(false);
  });

  it('before_upload (local): one line with its time; hooks_timeout ends it too (exit 1, the server untouched)', async () => {
    const { root, p, a, change } = await deployedOnce();
    change({ hooks: { before_upload: ['echo prepared > /dev/null'] } });
    const ok = await cli(f.home, p.dir, ['deploy']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/hook before_upload: echo prepared > \/dev\/null ok \d+\.\ds/);
    const b = current(root)!;
    change({ hooksTimeout: '1s', hooks: { before_upload: ['sleep 30'] } });
    const t0 = Date.now();
    const r = await cli(f.home, p.dir, ['deploy']);
    expect(r.code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.stderr).toMatch(/^error: hook before_upload timed out after 1\.00s \(hooks_timeout\): sleep 30/);
    expect(current(root)).toBe(b);
    expect(releases(root)).toEqual([a, b]);
  });
});
